"""The resumable quality stage: results JSONL in, checked JSONL out (every record kept).

`check(results, out, config=CheckConfig(...), taxonomy_dir=..., ...) -> CheckReport`.

1. The automatic checks run over the whole results file in file order on every start (they
   are deterministic and take well under a second per 1,000 samples): rules, benchmark
   overlap, copies of seeds, near-duplicates (the first of a cluster is kept, so appending
   records never changes an earlier verdict).
2. Records that pass go to the LLM judge when `config.judge_model` is set (bounded
   concurrency, retries and the on-disk response cache of `steps_engine.llm`).
3. Each record is appended to `out` with one write as soon as its verdict is known, through
   the synthesis runner's `ResultsFile` (exclusive lock, torn last line cut off); fsync is
   grouped (records without a judge: once per 1,000; judged ones: at most once a second, and at
   the end), and the judge's answer is in the response cache before its line is written. Ids
   already in `out` are skipped: a run killed at any moment and started again judges nothing
   twice (a verdict received but not yet written is a cache hit) and loses nothing (a power cut
   loses at most the last second of lines, which come back from the cache). `out` remembers the
   settings' fingerprint (`quality.config`) and the synthesis run's (`quality.run`); resuming
   into a file that is no check output, was checked with other settings or from another
   results file (an id not in `results`, another run fingerprint) is refused before anything is
   written.

Every output record is the input record plus `status` (`ok` / `rejected`; synthesis
`failed` / `rejected` records pass through unchanged), `reason` (the first reason code or
None), `reasons` (all codes) and `quality` (what each check found, the judge's verdict).
Reason codes: `near_duplicate`, `copies_seed`, `contaminated`, `rule:<name>`,
`judge_low_score`, `skill_missing`, `judge_error` (request failed after retries),
`judge_unparsed` (no score in the answer); `synthesis_failed` / `synthesis_rejected` for
records that were not usable before the check.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from steps_engine.llm.base import ChatClient, LLMError, scrub
from steps_engine.llm.cache import ResponseCache, cache_key
from steps_engine.llm.retry import RetryPolicy, complete_with_retries
from steps_engine.llm.run import run_sync
from steps_engine.quality.decontam import BenchmarkIndex
from steps_engine.quality.dedup import DedupConfig, near_duplicates
from steps_engine.quality.judge import (DEFAULT_RUBRIC, VerdictError, build_judge_messages, decide, parse_verdict,
                                        response_format)
from steps_engine.quality.rules import RuleConfig, check_rules
from steps_engine.quality.seedcopy import load_seed_examples, seed_match
from steps_engine.quality.text import conversation_text, words
from steps_engine.synthesis.runner import ResultsFile, read_results

__all__ = ["CheckConfig", "CheckReport", "automatic_checks", "check", "check_async", "estimate_judge"]

JUDGE_ERRORS = ("judge_error", "judge_unparsed")
JUDGE_OUTPUT_TOKENS = 250  # a verdict: per-skill yes/no with a short quote, a score, a sentence


@dataclass(frozen=True)
class CheckConfig:
    dedup: DedupConfig | None = DedupConfig()
    embed_threshold: float | None = None  # also a duplicate at this embedding cosine (e.g. 0.95)
    embed_model: str | None = None  # sentence-transformers name or folder; None = the bundled model
    seed_threshold: float | None = 0.6  # None: no seed-copy check
    rules: RuleConfig | None = RuleConfig()
    decontaminate: tuple[str, ...] = ()
    decontaminate_field: str | None = None
    ngram: int = 13
    judge_model: str | None = None
    rubric: str = DEFAULT_RUBRIC
    min_score: float | None = None
    require_all_skills: bool = False
    judge_params: tuple[tuple[str, object], ...] = (("temperature", 0.0),)
    json_schema: bool = True  # send response_format (dropped after the endpoint rejects it)

    def __post_init__(self):
        if self.seed_threshold is not None and not 0 < self.seed_threshold <= 1:
            raise ValueError(f"seed threshold must be in (0, 1], got {self.seed_threshold}")
        if self.embed_threshold is not None and not 0 < self.embed_threshold <= 1:
            raise ValueError(f"embedding threshold must be in (0, 1], got {self.embed_threshold}")
        if self.embed_threshold is not None and self.dedup is None:
            raise ValueError("embedding dedup needs dedup on (drop --no-dedup)")
        if self.ngram < 1:
            raise ValueError(f"n-gram size must be >= 1, got {self.ngram}")
        if self.min_score is not None and not 0 <= self.min_score <= 10:
            raise ValueError(f"min score must be in 0..10, got {self.min_score}")
        if (self.min_score is not None or self.require_all_skills) and not self.judge_model:
            raise ValueError("--min-score and --require-all-skills need a judge (--judge-model)")

    def fingerprint(self) -> str:
        """sha256 (16 hex) of every setting that changes a verdict, benchmark file contents included."""
        from steps_engine.data.ingest import file_sha256

        d = asdict(self)
        d["rubric"] = hashlib.sha256(self.rubric.encode("utf-8")).hexdigest()
        d["decontaminate"] = [file_sha256(p) if Path(p).is_file() else str(p) for p in self.decontaminate]
        blob = json.dumps(d, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


@dataclass
class CheckReport:
    total: int = 0
    skipped: int = 0  # already in `out`
    ok: int = 0
    rejected: int = 0
    passed_through: int = 0  # not ok before the check (synthesis failed / rejected)
    reasons: dict = field(default_factory=dict)  # code -> records with it
    judged: int = 0
    judge_requests: int = 0
    judge_retries: int = 0
    cache_hits: int = 0
    scores: dict = field(default_factory=dict)  # score -> records
    usage: dict = field(default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0})
    cost_usd: float | None = None  # judge spend, when a budget (max_cost) was kept
    not_judged: int = 0  # left for a rerun because the budget would have been exceeded
    seconds_checks: float = 0.0
    seconds: float = 0.0
    out: str | None = None
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)

    @property
    def judge_failed(self) -> int:
        """Records with no verdict: the judge request failed or its answer had no score (JUDGE_ERRORS)."""
        return sum(self.reasons.get(code, 0) for code in JUDGE_ERRORS)

    def table(self) -> str:
        rows = [("records", self.total), ("already checked (skipped)", self.skipped), ("ok", self.ok),
                ("rejected", self.rejected), ("passed through (not ok before)", self.passed_through)]
        rows += [(f"  {code}", n) for code, n in sorted(self.reasons.items(), key=lambda kv: (-kv[1], kv[0]))]
        if self.judged or self.judge_requests:
            rows += [("judged", self.judged), ("judge requests", self.judge_requests), ("judge cache hits", self.cache_hits)]
        width = max(len(r[0]) for r in rows)
        lines = [f"{name.ljust(width)}  {value:>7}" for name, value in rows]
        if self.scores:
            lines.append("judge scores: " + ", ".join(f"{k}: {v}" for k, v in sorted(self.scores.items(), key=lambda kv: float(kv[0]))))
        lines.append(f"automatic checks {self.seconds_checks:.2f} s, total {self.seconds:.1f} s -> {self.out}")
        return "\n".join(lines)


def _usable(rec: dict) -> bool:
    return rec.get("status") == "ok" and isinstance(rec.get("messages"), list) and bool(rec["messages"])


def automatic_checks(records: list[dict], config: CheckConfig, *, seed_examples: dict | None = None,
                     benchmarks: BenchmarkIndex | None = None, embedder=None,
                     progress: Callable[[dict], None] | None = None) -> list[tuple[list[tuple[str, str]], dict]]:
    """Per record: ([(reason code, detail)], quality findings). Only usable (`ok`) records are
    checked; the others get ([], {}). `embedder` (an `Embedder`) is used when
    `config.embed_threshold` is set. `progress({"stage", "done", "total"})` every 500 records."""
    out: list[tuple[list, dict]] = [([], {}) for _ in records]
    idx = [i for i, r in enumerate(records) if _usable(r)]
    texts = [conversation_text(records[i]["messages"]) for i in idx]
    for pos, i in enumerate(idx):
        if progress is not None and pos % 500 == 0:
            progress({"stage": "rules, overlap, seed copies", "done": pos, "total": len(idx), "judged": 0})
        rec, (reasons, q) = records[i], out[i]
        if config.rules is not None:
            found = check_rules(rec, config.rules)
            q["rules"] = [{"rule": name, "detail": d} for name, d in found]
            reasons += [(f"rule:{name}", d) for name, d in found]
        if benchmarks is not None and len(benchmarks):
            hits = benchmarks.check_words(words(texts[pos]))
            q["contaminated"] = [h.to_json() for h in hits]
            if hits:
                h = hits[0]
                reasons.append(("contaminated", f"{h.file}:{h.line} shares {h.shared} n-gram(s), e.g. {h.ngram!r}"))
        if config.seed_threshold is not None:
            seeds = [s for s in rec.get("seeds") or [] if isinstance(s, dict)]
            texts_, responses = [], []
            for s in seeds:
                known = (seed_examples or {}).get(str(s.get("source_id"))) or {}
                for field, dest in (("text", texts_), ("response", responses)):
                    value = s.get(field) if isinstance(s.get(field), str) else known.get(field)
                    dest.append(value if isinstance(value, str) else "")
            if any(texts_) or any(responses):
                m = seed_match(rec["messages"], texts_, responses)
                sd = seeds[m.seed] if m is not None else {}
                q["seed_copy"] = None if m is None else {
                    "skill": sd.get("skill"), "source_id": sd.get("source_id"), "overlap": round(m.overlap, 4),
                    "role": m.role, "turn": m.turn, "message": m.message, "field": m.field, "shared": m.shared}
                if m is not None and m.counts and m.overlap >= config.seed_threshold:
                    reasons.append(("copies_seed", m.describe(sd.get("source_id"), sd.get("skill"))))
    if config.dedup is not None:
        vectors = None
        if config.embed_threshold is not None and texts:
            if embedder is None:
                raise ValueError("embedding dedup needs an embedder")
            vectors = embedder.encode(texts)
        if progress is not None:
            progress({"stage": "near-duplicates", "done": len(idx), "total": len(idx), "judged": 0})
        dups = near_duplicates(texts, config.dedup, vectors=vectors, embed_threshold=config.embed_threshold)
        for pos, dup in enumerate(dups):
            i = idx[pos]
            if dup is None:
                out[i][1]["near_duplicate"] = None
                continue
            j, sim, method = dup
            kept = records[idx[j]]["id"]
            measure = "jaccard" if method == "minhash" else "cosine"
            out[i][1]["near_duplicate"] = {"of": kept, measure: round(sim, 4), "method": method}
            out[i][0].append(("near_duplicate", f"of {kept} ({measure} {sim:.2f})"))
    return out


def _finish(rec: dict, reasons: list[tuple[str, str]], quality: dict, fingerprint: str) -> dict:
    codes = list(dict.fromkeys(code for code, _ in reasons))
    quality = {**quality, "config": fingerprint, **_run_of(rec), "details": {code: d for code, d in reversed(reasons)}}
    return {**rec, "status": "rejected" if codes else "ok", "reason": codes[0] if codes else None,
            "reasons": codes, "quality": quality}


def _pass_through(rec: dict, fingerprint: str) -> dict:
    status = str(rec.get("status") or "missing")
    if status == "ok":  # ok but without messages
        return _finish(rec, [("synthesis_rejected", "no messages")], {}, fingerprint)
    return {**rec, "reasons": [f"synthesis_{status}"],
            "quality": {"config": fingerprint, **_run_of(rec), "checked": False}}


def _run_of(rec: dict) -> dict:
    """{"run": the synthesis run's fingerprint} when the results record has one."""
    return {"run": rec["run"]} if isinstance(rec.get("run"), str) else {}


def _accept_checked(results: Path, by_id: dict, fingerprint: str):
    """ResultsFile's `accept` for `out`: only records that `check` wrote from `results` with
    these settings (a legacy record without a synthesis fingerprint is matched by id only)."""
    def accept(out: Path, records: list[dict], foreign: list, size: int) -> None:
        todo = "write to a new --out (or move that file away); nothing was written"
        if foreign or (size and not records):
            where = f"line {foreign[0][0]} is not a checked record ({foreign[0][1]})" if foreign else \
                "it is not empty but holds no record with an 'id'"
            raise ValueError(f"{out}: {where}: not an output of `steps check`; {todo}")
        unchecked = [r["id"] for r in records if not isinstance((r.get("quality") or {}).get("config"), str)]
        if unchecked:
            raise ValueError(f"{out}: {len(unchecked)} record(s) carry no check verdict (e.g. {unchecked[0]}): "
                             f"not an output of `steps check`; {todo}")
        stale = [r["id"] for r in records if r["quality"]["config"] != fingerprint]
        if stale:
            raise ValueError(f"{out}: {len(stale)} record(s) were checked with other settings (e.g. {stale[0]}); "
                             "write to a new --out or delete it")
        absent = [r["id"] for r in records if r["id"] not in by_id]
        if absent:
            raise ValueError(f"{out}: {len(absent)} of its {len(records)} record(s) are not in {results} "
                             f"(e.g. {absent[0]}): they were checked from another results file; {todo}")
        other = [r["id"] for r in records
                 if isinstance(r["quality"].get("run"), str) and _run_of(by_id[r["id"]]).get("run") != r["quality"]["run"]]
        if other:
            raise ValueError(f"{out}: {len(other)} record(s) were checked from another synthesis run's results "
                             f"(e.g. {other[0]}: its record in {results} has another run fingerprint); {todo}")

    return accept


class _Tally:
    def __init__(self, report: CheckReport):
        self.r = report
        self.reasons: Counter = Counter()
        self.scores: Counter = Counter()

    def add(self, rec: dict) -> None:
        r = self.r
        q = rec.get("quality") or {}
        if q.get("checked") is False:
            r.passed_through += 1
        elif rec["status"] == "ok":
            r.ok += 1
        else:
            r.rejected += 1
        self.reasons.update(rec.get("reasons") or [])
        verdict = q.get("judge")
        if isinstance(verdict, dict) and verdict.get("score") is not None:
            self.scores[f"{verdict['score']:g}"] += 1
        r.reasons, r.scores = dict(self.reasons), dict(self.scores)


def _is_schema_rejection(exc: LLMError) -> bool:
    return not exc.retryable and exc.reason.startswith("HTTP 400") and (
        "response_format" in exc.reason or "json_schema" in exc.reason)


async def _judge_all(items, client: ChatClient, writer: ResultsFile, tally: _Tally, report: CheckReport, *,
                     config: CheckConfig, fingerprint: str, concurrency: int, policy: RetryPolicy,
                     cache: ResponseCache | None, secrets: tuple, progress, total: int, seed: int,
                     budget=None) -> None:
    queue = iter(items)
    rng = random.Random(seed)
    base_params = dict(config.judge_params)
    synced = {"at": time.monotonic(), "pending": 0}
    schema = {"on": config.json_schema}

    endpoint = getattr(client, "endpoint", None)

    async def ask(messages: list[dict]):
        """(completion, cache key, from the cache)."""
        while True:
            params = {**base_params, **({"response_format": response_format()} if schema["on"] else {})}
            key = cache_key(client.model, messages, params, endpoint)
            hit = cache.get(key) if cache is not None else None
            if hit is not None:
                report.cache_hits += 1
                return hit, key, True
            try:
                completion, retries = await complete_with_retries(client, messages, params, policy, rng)
            except LLMError as exc:
                report.judge_requests += getattr(exc, "retries", 0) + 1
                report.judge_retries += getattr(exc, "retries", 0)
                if schema["on"] and _is_schema_rejection(exc):
                    schema["on"] = False  # this endpoint does not take JSON-schema output; ask in prose
                    report.problems.append(f"judge endpoint rejected response_format ({exc.reason[:120]}); "
                                           "asking for JSON in the prompt only")
                    continue
                raise
            report.judge_requests += retries + 1
            report.judge_retries += retries
            for k in report.usage:
                v = completion.usage.get(k)
                if isinstance(v, int):
                    report.usage[k] += v
            return completion, key, False

    async def worker() -> None:
        for rec, reasons, quality in queue:
            skills = [str(s) for s in rec.get("skills") or []]
            messages = build_judge_messages(rec, config.rubric)
            quality = dict(quality)
            reservation = None
            if budget is not None:
                reservation = budget.admit(messages)
                if reservation is None:  # over budget: left unchecked, a rerun with a larger budget resumes
                    report.not_judged += 1
                    continue
            try:
                completion, key, cached = await ask(messages)
            except LLMError as exc:
                if reservation is not None:
                    budget.settle(reservation, None)
                quality["judge"] = {"model": config.judge_model, "error": scrub(exc.reason, *secrets)}
                reasons = reasons + [("judge_error", scrub(exc.reason, *secrets)[:200])]
            else:
                if reservation is not None:
                    budget.settle(reservation, None if cached else completion.usage)
                try:
                    verdict = parse_verdict(completion.text, skills)
                except VerdictError as exc:
                    quality["judge"] = {"model": config.judge_model, "error": str(exc),
                                        "raw": scrub(completion.text, *secrets)[:2000]}
                    reasons = reasons + [("judge_unparsed", str(exc))]
                    if cached:
                        cache.discard(key)  # an unusable answer is asked again by --retry-judge-errors
                else:
                    if cache is not None and not cached:  # cached before the line is written: never judged twice
                        await asyncio.to_thread(cache.put, key, completion)  # its fsyncs do not stall other requests
                    quality["judge"] = {"model": config.judge_model, **verdict}
                    reasons = reasons + decide(verdict, skills, min_score=config.min_score,
                                               require_all_skills=config.require_all_skills)
                    report.judged += 1
            out = _finish(rec, reasons, quality, fingerprint)
            writer.append(out, sync=False)  # group commit: one fsync per second at most
            synced["pending"] += 1
            if time.monotonic() - synced["at"] >= 1.0:
                await asyncio.to_thread(writer.sync)
                synced["at"], synced["pending"] = time.monotonic(), 0
            tally.add(out)
            if progress is not None:
                progress({"done": report.ok + report.rejected + report.passed_through, "total": total,
                          "stage": "judge", "judged": report.judged})

    workers = [asyncio.create_task(worker()) for _ in range(max(1, min(concurrency, len(items))))]
    try:
        await asyncio.gather(*workers)
    finally:
        for w in workers:
            w.cancel()
        if synced["pending"]:
            writer.sync()


def _prepare(results: Path, config: CheckConfig, report: CheckReport, *, taxonomy_dir, embedder, progress):
    """Read `results` and run the checks that need no LLM. Returns (records, found)."""
    records, problems = read_results(results)
    report.problems += problems
    report.total = len(records)

    benchmarks = None
    if config.decontaminate:
        benchmarks = BenchmarkIndex.from_files(config.decontaminate, text_field=config.decontaminate_field, n=config.ngram)
        report.problems += benchmarks.problems[:50]
        if benchmarks.too_short:
            report.problems.append(f"{benchmarks.too_short} benchmark record(s) shorter than {benchmarks.min_words} "
                                   "words were not indexed")
    seed_examples = None
    if config.seed_threshold is not None:
        seeds = [s for r in records if _usable(r) for s in r.get("seeds") or [] if isinstance(s, dict)]
        no_text = {s.get("source_id") for s in seeds if not isinstance(s.get("text"), str)}
        no_resp = {s.get("source_id") for s in seeds if not isinstance(s.get("response"), str)}
        if (no_text or no_resp) and taxonomy_dir is not None:
            seed_examples, problems = load_seed_examples(taxonomy_dir, no_text | no_resp)
            report.problems += problems
        elif no_text:
            report.problems.append("no --taxonomy folder: seed texts unknown, copies of seeds not checked")
        elif no_resp:
            report.problems.append("no --taxonomy folder: seed responses unknown, copied responses not checked")

    t1 = time.perf_counter()
    if config.embed_threshold is not None and embedder is None:
        from steps_engine.semantic.embeddings import get_embedder

        embedder = get_embedder(config.embed_model)
    found = automatic_checks(records, config, seed_examples=seed_examples, benchmarks=benchmarks, embedder=embedder,
                             progress=progress)
    report.seconds_checks = time.perf_counter() - t1
    return records, found


async def check_async(
    results: str | Path,
    out: str | Path,
    *,
    config: CheckConfig = CheckConfig(),
    taxonomy_dir: str | Path | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    client: ChatClient | None = None,
    concurrency: int = 4,
    timeout: float = 60.0,
    max_retries: int = 5,
    backoff: float = 1.0,
    max_backoff: float = 60.0,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    retry_judge_errors: bool = False,
    seed: int = 0,
    progress: Callable[[dict], None] | None = None,
    embedder=None,
    max_cost: float | None = None,
    prices: dict | None = None,
    expected_output_tokens: int = JUDGE_OUTPUT_TOKENS,
) -> CheckReport:
    """See `check`."""
    t0 = time.perf_counter()
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    from steps_engine._atomic import refuse_input_as_output

    results, out = Path(results), Path(out)
    refuse_input_as_output(out, [results, *config.decontaminate], what="out")
    report = CheckReport(out=str(out))
    if api_key is None and client is None:
        api_key = os.environ.get("OPENAI_API_KEY") or None
    if base_url is None:
        base_url = os.environ.get("OPENAI_BASE_URL") or None
    secrets = (api_key, os.environ.get("OPENAI_API_KEY"))
    if config.judge_model and client is None and not api_key:
        raise ValueError("a judge needs an API key (OPENAI_API_KEY) or a client")
    fingerprint = config.fingerprint()
    records, found = _prepare(results, config, report, taxonomy_dir=taxonomy_dir, embedder=embedder,
                              progress=progress)

    tally = _Tally(report)
    with ResultsFile(out, secrets, accept=_accept_checked(results, {r["id"]: r for r in records}, fingerprint)) as writer:
        report.problems += writer.problems
        if retry_judge_errors:
            keep = [r for r in writer.records if not set(r.get("reasons") or []) & set(JUDGE_ERRORS)]
            if len(keep) != len(writer.records):
                writer.rewrite(keep)
        done = {r["id"] for r in writer.records}
        for r in writer.records:  # the counts describe the whole checked file
            tally.add(r)
        report.skipped = len(done)
        to_judge, settled = [], []
        for rec, (reasons, quality) in zip(records, found):
            if rec["id"] in done:
                continue
            if not _usable(rec):
                outrec = _pass_through(rec, fingerprint)
            elif reasons or not config.judge_model:
                outrec = _finish(rec, reasons, quality, fingerprint)
            else:
                to_judge.append((rec, reasons, quality))
                continue
            settled.append(outrec)
            tally.add(outrec)
        for start in range(0, len(settled), 1000):  # verdicts without the judge: one fsync per 1,000
            writer.append_many(settled[start : start + 1000])
        if progress is not None:
            progress({"done": report.ok + report.rejected + report.passed_through, "total": report.total,
                      "stage": "checks", "judged": 0})
        if to_judge:
            own = client is None
            if own:
                from steps_engine.llm.openai_client import OpenAIChatClient

                client = OpenAIChatClient(config.judge_model, api_key=api_key, base_url=base_url, timeout=timeout)
            cache = None
            if use_cache:
                cache = ResponseCache(cache_dir if cache_dir is not None else out.with_name(out.name + ".cache"))
            policy = RetryPolicy(max_retries=max_retries, base_delay=backoff, max_delay=max_backoff)
            budget = None
            if max_cost is not None:
                from steps_engine.llm.cost import Budget

                budget = Budget(config.judge_model, max_cost, prices=prices,
                                expected_output_tokens=expected_output_tokens, params=dict(config.judge_params))
            try:
                await _judge_all(to_judge, client, writer, tally, report, config=config, fingerprint=fingerprint,
                                 concurrency=concurrency, policy=policy, cache=cache, secrets=secrets,
                                 progress=progress, total=report.total, seed=seed, budget=budget)
            finally:
                if own:
                    await client.aclose()
            if budget is not None:
                report.cost_usd = budget.spent
    if not report.ok + report.rejected:
        report.problems.insert(0, f"{results}: no record has status 'ok', so nothing was checked ({report.passed_through} "
                               "passed through); expected the results file of `steps synthesize`")
    report.problems = [scrub(p, *secrets) for p in report.problems]
    report.seconds = time.perf_counter() - t0
    return report


def estimate_judge(results, *, config: CheckConfig, taxonomy_dir=None, prices: dict | None = None,
                   expected_output_tokens: int = JUDGE_OUTPUT_TOKENS, embedder=None):
    """Tokens and cost of judging `results` with `config.judge_model`, sending nothing: the
    records that pass the automatic checks are the ones the judge would see. Returns
    (`llm.cost.Estimate`, problems)."""
    from steps_engine.llm.cost import estimate

    if not config.judge_model:
        raise ValueError("an estimate needs a judge model (--judge-model)")
    report = CheckReport()
    records, found = _prepare(Path(results), config, report, taxonomy_dir=taxonomy_dir, embedder=embedder,
                              progress=None)
    messages = [build_judge_messages(rec, config.rubric) for rec, (reasons, _) in zip(records, found)
                if _usable(rec) and not reasons]
    est = estimate(messages, config.judge_model, expected_output_tokens=expected_output_tokens,
                   params=dict(config.judge_params), prices=prices)
    return est, report.problems


def check(results, out, **kwargs) -> CheckReport:
    """Check every record of the results file `results`, appending checked records to `out`.

    Keyword options: config (`CheckConfig`: dedup, seed_threshold, rules, decontaminate files
    and text field, ngram, judge_model, rubric, min_score, require_all_skills, judge_params,
    json_schema), taxonomy_dir (where seed texts come from; not needed when the records'
    seeds carry `text`), api_key (default $OPENAI_API_KEY), base_url (default
    $OPENAI_BASE_URL), client (any `ChatClient`), concurrency, timeout, max_retries, backoff,
    max_backoff, cache_dir (default `<out>.cache`), use_cache, retry_judge_errors (judge
    again the records whose judge request failed or could not be parsed), seed,
    progress (callable taking a dict with done / total / stage), embedder (an `Embedder` for
    embedding dedup; default: `semantic.embeddings.get_embedder(config.embed_model)`).
    """
    return run_sync(check_async(results, out, **kwargs))

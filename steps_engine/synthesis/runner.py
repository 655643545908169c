"""The resumable synthesis runner: combinations -> seeded prompts -> LLM -> results JSONL.

Public API
- `synthesize(taxonomy_dir, combos, *, model, out, ...) -> SynthesisReport`: the whole run
  (also dry runs and Batch imports); `progress(dict)` is called after every record.
- `prepare_jobs(...)`: the exact prompt of every combination, without sending anything.
- `combination_id(skills, start, template_hash, model)`: the stable id of a combination;
  generation g > 0 of it (`n=N`) has the id `<combination id>-g<g>` (`generation_id`).
- `read_results(path)`: records of a results file for export (last record per id wins).

Durability: results are appended one JSON line per record with a single write + fsync.
On start the file is locked (a second run on it fails fast), a torn last line left by a
crash is cut off, and ids already present are skipped, so a run killed at any moment and
started again ends with every combination exactly once. Statuses: `ok`, `rejected`
(unusable or near-duplicate output; `raw` and `reason` kept), `failed` (request failed
after retries; `reason` kept). `retry_failed=True` runs again the combinations whose
record is failed or rejected (and those with no record yet); the new record is appended after the old one (a kill at any
moment loses nothing) and, once a combination has a newer record, the older one moves to
`<out>.failed.jsonl` (done on every start, so the file ends with each combination once).
Only accepted answers are cached (the key includes the endpoint), so a retry asks again.
`report.status` says what happened: done, partial, nothing, dry_run or no_key.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from steps_engine.llm.base import ChatClient, Completion, LLMError, scrub
from steps_engine._atomic import atomic_open, refuse_folder
from steps_engine.llm.cache import ResponseCache, cache_key
from steps_engine.llm.retry import RetryPolicy, complete_with_retries
from steps_engine.synthesis.parsing import OutputError, normalized_hash, parse_conversation
from steps_engine.synthesis.prompts import DEFAULT_TEMPLATE, build_messages, template_hash, validate_template
from steps_engine.synthesis.run_identity import RESULT_STATUSES, refuse_foreign, run_fingerprint
from steps_engine.synthesis.seeds import Seed, build_seed_index, load_input_spec, pick_seeds

__all__ = [
    "Job",
    "SynthesisReport",
    "ResultsFile",
    "combination_id",
    "generation_id",
    "load_combinations",
    "prepare_jobs",
    "read_results",
    "synthesize",
    "synthesize_async",
]

DEFAULT_PARAMS = {"temperature": 0.7}


# ---------------------------------------------------------------------------------------
# Combinations and jobs


def combination_id(skills: Iterable[str], start: str | None, template_hash_: str, model: str) -> str:
    """sha256 of (sorted skills, start, template hash, model), first 24 hex digits."""
    key = json.dumps([sorted(skills), start, template_hash_, model], ensure_ascii=False)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]


def generation_id(cid: str, generation: int) -> str:
    """Generation 0 keeps the combination id (results of single-generation runs stay valid)."""
    return cid if generation == 0 else f"{cid}-g{generation}"


def load_combinations(path: str | Path) -> tuple[list[dict], list[str]]:
    """Combos JSONL lines (see `steps combos`); bad lines are skipped and reported."""
    combos, problems = [], []
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"combos file {str(path)!r} is a folder, expected the JSONL of `steps combos`")
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        raise ValueError(f"combos file {str(path)!r} not found") from None
    with fh:
        for n, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                problems.append(f"{path}: line {n}: not UTF-8 (byte {exc.start + 1} of the line), skipped")
                continue
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError as exc:
                problems.append(f"{path}: line {n}: invalid JSON ({exc.args[0][:80]}), skipped")
                continue
            try:
                combos.append(_check_combo(rec))
            except ValueError as exc:
                problems.append(f"{path}: line {n}: {exc}, skipped")
    return combos, problems


def _check_combo(rec) -> dict:
    if isinstance(rec, Mapping):
        rec = dict(rec)
    elif hasattr(rec, "to_json"):
        rec = dict(rec.to_json())
    else:
        raise ValueError(f"combination is not an object ({type(rec).__name__})")
    skills = rec.get("skills")
    if not isinstance(skills, list) or not skills or not all(isinstance(s, str) and s for s in skills):
        raise ValueError("'skills' must be a non-empty list of strings")
    if len(set(skills)) != len(skills):
        raise ValueError(f"'skills' has repeats: {skills}")
    start = rec.get("start")
    if start is not None and start not in skills:
        raise ValueError(f"start {start!r} is not among the skills")
    return rec


@dataclass
class Job:
    id: str
    combo: dict
    seeds: list[Seed]
    messages: list[dict]
    taxonomy_path: list[str] = field(default_factory=list)  # node ids, top-level cluster first
    taxonomy_labels: list[str] = field(default_factory=list)
    generation: int = 0  # index among the n generations of this combination
    extra: dict = field(default_factory=dict)  # more provenance (the agent pre-filter's verdict)
    run: str | None = None  # the run's fingerprint (run_identity.run_fingerprint), kept in every record

    def request_params(self, params: dict) -> dict:
        """Generation g sends seed + g when a request seed is set, so generations differ."""
        if self.generation and isinstance(params.get("seed"), int):
            return {**params, "seed": params["seed"] + self.generation}
        return params

    def provenance(self, model: str, template_hash_: str) -> dict:
        c = self.combo
        out = {k: v for k, v in c.items() if k not in ("id", "status", "messages", "seeds")}
        out.update(
            id=self.id,
            skills=list(c["skills"]),
            start=c.get("start") or c["skills"][0],
            k=len(c["skills"]),
            taxonomy_path=self.taxonomy_path,
            taxonomy_labels=self.taxonomy_labels,
            seeds=[s.to_json() for s in self.seeds],
            model=model,
            template_hash=template_hash_,
            generation=self.generation,
        )
        if self.run is not None:
            out["run"] = self.run
        out.update(self.extra)
        return out


def _load_tree(taxonomy_dir: Path):
    from steps_engine.taxonomy.tree import EncodingTree

    path = taxonomy_dir / "taxonomy.json"
    if not path.exists():
        return None
    try:
        return EncodingTree.load(path)
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None


def _tree_path(tree, combo: dict) -> tuple[list[str], list[str]]:
    """Root-exclusive path to the combination's LCA (from `lca`, else computed)."""
    if tree is None:
        return [], []
    node = None
    lca = combo.get("lca")
    if isinstance(lca, str):
        try:
            node = tree.node_index(lca)
        except KeyError:
            node = None
    elif isinstance(lca, int) and not isinstance(lca, bool) and 0 <= lca < tree.n_nodes:
        node = lca
    if node is None:
        index = {s: i for i, s in enumerate(tree.skills)}
        leaf_of = tree.leaf_of_skill()
        paths = []
        for s in combo["skills"]:
            if s in index and leaf_of[index[s]] >= 0:
                paths.append(tree.path_to_root(int(leaf_of[index[s]]))[::-1])
        if not paths:
            return [], []
        common = []
        for level in zip(*paths):
            if all(x == level[0] for x in level):
                common.append(level[0])
            else:
                break
        node = common[-1]
    path = tree.path_to_root(node)[::-1][1:]
    return [tree.ids[i] for i in path], [tree.labels[i] for i in path]


def prepare_jobs(
    taxonomy_dir: str | Path,
    combos: Iterable,
    *,
    model: str,
    template: str = DEFAULT_TEMPLATE,
    seed: int = 0,
    limit: int | None = None,
    per_skill: int = 20,
    seed_index=None,
    n: int = 1,
) -> tuple[list[Job], list[str]]:
    """Jobs for the first `limit` distinct combinations (by id), with seeds and messages;
    `n` jobs (generations 0..n-1, the same prompt) per combination."""
    validate_template(template)
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    taxonomy_dir = Path(taxonomy_dir)
    th = template_hash(template)
    problems: list[str] = []
    chosen: dict[str, dict] = {}
    repeated = 0
    for rec in combos:
        rec = _check_combo(rec)
        cid = combination_id(rec["skills"], rec.get("start") or rec["skills"][0], th, model)
        if cid in chosen:
            repeated += 1
        else:
            if limit is not None and len(chosen) >= limit:
                break
            chosen[cid] = rec
    if repeated:
        problems.append(f"{repeated} repeated combination(s) (the same skills and start as an earlier one): "
                        "each is synthesized once")
    if seed_index is None:
        spec = load_input_spec(taxonomy_dir)
        wanted = {s for c in chosen.values() for s in c["skills"]}
        seed_index = build_seed_index(spec, wanted, per_skill=per_skill, seed=seed)
    problems += seed_index.problems
    tree = _load_tree(taxonomy_dir)
    if tree is None:
        problems.append(f"{taxonomy_dir / 'taxonomy.json'}: not found; records carry no taxonomy path")
    jobs, missing = [], set()
    seed_usage: dict = {}  # rotates each skill's examples across the combinations
    for cid, rec in chosen.items():
        start = rec.get("start") or rec["skills"][0]
        seeds = pick_seeds(seed_index, rec["skills"], start=start, seed=seed, usage=seed_usage)
        missing.update(s.skill for s in seeds if s.source_id is None)
        ids, labels = _tree_path(tree, rec)
        messages = build_messages({**rec, "taxonomy_labels": labels}, seeds, template)
        for g in range(n):
            jobs.append(Job(generation_id(cid, g), rec, seeds, messages, ids, labels, generation=g))
    absent = sorted(s for s in missing if not seed_index.candidates.get(s))
    shared = sorted(missing - set(absent))  # every example of theirs went to another skill of a combination
    if absent:
        problems.append(f"{len(absent)} skill(s) have no example in the input data: {', '.join(absent[:10])}")
    if shared:
        problems.append(f"{len(shared)} skill(s) went without an example in some combination: their only example "
                        f"records already serve another skill of the same combination (a record is shown once): "
                        f"{', '.join(shared[:10])}")
    return jobs, problems


# ---------------------------------------------------------------------------------------
# The results file


def _parse_lines(data: bytes, path, foreign: list | None = None) -> tuple[list[dict], list[str]]:
    """Records and problems; JSON lines that are not records also go to `foreign` as (line, reason)."""
    records, problems = [], []
    for n, line in enumerate(data.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except UnicodeDecodeError as exc:
            problems.append(f"{path}: line {n}: not UTF-8 (invalid byte 0x{line[exc.start]:02x} at byte {exc.start + 1} "
                            "of the line), skipped")
            continue
        except ValueError as exc:
            problems.append(f"{path}: line {n}: invalid JSON ({str(exc)[:120]}), skipped")
            continue
        if not isinstance(rec, dict) or not isinstance(rec.get("id"), str):
            problems.append(f"{path}: line {n}: not a result record (no string 'id'), skipped")
            if foreign is not None:
                foreign.append((n, "no string 'id'" if isinstance(rec, dict) else f"a JSON {type(rec).__name__}"))
            continue
        records.append(rec)
    return records, problems


def read_results(path: str | Path) -> tuple[list[dict], list[str]]:
    """Records in file order, de-duplicated by id (last wins), and the problems found."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"results file {str(path)!r} not found") from None
    records, problems = _parse_lines(data, path)
    if data and not data.endswith(b"\n"):
        n = data.count(b"\n") + 1
        bad = f"{path}: line {n}: invalid JSON"
        if problems and problems[-1].startswith(bad):  # a torn write, said once (a whole last record is kept)
            problems[-1] = f"{path}: line {n} is incomplete (an interrupted write), skipped"
    last: dict[str, dict] = {}
    for rec in records:
        last.pop(rec["id"], None)
        last[rec["id"]] = rec
    if len(last) != len(records):
        problems.append(f"{path}: {len(records) - len(last)} repeated id(s); kept the last record of each")
    return list(last.values()), problems


def _complete_lines(data: bytes, path) -> tuple[list[dict], list[str], list, int]:
    """`_parse_lines` of `data` up to its last newline (a torn last line left out): records,
    problems, the (line, reason) of JSON lines that are no record, and that cut."""
    cut = data.rfind(b"\n") + 1 if data and not data.endswith(b"\n") else len(data)
    foreign: list[tuple[int, str]] = []
    records, problems = _parse_lines(data[:cut], path, foreign)
    return records, problems, foreign, cut


# request fields no OpenAI-compatible server takes outside these bounds: (low, high, integer);
# no upper bound on temperature (OpenAI's is 2, vLLM and Ollama have none)
PARAM_RANGES = {"temperature": (0, None, False), "top_p": (0, 1, False), "max_tokens": (1, None, True),
                "max_completion_tokens": (1, None, True)}


def check_request_params(params: dict) -> None:
    """ValueError naming the field when a request field is out of its range (every request would get a 400)."""
    for key, (low, high, integer) in PARAM_RANGES.items():
        v = params.get(key)
        if v is None:
            continue
        kind = int if integer else (int, float)
        if isinstance(v, bool) or not isinstance(v, kind) or v < low or (high is not None and v > high):
            want = f"an integer >= {low}" if integer else (f"a number >= {low}" if high is None
                                                            else f"a number in [{low}, {high}]")
            flag = {"temperature": "--temperature", "max_tokens": "--max-tokens"}.get(key, f"--param {key}=")
            raise ValueError(f"request field {key!r} ({flag}) must be {want}, got {v!r}")


def check_owner(path: str | Path, accept: Callable) -> None:
    """ResultsFile's `accept` test on the file at `path`, if there is one, reading only (for
    callers that want it before costly work, or that will not write)."""
    path = Path(path)
    if path.is_file():
        data = path.read_bytes()
        records, _, foreign, _ = _complete_lines(data, path)
        accept(path, records, foreign, len(data))


class ResultsFile:
    """Exclusive, append-only writer of a results JSONL file (a context manager)."""

    def __init__(self, path: str | Path, secrets: tuple = (), accept: Callable | None = None):
        self.path = Path(path)
        self.secrets = tuple(secrets)  # scrubbed from every line written
        # accept(path, records, foreign, size) raises ValueError when the file is not this run's,
        # before anything is written; foreign = (line, reason) of its JSON lines that are no record
        self.accept = accept
        self.fd: int | None = None
        self.lock = None  # a portable lock on `<path>.lock` (filelock), held while open
        self.records: list[dict] = []
        self.problems: list[str] = []

    def __enter__(self) -> "ResultsFile":
        refuse_folder(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_existed = Path(str(self.path) + ".lock").exists()
        self.fd = self._open_locked()
        with open(self.path, "rb") as fh:
            data = fh.read()
        self.records, problems, foreign, cut = _complete_lines(data, self.path)
        if self.accept is not None:
            try:
                self.accept(self.path, self.records, foreign, len(data))
            except BaseException:
                self.__exit__()
                if not lock_existed:
                    Path(str(self.path) + ".lock").unlink(missing_ok=True)
                raise
        if cut < len(data):
            os.ftruncate(self.fd, cut)
            os.fsync(self.fd)
            self.problems.append(f"{self.path}: removed an incomplete last line ({len(data) - cut} bytes)")
        self.problems += problems
        return self

    def _open_locked(self) -> int:
        if self.lock is None:
            from filelock import FileLock, Timeout

            lock = FileLock(str(self.path) + ".lock")
            try:
                lock.acquire(timeout=0)
            except Timeout:
                raise ValueError(f"{self.path}: another run is writing this file") from None
            self.lock = lock
        return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0), 0o644)

    def _write(self, records: list[dict], sync: bool) -> None:
        lines = [scrub(json.dumps(r, ensure_ascii=False), *self.secrets) + "\n" for r in records]
        view = memoryview("".join(lines).encode("utf-8"))
        while view:
            view = view[os.write(self.fd, view) :]
        if sync:
            os.fsync(self.fd)
        self.records.extend(records)

    def append(self, record: dict, sync: bool = True) -> None:
        """One write; fsync unless `sync=False` (then call `sync()` soon: the line survives a
        killed process either way, fsync guards against a power cut)."""
        self._write([record], sync)

    def append_many(self, records: list[dict]) -> None:
        """Append several records with one write sequence and one fsync."""
        if records:
            self._write(records, True)

    def sync(self) -> None:
        os.fsync(self.fd)

    def compact(self, history: Path) -> int:
        """Keep the last record of each id (in the order of those last records); the records they
        superseded are appended to `history` first (lines already there are not repeated), so a
        kill between the two steps loses nothing. Returns how many records moved."""
        last: dict[str, int] = {rec["id"]: i for i, rec in enumerate(self.records)}
        if len(last) == len(self.records):
            return 0
        old = [rec for i, rec in enumerate(self.records) if last[rec["id"]] != i]
        _append_jsonl(history, old)
        self.rewrite([self.records[i] for i in sorted(last.values())])
        return len(old)

    def rewrite(self, keep: list[dict]) -> None:
        """Atomically replace the content with `keep`, keeping the lock."""
        with atomic_open(self.path, "wb") as fh:
            for rec in keep:
                fh.write((json.dumps(rec, ensure_ascii=False) + "\n").encode("utf-8"))
        old = self.fd
        self.fd = self._open_locked()
        os.close(old)
        self.records = list(keep)

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def _append_jsonl(path: Path, records: list[dict]) -> None:
    """Append records as JSON lines, skipping lines the file already holds (idempotent)."""
    lines = [json.dumps(rec, ensure_ascii=False) + "\n" for rec in records]
    if path.exists():
        have = set(path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True))
        lines = [line for line in lines if line not in have]
    with open(path, "a", encoding="utf-8") as fh:
        fh.writelines(lines)
        fh.flush()
        os.fsync(fh.fileno())


# ---------------------------------------------------------------------------------------
# The run


@dataclass
class SynthesisReport:
    total: int = 0  # distinct combinations considered
    skipped: int = 0  # already in the results file
    todo: int = 0
    ok: int = 0
    rejected: int = 0
    failed: int = 0
    requests: int = 0  # HTTP attempts, retries included
    retries: int = 0
    cache_hits: int = 0
    usage: dict = field(default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0})
    dry_run: bool = False
    cost_usd: float | None = None  # spent, when a budget (max_cost) was kept
    not_sent: int = 0  # left undone because the budget was reached
    status: str = "done"  # done | partial (some failed) | nothing (nothing usable produced) | dry_run | no_key
    prompts_path: str | None = None
    batch_path: str | None = None
    out: str | None = None
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    endpoints: list[dict] = field(default_factory=list)  # per endpoint of a pool: served, failures, rests

    @property
    def done(self) -> int:
        return self.ok + self.rejected + self.failed

    def to_json(self) -> dict:
        return asdict(self)

    def settle(self) -> None:
        """Set `status` from the counts (after a run that sent requests or imported answers)."""
        if self.todo and not self.ok:
            self.status = "nothing"
        elif self.failed or self.done < self.todo:
            self.status = "partial"
        else:
            self.status = "done"

    def summary(self) -> str:
        u = self.usage
        if self.dry_run:
            head = "no API key (OPENAI_API_KEY), nothing sent; " if self.status == "no_key" else ""
            return f"{head}dry run: {self.todo} prompts -> {self.prompts_path}, batch input -> {self.batch_path}"
        head = ""
        if self.status == "nothing":
            head = f"nothing synthesized ({self.done} of {self.todo} combinations got a record, none usable): "
        elif self.status == "partial":
            head = f"incomplete ({self.failed} failed or missing; rerun with --retry-failed): "
        return head + (
            f"{self.done}/{self.todo} done ({self.ok} ok, {self.rejected} rejected, {self.failed} failed), "
            f"{self.skipped} already done, {self.requests} requests ({self.retries} retries), "
            f"{self.cache_hits} cache hits, tokens {u['prompt_tokens']} in / {u['completion_tokens']} out, "
            f"{self.seconds:.1f} s"
            + (f", ${self.cost_usd:.4f} spent" if self.cost_usd is not None else "")
            + (f"; budget reached, {self.not_sent} not sent (run again with a larger --max-cost to resume)"
               if self.not_sent else "")
        )


class _Outcome:
    """Turns a response (or error) for a job into a result record, dropping near-duplicates."""

    def __init__(self, model: str, template_hash_: str, records: list[dict], secrets: tuple):
        self.model = model
        self.th = template_hash_
        self.secrets = secrets
        self.seen: dict[str, str] = {}
        for rec in records:
            if rec.get("status") == "ok" and rec.get("messages"):
                self.seen.setdefault(rec.get("norm_hash") or normalized_hash(rec["messages"]), rec["id"])

    def record(self, job: Job, completion: Completion | None, error: str | None, **extra) -> dict:
        rec = job.provenance(self.model, self.th)
        rec.update(extra)
        if completion is None:
            rec.update(status="failed", reason=scrub(error or "unknown error", *self.secrets), messages=None)
            return rec
        rec["usage"] = completion.usage
        completion.text = scrub(completion.text, *self.secrets)  # a server may echo the key
        completion.model = scrub(completion.model, *self.secrets)
        try:
            messages = parse_conversation(completion.text)
        except OutputError as exc:
            rec.update(status="rejected", reason=str(exc), raw=scrub(completion.text, *self.secrets), messages=None)
            return rec
        h = normalized_hash(messages)
        if h in self.seen:
            rec.update(
                status="rejected",
                reason=f"near-duplicate of {self.seen[h]}",
                raw=scrub(completion.text, *self.secrets),
                messages=None,
            )
            return rec
        self.seen[h] = job.id
        rec.update(status="ok", reason=None, messages=messages, norm_hash=h)
        return rec


def _tally(report: SynthesisReport, rec: dict, counted_usage: bool) -> None:
    setattr(report, rec["status"], getattr(report, rec["status"]) + 1)
    if counted_usage:
        for k in report.usage:
            v = (rec.get("usage") or {}).get(k)
            if isinstance(v, int):
                report.usage[k] += v


async def _run_jobs(
    jobs: list[Job],
    client: ChatClient,
    writer: ResultsFile,
    outcome: _Outcome,
    report: SynthesisReport,
    *,
    params: dict,
    concurrency: int,
    policy: RetryPolicy,
    cache: ResponseCache | None,
    seed: int,
    progress: Callable[[dict], None] | None,
    budget=None,
) -> None:
    queue = iter(jobs)
    rng = random.Random(seed)
    endpoint = getattr(client, "endpoint", None)

    async def worker() -> None:
        for job in queue:  # a shared iterator: each job is taken by one worker
            req = job.request_params(params)
            key = cache_key(client.model, job.messages, {**req, "_generation": job.generation} if job.generation else req,
                            endpoint)
            completion = cache.get(key) if cache is not None else None
            cached = completion is not None
            error, retries = None, 0
            if not cached:
                reservation = budget.admit(job.messages) if budget is not None else None
                if budget is not None and reservation is None:
                    return  # the budget is reached: this job and the rest stay undone, a later run resumes
                try:
                    completion, retries = await complete_with_retries(client, job.messages, req, policy, rng)
                except LLMError as exc:
                    retries = getattr(exc, "retries", 0)
                    error = exc.reason
                if budget is not None:
                    budget.settle(reservation, completion.usage if completion is not None else None)
                report.requests += retries + 1
                report.retries += retries
            else:
                report.cache_hits += 1
            rec = outcome.record(job, completion, error, retries=retries, cached=cached)
            if cache is not None and completion is not None:
                if rec["status"] == "ok" and not cached:
                    cache.put(key, completion)  # accepted answers only: a rejected one is asked again
                elif rec["status"] != "ok" and cached:
                    cache.discard(key)
            writer.append(rec)
            _tally(report, rec, counted_usage=not cached)
            if progress is not None:
                progress(_progress_event(report, rec))

    workers = [asyncio.create_task(worker()) for _ in range(max(1, min(concurrency, len(jobs))))]
    try:
        await asyncio.gather(*workers)
    finally:
        for w in workers:
            w.cancel()


async def _agent_filter(todo: list[Job], client: ChatClient, writer: ResultsFile, outcome: _Outcome,
                        report: SynthesisReport, *, cache, policy, concurrency, seed, secrets, progress) -> list[Job]:
    """Ask the pre-filter once per skill set; record 'no' as rejected and errors as failed."""
    from steps_engine.synthesis.agent_filter import filter_combinations

    verdicts = await filter_combinations([j.combo["skills"] for j in todo], client, cache=cache, policy=policy,
                                         concurrency=concurrency, seed=seed, secrets=secrets)
    keep = []
    for job in todo:
        v = verdicts[tuple(sorted(job.combo["skills"]))]
        job.extra["agent_filter"] = v
        if v["verdict"] in ("yes", "unclear"):
            keep.append(job)
            continue
        rec = job.provenance(outcome.model, outcome.th)
        status = "failed" if v["verdict"] == "error" else "rejected"
        rec.update(status=status, reason=f"agent_filter {v['verdict']}: {v['reason']}", messages=None)
        writer.append(rec)
        _tally(report, rec, counted_usage=False)
        if progress is not None:
            progress(_progress_event(report, rec))
    return keep


def _progress_event(report: SynthesisReport, rec: dict | None) -> dict:
    return {
        "done": report.done,
        "total": report.todo,
        "ok": report.ok,
        "rejected": report.rejected,
        "failed": report.failed,
        "cache_hits": report.cache_hits,
        "requests": report.requests,
        "usage": dict(report.usage),
        "last": None if rec is None else {"id": rec["id"], "status": rec["status"], "reason": rec.get("reason")},
    }


async def synthesize_async(
    taxonomy_dir: str | Path,
    combos,
    *,
    model: str,
    out: str | Path,
    api_key: str | None = None,
    base_url: str | list[str] | None = None,
    endpoint_concurrency: int | list[int | None] | None = None,
    client: ChatClient | None = None,
    concurrency: int = 4,
    limit: int | None = None,
    timeout: float = 60.0,
    max_retries: int = 5,
    backoff: float = 1.0,
    max_backoff: float = 60.0,
    template: str | None = None,
    params: dict | None = None,
    retry_failed: bool = False,
    seed: int = 0,
    dry_run: bool = False,
    import_batch: str | Path | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    progress: Callable[[dict], None] | None = None,
    max_cost: float | None = None,
    prices=None,
    expected_output_tokens: int | None = None,
    n: int = 1,
    agent_filter_model: str | None = None,
    allow_other_runs: bool = False,
) -> SynthesisReport:
    """See `synthesize`."""
    t0 = time.perf_counter()
    if not model or not isinstance(model, str):
        raise ValueError(f"model must be a non-empty string, got {model!r}")
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    if dry_run and import_batch is not None:
        raise ValueError("--dry-run writes a Batch input; --import-batch reads a Batch output: give one of them")
    template = DEFAULT_TEMPLATE if template is None else template
    params = dict(DEFAULT_PARAMS if params is None else params)
    check_request_params(params)
    policy = RetryPolicy(max_retries=max_retries, base_delay=backoff, max_delay=max_backoff)
    out = Path(out)
    refuse_folder(out)
    report = SynthesisReport(out=str(out))
    if api_key is None and client is None:
        api_key = os.environ.get("OPENAI_API_KEY") or None
    if base_url is None:
        base_url = os.environ.get("OPENAI_BASE_URL") or None
    secrets = (api_key, os.environ.get("OPENAI_API_KEY"))  # scrubbed from every reason and problem
    if isinstance(combos, (str, Path)):
        combos, problems = load_combinations(combos)
        report.problems += problems
    th = template_hash(template)
    combos = list(combos)
    jobs, problems = prepare_jobs(taxonomy_dir, combos, model=model, template=template, seed=seed, limit=limit, n=n)
    report.problems += problems
    report.total = len(jobs)
    run = run_fingerprint(taxonomy_dir, seed=seed, params=params, agent_filter_model=agent_filter_model)
    for job in jobs:
        job.run = run
    accept = None if allow_other_runs else _accept_this_run(combos, th, model, run, report)

    if import_batch is None and (dry_run or (client is None and not api_key)):
        from steps_engine.synthesis.batch import write_dry_run

        done = set()
        if out.exists():
            if accept is not None:
                check_owner(out, accept)
            done = {r["id"] for r in read_results(out)[0]}
        todo = [j for j in jobs if j.id not in done]
        report.dry_run = True
        report.skipped = len(jobs) - len(todo)
        report.todo = len(todo)
        report.status = "dry_run"
        if not dry_run:
            report.status = "no_key"
            report.problems.append("no API key (OPENAI_API_KEY): wrote a dry run instead")
        paths = write_dry_run(todo, out.parent, model=model, template_hash_=th, params=params)
        report.prompts_path, report.batch_path = str(paths[0]), str(paths[1])
        report.seconds = time.perf_counter() - t0
        return report

    history = out.with_name(out.name + ".failed.jsonl")
    with ResultsFile(out, secrets, accept=accept) as writer:
        report.problems += writer.problems
        moved = writer.compact(history)  # a run killed during --retry-failed left two records of some ids
        if moved:
            report.problems.append(f"{out}: {moved} superseded record(s) moved to {history}")
        latest = {r["id"]: r for r in writer.records}
        if retry_failed:  # the failed and rejected ones again, and those never tried (a stopped run)
            again = {i for i, r in latest.items() if r.get("status") in ("failed", "rejected")}
            todo = [j for j in jobs if j.id in again or j.id not in latest]
            report.skipped = len(jobs) - len(todo)
        else:
            todo = [j for j in jobs if j.id not in latest]
            report.skipped = len(jobs) - len(todo)
        report.todo = len(todo)
        outcome = _Outcome(model, th, writer.records, secrets)
        if progress is not None:
            progress(_progress_event(report, None))
        if import_batch is not None:
            from steps_engine.synthesis.batch import read_batch_output

            answers, problems = read_batch_output(import_batch)
            report.problems += problems
            known = {j.id for j in jobs}
            stray = [cid for cid in answers if cid not in known]
            if stray and (limit is None or len(stray) == len(answers)):  # with --limit, later ones are expected  # ids hash model + template: another --model/--template/combos file matches nothing
                report.problems.append(
                    f"{import_batch}: {len(stray)} of {len(answers)} answer(s) match no combination of this run "
                    f"(e.g. custom_id {stray[0]!r}); were --model, --template and --combos the same as for the batch input?"
                )
            for job in todo:
                if job.id not in answers:
                    continue
                completion, error = answers[job.id]
                rec = outcome.record(job, completion, error, retries=0, cached=False, source="batch")
                writer.append(rec)
                _tally(report, rec, counted_usage=True)
                if progress is not None:
                    progress(_progress_event(report, rec))
            if todo and not report.done:
                report.problems.append(f"{import_batch}: none of its {len(answers)} answer(s) matched the "
                                       f"{len(todo)} combination(s) still to do; nothing imported")
            else:
                report.todo = report.done
            report.settle()
        elif todo:
            own_client = client is None
            if own_client:  # several base URLs: an EndpointPool
                from steps_engine.llm.pool import open_chat_client

                client = open_chat_client(model, api_key=api_key, base_url=base_url, timeout=timeout,
                                          max_in_flight=endpoint_concurrency)
            cache = None
            if use_cache:
                cache = ResponseCache(cache_dir if cache_dir is not None else out.with_name(out.name + ".cache"))
            budget = None
            if max_cost is not None:
                from steps_engine.llm.cost import DEFAULT_OUTPUT_TOKENS, Budget

                seen = [r["usage"]["completion_tokens"] for r in writer.records
                        if isinstance((r.get("usage") or {}).get("completion_tokens"), int)]
                expected = expected_output_tokens or (round(sum(seen) / len(seen)) if seen else DEFAULT_OUTPUT_TOKENS)
                budget = Budget(model, max_cost, prices=prices, expected_output_tokens=expected, params=params)
            try:
                if agent_filter_model:
                    fclient = client
                    if own_client and agent_filter_model != model:  # several base URLs: a pool of them
                        fclient = open_chat_client(agent_filter_model, api_key=api_key, base_url=base_url,
                                                   timeout=timeout, max_in_flight=endpoint_concurrency)
                    try:
                        todo = await _agent_filter(todo, fclient, writer, outcome, report, cache=cache, policy=policy,
                                                   concurrency=concurrency, seed=seed, secrets=secrets, progress=progress)
                    finally:
                        if fclient is not client:
                            await fclient.aclose()
                await _run_jobs(
                    todo, client, writer, outcome, report, params=params, concurrency=concurrency,
                    policy=policy, cache=cache, seed=seed, progress=progress, budget=budget,
                )
            finally:
                if hasattr(client, "stats"):
                    report.endpoints = client.stats()
                if own_client:
                    await client.aclose()
            if budget is not None:
                report.cost_usd = budget.spent
                report.not_sent = report.todo - report.done
            report.settle()
        writer.compact(history)  # retried records replace the failed ones
    report.problems = [scrub(p, *secrets) for p in report.problems]
    report.seconds = time.perf_counter() - t0
    return report


def _accept_this_run(combos: list, th: str, model: str, run: str, report: SynthesisReport):
    """ResultsFile's `accept`: the file holds result records of these combinations and this run only."""
    plan = set()
    for rec in combos:
        try:
            rec = _check_combo(rec)
        except ValueError:
            continue
        plan.add(combination_id(rec["skills"], rec.get("start") or rec["skills"][0], th, model))

    def accept(path: Path, records: list[dict], foreign: list, size: int) -> None:
        note = refuse_foreign(path, records, foreign, run=run, plan=plan, nonempty=size > 0)
        if note:
            report.problems.append(note)

    return accept


def synthesize(taxonomy_dir, combos, *, model: str, out, **kwargs) -> SynthesisReport:
    """Synthesize conversations for `combos` (a combos JSONL path or a list of combination
    dicts) using seeds from the input recorded in `taxonomy_dir`, appending records to `out`.

    Keyword options: api_key (default $OPENAI_API_KEY; with none and no `client`, a dry run
    is written), base_url (default $OPENAI_BASE_URL; a list of several makes an
    `llm.pool.EndpointPool` with at most endpoint_concurrency requests on each), client (any `ChatClient`),
    concurrency, limit, timeout, max_retries, backoff, max_backoff, template, params
    (extra request fields; default temperature 0.7), retry_failed, seed, dry_run,
    import_batch (a Batch API output file to import instead of sending requests),
    cache_dir (default `<out>.cache`), use_cache, progress (callable taking a dict),
    n (generations per combination; a rerun with a larger n adds only the missing ones; with
    a request `seed` in params, generation g sends seed + g), agent_filter_model (ask this
    model first whether each skill set can form one agent workflow; see `agent_filter`).
    max_cost (USD; stop before the run would exceed it, see `llm.cost.Budget`), prices (a price
    table from `llm.cost.load_prices`), expected_output_tokens (for the budget's reservations;
    default the mean of this results file's replies, else `llm.cost.DEFAULT_OUTPUT_TOKENS`).
    `out` must be empty, missing or a results file of this run (`run_identity.refuse_foreign`:
    ValueError otherwise, nothing written); allow_other_runs=True appends to a results file that
    holds other runs' records too (the studio's workspace file collects every generation).

    Safe inside a running event loop (a notebook): the run then happens in a worker thread
    with its own loop; `await synthesize_async(...)` is the async form.
    """
    from steps_engine.llm.run import run_sync

    return run_sync(synthesize_async(taxonomy_dir, combos, model=model, out=out, **kwargs))

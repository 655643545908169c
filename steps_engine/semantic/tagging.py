"""Tag records with skills from a fixed vocabulary by embedding similarity.

Score of skill s for a record (all cosines between unit embeddings):

    sim(s)   = w * cos(instruction, v(s)) + (1 - w) * max_j cos(sentence_j, v(s))
    score(s) = (sim(s) - center(s)) * scale(s) + lexical_weight * overlap(s)
               + char_weight * chars(s)

where sentence_j runs over the response split into sentences (max-pooling: a skill
used in one paragraph of a long answer is still found; with `response_top` = n > 1 the
mean of the n highest sentence cosines instead of the max), v(s) is the embedding of the
skill name turned into words inside a template ("a task requiring public speaking"),
or with `phrasings` the normalised mean of the embeddings of several such phrasings;
with `instruction_sentences` the instruction cosine is the max over the whole
instruction and each of its sentences. overlap(s) is the fraction of the skill's
content words that occur in the instruction (a lexical tie-breaker; 0 disables it);
chars(s) the character 3-5-gram tf-idf cosine of the instruction and the skill's words
(`char_ngrams`; survives inflection; 0 disables it).
center(s) = mean(s) + center_tail * std(s), the per-skill mean and std of sim(s) over all
records being tagged (a hubness correction: skills that are close to everything stop
crowding the top; a positive center_tail moves the centre towards the skill's upper tail,
like CSLS's mean over a skill's nearest records; used only when at least
`center_min_records` records are scored together, else 0 - so with it on, a record's
tags depend on the rest of its file); scale(s) is 1, or with `center_scale`
(mean_t(std(t)) / std(s)) ** center_scale_power (per-skill standardisation kept on the
cosine scale, so the lexical weights mean the same; power 1 = full z-scoring, 0.5 = half
way, which is less hurt by a noisy std in small files). With no response text, sim(s) is
the instruction cosine alone. Skills are ranked by score; `min_sim` drops those whose sim(s) is below
it; `dedupe_sim` skips a skill whose name embedding has cosine above it with a skill
already picked for the record (near duplicates such as marketing_and_promotion /
marketing_and_promotions); then the top `top_k` are kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from steps_engine._atomic import atomic_open, refuse_folder
from steps_engine.semantic.embeddings.base import Embedder, ProgressFn, normalize_rows
from steps_engine.semantic.vocabulary import Vocabulary, _content_words, skill_phrase

__all__ = [
    "TagConfig",
    "Vocabulary",
    "skill_phrase",
    "split_sentences",
    "score_records",
    "SimilarityParts",
    "similarity_parts",
    "combine_parts",
    "skill_vectors",
    "top_indices",
    "top_skills",
    "recall_at_k",
    "extract_response",
    "load_vocabulary",
    "TagReport",
    "tag_file",
    "chunk_similarity_sum",
    "center_from_sums",
    "tag_chunk",
]


@dataclass(frozen=True)
class TagConfig:
    """Defaults chosen by leave-one-slice-out cross-validation on Instruct-SkillMix
    (`benchmarks/bench_tagging.py`, docs/embeddings.md): the same pick on every fold."""

    top_k: int = 5
    min_sim: float | None = None
    use_response: bool = True
    template: str = "a task requiring {}"
    phrase_names: bool = True  # False: embed the vocabulary strings as written
    instruction_weight: float = 0.3
    lexical_weight: float = 0.2
    center: bool = True
    center_min_records: int = 20
    dedupe_sim: float | None = None
    max_sentences: int = 48
    phrasings: tuple[str, ...] = ("{}",)  # more templates; a skill's vector is their normalised mean
    instruction_sentences: bool = False  # instruction cosine = max over whole and its sentences
    center_scale: bool = True  # also divide the centred sims by the per-skill std (rescaled)
    response_top: int = 1  # response cosine = mean of the top n sentence cosines (1 = max)
    center_tail: float = 3.0  # centre = per-skill mean + center_tail * std of sim
    center_scale_power: float = 0.5  # scale = (mean std / std) ** power
    char_weight: float = 0.4  # weight of the character n-gram tf-idf cosine

    def validate(self) -> None:
        if self.top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {self.top_k}")
        if self.min_sim is not None and not -1.0 <= self.min_sim <= 1.0:
            raise ValueError(f"min_sim must be in [-1, 1], got {self.min_sim}")
        if "{}" not in self.template:
            raise ValueError(f"template must contain '{{}}', got {self.template!r}")
        if not 0.0 <= self.instruction_weight <= 1.0:
            raise ValueError(f"instruction_weight must be in [0, 1], got {self.instruction_weight}")
        if self.lexical_weight < 0:
            raise ValueError(f"lexical_weight must be >= 0, got {self.lexical_weight}")
        if self.dedupe_sim is not None and not -1.0 <= self.dedupe_sim <= 1.0:
            raise ValueError(f"dedupe_sim must be in [-1, 1], got {self.dedupe_sim}")
        if self.center_min_records < 1:
            raise ValueError(f"center_min_records must be >= 1, got {self.center_min_records}")
        if self.max_sentences < 1:
            raise ValueError(f"max_sentences must be >= 1, got {self.max_sentences}")
        if self.response_top < 1:
            raise ValueError(f"response_top must be >= 1, got {self.response_top}")
        if not np.isfinite(self.center_tail):
            raise ValueError(f"center_tail must be a finite number, got {self.center_tail}")
        if not 0.0 <= self.center_scale_power <= 2.0:
            raise ValueError(f"center_scale_power must be in [0, 2], got {self.center_scale_power}")
        if not self.char_weight >= 0:
            raise ValueError(f"char_weight must be >= 0, got {self.char_weight}")
        for t in self.phrasings:
            if not isinstance(t, str) or "{}" not in t:
                raise ValueError(f"every phrasing must be a string containing '{{}}', got {t!r}")


_SENT_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[*#]*[A-Z0-9])|\n+")


def split_sentences(text: str, min_chars: int = 16, max_sentences: int = 48) -> list[str]:
    """Split on sentence ends and line breaks; fragments shorter than `min_chars` are
    joined to the next one. At most `max_sentences` chunks (the rest is joined into the
    last)."""
    parts = [p.strip(" \t*#-") for p in _SENT_END.split(text or "")]
    out: list[str] = []
    carry = ""
    for p in parts:
        if not p:
            continue
        carry = f"{carry} {p}".strip() if carry else p
        if len(carry) >= min_chars:
            out.append(carry)
            carry = ""
    if carry:
        if out:
            out[-1] = f"{out[-1]} {carry}"
        else:
            out.append(carry)
    if len(out) > max_sentences:
        out = out[: max_sentences - 1] + [" ".join(out[max_sentences - 1 :])]
    return out


def _lexical_overlap(texts: Sequence[str], vocab: Vocabulary) -> np.ndarray:
    """[n, V]: fraction of each skill's content words present in each text."""
    words = vocab.content_words()
    index: dict[str, list[int]] = {}
    for j, ws in enumerate(words):
        for w in ws:
            index.setdefault(w, []).append(j)
    size = np.array([max(len(ws), 1) for ws in words], dtype=np.float32)
    out = np.zeros((len(texts), len(vocab)), dtype=np.float32)
    for i, t in enumerate(texts):
        for w in _content_words(t):
            for j in index.get(w, ()):
                out[i, j] += 1.0
    return out / size


def skill_vectors(vocab: Vocabulary, embedder: Embedder, config: TagConfig = TagConfig(),
                  batch_size: int = 64) -> np.ndarray:
    """[n_skills, dim] unit vectors: each skill's phrase under `config.template`, or the
    normalised mean over that template and `config.phrasings`."""
    vecs = embedder.encode(vocab.phrases(config.template, config.phrase_names), batch_size=batch_size)
    if config.phrasings and config.phrase_names:
        total = vecs.astype(np.float64)
        for t in config.phrasings:
            total += embedder.encode(vocab.phrases(t), batch_size=batch_size)
        vecs = normalize_rows(total)
    return vecs


@dataclass
class SimilarityParts:
    """The cosines a score is made of, each [n_records, n_skills]: `instruction` (whole, or
    max over whole and sentences), `response` (max over response sentences; -inf on rows
    without response text; None when responses are off), `lexical` (word overlap; None when
    the lexical weight is 0), the skill vectors, and `chars` (character n-gram cosine; None
    when the char weight is 0)."""

    instruction: np.ndarray
    response: np.ndarray | None
    lexical: np.ndarray | None
    vocab_vecs: np.ndarray
    chars: np.ndarray | None = None


def _max_over_chunks(chunks: list[list[str]], vocab_vecs: np.ndarray, embedder: Embedder,
                     batch_size: int, progress, top: int = 1) -> np.ndarray:
    """[n, V] max cosine over each record's chunks, or with `top` > 1 the mean of its `top`
    highest (of all chunks when it has fewer); -inf where a record has none."""
    n = len(chunks)
    out = np.full((n, len(vocab_vecs)), -np.inf, dtype=np.float32)
    flat = [c for cs in chunks for c in cs]
    if flat:
        sims = embedder.encode(flat, batch_size=batch_size, progress=progress) @ vocab_vecs.T
        sizes = [len(c) for c in chunks]
        if top == 1:
            np.maximum.at(out, np.repeat(np.arange(n), sizes), sims)
        else:
            start = 0
            for i, m in enumerate(sizes):
                if m:
                    block = sims[start: start + m]
                    if m > top:
                        block = -np.partition(-block, top - 1, axis=0)[:top]
                    out[i] = block.mean(axis=0)
                start += m
    return out


def similarity_parts(
    instructions: Sequence[str],
    responses: Sequence[str | None] | None,
    vocab: Vocabulary,
    embedder: Embedder,
    config: TagConfig = TagConfig(),
    progress: ProgressFn | None = None,
    batch_size: int = 64,
) -> SimilarityParts:
    """The cosines of `score_records` before they are combined (see `combine_parts`)."""
    config.validate()
    n = len(instructions)
    if responses is not None and len(responses) != n:
        raise ValueError(f"responses must have {n} entries, got {len(responses)}")
    vocab_vecs = skill_vectors(vocab, embedder, config, batch_size)
    texts = [t or "" for t in instructions]
    instr = embedder.encode(texts, batch_size=batch_size, progress=progress) @ vocab_vecs.T
    if config.instruction_sentences:
        parts = [split_sentences(t, max_sentences=config.max_sentences) for t in texts]
        parts = [p if len(p) > 1 else [] for p in parts]  # one sentence: the whole text already counts
        instr = np.maximum(instr, _max_over_chunks(parts, vocab_vecs, embedder, batch_size, progress))
    resp = None
    if config.use_response and responses is not None and config.instruction_weight < 1.0:
        chunks = [split_sentences(r or "", max_sentences=config.max_sentences) for r in responses]
        resp = _max_over_chunks(chunks, vocab_vecs, embedder, batch_size, progress, config.response_top)
    lexical = _lexical_overlap(texts, vocab) if config.lexical_weight > 0 else None
    chars = vocab.char_index().similarity(texts) if config.char_weight > 0 else None
    return SimilarityParts(instr, resp, lexical, vocab_vecs, chars)


def combine_parts(
    parts: SimilarityParts,
    config: TagConfig = TagConfig(),
    center_vec: np.ndarray | None = None,
    center_std: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(score, sim) from the parts, by the formula in the module docstring. `center_vec`
    (and `center_std`, for `center_scale` / `center_tail`) are per-skill statistics of sim over a whole
    file; without them the batch's own are used (when it has >= center_min_records)."""
    sim = parts.instruction.copy()
    if parts.response is not None and config.use_response and config.instruction_weight < 1.0:
        has = np.isfinite(parts.response[:, 0])
        w = config.instruction_weight
        sim[has] = w * sim[has] + (1.0 - w) * parts.response[has]
    score = sim
    if config.center and (center_vec is not None or len(sim) >= config.center_min_records):
        mean = np.asarray(center_vec, dtype=sim.dtype) if center_vec is not None else sim.mean(axis=0)
        std = None
        if config.center_scale or config.center_tail:
            std = np.asarray(center_std, dtype=np.float64) if center_std is not None else sim.std(axis=0, dtype=np.float64)
        centre = mean if not config.center_tail else (mean + config.center_tail * std).astype(sim.dtype)
        score = sim - centre[None, :]
        if config.center_scale:
            score = score * _std_scale(std, config.center_scale_power).astype(sim.dtype)[None, :]
    if config.lexical_weight > 0:
        if parts.lexical is None:
            raise ValueError("lexical_weight > 0 needs parts computed with a lexical weight > 0")
        score = score + config.lexical_weight * parts.lexical
    if config.char_weight > 0:
        if parts.chars is None:
            raise ValueError("char_weight > 0 needs parts computed with a char weight > 0")
        score = score + config.char_weight * parts.chars
    return score, sim


def _std_scale(std: np.ndarray, power: float = 1.0) -> np.ndarray:
    """(mean(std) / std) ** power per skill; skills with (near) zero spread keep scale 1."""
    std = np.asarray(std, dtype=np.float64)
    ok = std > 1e-6
    if not ok.any():
        return np.ones_like(std)
    out = np.ones_like(std)
    out[ok] = (std[ok].mean() / std[ok]) ** power
    return out


def score_records(
    instructions: Sequence[str],
    responses: Sequence[str | None] | None,
    vocab: Vocabulary,
    embedder: Embedder,
    config: TagConfig = TagConfig(),
    progress: ProgressFn | None = None,
    batch_size: int = 64,
    center_vec: np.ndarray | None = None,
    center_std: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(score, sim, vocab_vecs), each [n_records, n_skills]; see the module docstring.
    Also returns the vocabulary embeddings (for `top_skills(..., dedupe_sim=...)`).
    `center_vec` (per-skill mean sim, e.g. over a whole file scored in chunks) replaces the
    batch mean when `config.center` is on; `center_std` likewise for `config.center_scale`
    and `config.center_tail`."""
    parts = similarity_parts(instructions, responses, vocab, embedder, config, progress, batch_size)
    score, sim = combine_parts(parts, config, center_vec, center_std)
    return score, sim, parts.vocab_vecs


def top_indices(
    score: np.ndarray,
    top_k: int,
    sim: np.ndarray | None = None,
    min_sim: float | None = None,
    vocab_vecs: np.ndarray | None = None,
    dedupe_sim: float | None = None,
) -> list[list[int]]:
    """Per record: up to `top_k` skill indices by descending score (see module docstring)."""
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    if min_sim is not None and sim is None:
        raise ValueError("min_sim needs sim")
    if dedupe_sim is not None and vocab_vecs is None:
        raise ValueError("dedupe_sim needs vocab_vecs")
    n_skills = score.shape[1]
    filtered = min_sim is not None or dedupe_sim is not None
    k = min(top_k, n_skills)
    out = []
    for i in range(score.shape[0]):
        if filtered:  # walk the whole ranking: skipped skills make room for later ones
            cand = np.argsort(-score[i], kind="stable")
        else:
            cand = np.argpartition(-score[i], k - 1)[:k]
            cand = cand[np.argsort(-score[i, cand], kind="stable")]
        picked: list[int] = []
        for j in cand:
            if min_sim is not None and sim[i, j] < min_sim:
                continue
            if dedupe_sim is not None and picked and np.max(vocab_vecs[picked] @ vocab_vecs[j]) > dedupe_sim:
                continue
            picked.append(int(j))
            if len(picked) == top_k:
                break
        out.append(picked)
    return out


def top_skills(
    score: np.ndarray,
    sim: np.ndarray,
    vocab: Vocabulary,
    top_k: int,
    min_sim: float | None = None,
    vocab_vecs: np.ndarray | None = None,
    dedupe_sim: float | None = None,
) -> list[list[tuple[str, float]]]:
    """Per record: up to `top_k` (skill, sim) pairs by descending score."""
    idx = top_indices(score, top_k, sim, min_sim, vocab_vecs, dedupe_sim)
    return [[(vocab.skills[j], float(sim[i, j])) for j in row] for i, row in enumerate(idx)]


def recall_at_k(
    score: np.ndarray, truth: Sequence[Sequence[int]], k: int, predicted: list[list[int]] | None = None
) -> float:
    """Micro recall: true skills found in the top k / all true skills (records without
    truth skipped). `predicted` (per-record index lists) overrides plain top-k of score."""
    if predicted is None:
        k = min(k, score.shape[1])
        predicted = np.argpartition(-score, k - 1, axis=1)[:, :k].tolist()
    hits = total = 0
    for i, t in enumerate(truth):
        if t:
            hits += len(set(predicted[i][:k]) & set(t))
            total += len(t)
    return hits / total if total else float("nan")


# ---------------------------------------------------------------- files

_RESPONSE_SPEAKERS = {"gpt", "assistant", "bot", "model"}


def _as_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # OpenAI content parts
        parts = [p.get("text", "") if isinstance(p, dict) else p for p in value]
        return "\n".join(p for p in parts if isinstance(p, str) and p)
    return str(value)
_TABLE_RESPONSE = ("output", "response", "completion", "answer", "chosen")


def extract_response(record: dict, response_field: str | None = None) -> str:
    """The response text of a record ("" when there is none): `response_field` (dotted) wins;
    else the first assistant turn of `conversations` / `messages`, else a table's first
    non-empty output / response / completion / answer / chosen column."""
    from steps_engine.data.ingest import get_field

    if response_field:
        return _as_text(get_field(record, response_field, None))
    for key, who, what in (("conversations", "from", "value"), ("messages", "role", "content")):
        turns = record.get(key)
        if isinstance(turns, list):
            for turn in turns:
                if isinstance(turn, dict) and str(turn.get(who, "")).lower() in _RESPONSE_SPEAKERS:
                    return _as_text(turn.get(what))
            return ""
    for key in _TABLE_RESPONSE:
        value = record.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return ""


def load_vocabulary(path, skills_field: str = "skills", skills_sep: str | None = None) -> tuple[Vocabulary, list[str]]:
    """A vocabulary from a text file (one skill per line; blank lines, lines starting with '#'
    and anything after a tab skipped), a taxonomy
    folder (its skills.csv) or a tagged dataset (.jsonl/.json/.csv/.parquet; skills read from
    `skills_field`, split on `skills_sep` when it is a delimited string). Returns the
    vocabulary and a list of problems found (bad rows), which are skipped."""
    from pathlib import Path

    from steps_engine.data.ingest import BadRow, FieldMapping, SkillFieldError, detect_format, extract_skills, iter_records

    path = Path(path)
    problems: list[str] = []
    if path.is_dir():
        csv_path = path / "skills.csv"
        if not csv_path.is_file():
            raise ValueError(f"vocab folder {path} has no skills.csv")
        import csv

        with open(csv_path, encoding="utf-8", newline="") as fh:
            return Vocabulary([row["skill"] for row in csv.DictReader(fh) if row.get("skill")]), problems
    if not path.is_file():
        raise ValueError(f"vocab file {path} does not exist")
    try:
        detect_format(path)
    except ValueError:  # not a dataset extension: a plain list of skills
        text = path.read_text(encoding="utf-8", errors="replace")
        # `steps tag --open` writes vocab.txt as "skill<TAB>count<TAB>absorbed" with '#' comments
        names = [ln.split("\t", 1)[0] for ln in text.splitlines() if not ln.lstrip().startswith("#")]
        return Vocabulary(names), problems
    mapping = FieldMapping(skills_field=skills_field, skills_sep=skills_sep)
    skills: list[str] = []
    for line, rec in iter_records(path):
        if isinstance(rec, BadRow):
            problems.append(f"{path}: {rec}")
            continue
        try:
            skills.extend(extract_skills(rec, mapping))
        except SkillFieldError as exc:
            problems.append(f"{path}: line {line}: {exc.reason}")
    if not skills:
        raise ValueError(f"vocab file {path} has no skills in field {skills_field!r}")
    return Vocabulary(skills), problems


@dataclass
class TagReport:
    records: int = 0  # rows written (records + bad-row placeholders)
    tagged: int = 0  # records that got at least one skill
    no_text: int = 0  # records with no instruction text (written with an empty list)
    bad_rows: list[str] | None = None  # "line N: reason" for rows written as placeholders
    llm_failed: list[str] | None = None  # "line N: reason" for records the LLM tagger failed on
    replaced: int = 0  # records that already had the output field (its old value was replaced)
    rerank_failed: list[str] | None = None  # "line N: reason": LLM rerank failed, embedding order kept
    resumed: int = 0  # rows taken from an interrupted run of the same command (tag_checkpoint)
    notes: list[str] | None = None  # about the resume: what was kept or discarded

    def add(self, other: "TagReport") -> None:
        """Add the counts and lists of another part of the same run (a later chunk)."""
        for name in ("records", "tagged", "no_text", "replaced"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("bad_rows", "llm_failed", "rerank_failed"):
            if getattr(other, name):
                setattr(self, name, (getattr(self, name) or []) + getattr(other, name))

    def summary(self) -> str:
        bad = len(self.bad_rows or [])
        text = (f"{self.records} rows written: {self.tagged} tagged, {self.no_text} without text, "
                f"{bad} bad rows kept as placeholders")
        if self.llm_failed:
            text += f", {len(self.llm_failed)} LLM failures (written with no skills)"
        if self.rerank_failed:
            text += f", {len(self.rerank_failed)} LLM rerank failures (embedding order kept)"
        if self.replaced:
            text += f", {self.replaced} records had the field already (replaced)"
        if self.resumed:
            text += f", {self.resumed} of them kept from the interrupted run"
        return text


def tag_file(
    input_path,
    out_path,
    vocab: Vocabulary,
    embedder: Embedder,
    config: TagConfig = TagConfig(),
    text_field: str | None = None,
    response_field: str | None = None,
    out_field: str = "skills",
    with_scores: bool = False,
    chunk_records: int = 2000,
    progress=None,
    open_tagger=None,
    llm_min_sim: float = 0.5,
    reranker=None,
    rerank_candidates: int = 20,
    resume: bool = True,
) -> TagReport:
    """Tag every record of `input_path` and write them, in input order, as JSONL to
    `out_path` (atomic: temp file, fsync, rename) with `out_field` = list of skill names
    (and `<out_field>_scores` = their similarities when `with_scores`). A row that cannot
    be read is written as {"_bad_row": {"line", "reason", "unit"}, out_field: []} so output
    line i still corresponds to input record i. Hubness centering uses the per-skill mean
    over the whole file (two passes; embeddings come from the cache on the second).
    `progress(stage, done, total)` gets stages "scan" and "tag" (done = records).
    `open_tagger` (e.g. `tagging_llm.LLMOpenTagger`): (instructions, responses) -> open tags
    per record, mapped onto the vocabulary with `llm_min_sim` instead of similarity ranking.
    `reranker` (e.g. `tagging_llm.LLMReranker`): (instructions, candidate names per record) ->
    the names it chose, best first, with a `failures` list of (index, reason); it reorders each
    record's top `rerank_candidates` by similarity, and the record's skills are its choice
    followed by the other candidates in similarity order, `top_k` in all (a failed request
    keeps the similarity order and lands in `report.rerank_failed`).
    With `resume` (the default) finished work is kept in `<out_path>.partial/` until the output
    is written, so a killed or interrupted run started again with the same input and options
    goes on where it stopped and writes the same file (`tag_checkpoint`; other inputs or options
    start over, said in `report.notes`). A chunk with LLM failures is not kept: a resume asks
    again (answers that came are in the LLM cache)."""
    from pathlib import Path

    from steps_engine.data.ingest import iter_records

    config.validate()
    if chunk_records < 1:
        raise ValueError(f"chunk_records must be >= 1, got {chunk_records}")
    if not out_field:
        raise ValueError("out_field must be a non-empty string")
    if reranker is not None and open_tagger is not None:
        raise ValueError("give open_tagger or reranker, not both")
    if rerank_candidates < 1:
        raise ValueError(f"rerank_candidates must be >= 1, got {rerank_candidates}")
    input_path, out_path = Path(input_path), Path(out_path)
    if input_path.resolve() == out_path.resolve():
        raise ValueError(f"out_path must differ from the input file, got {out_path}")
    refuse_folder(out_path, "tagged.jsonl")

    def chunks():
        buf: list = []
        for line, rec in iter_records(input_path):
            buf.append((line, rec))
            if len(buf) >= chunk_records:
                yield buf
                buf = []
        if buf:
            yield buf

    if not resume:
        return _tag_passes(chunks, None, out_path, vocab, embedder, config, text_field, response_field, out_field,
                           with_scores, progress, open_tagger, llm_min_sim, reranker, rerank_candidates)
    from steps_engine.semantic.tag_checkpoint import TagCheckpoint, run_identity

    run = run_identity(input_path, vocab, embedder, config, text_field=text_field, response_field=response_field,
                       out_field=out_field, with_scores=with_scores, chunk_records=chunk_records,
                       open_tagger=open_tagger, llm_min_sim=llm_min_sim, reranker=reranker,
                       rerank_candidates=rerank_candidates)
    with TagCheckpoint(out_path, run) as ck:
        return _tag_passes(chunks, ck, out_path, vocab, embedder, config, text_field, response_field, out_field,
                           with_scores, progress, open_tagger, llm_min_sim, reranker, rerank_candidates)


def _tag_passes(chunks, ck, out_path, vocab, embedder, config, text_field, response_field, out_field, with_scores,
                progress, open_tagger, llm_min_sim, reranker, rerank_candidates) -> TagReport:
    """tag_file's two passes; with a checkpoint `ck` finished work is kept in it and skipped."""
    from dataclasses import asdict

    total = None
    center_vec = center_std = None
    if config.center and open_tagger is None:  # pass 1: per-skill mean similarity over the file
        col = np.zeros(len(vocab), dtype=np.float64)
        col_sq = np.zeros(len(vocab), dtype=np.float64)
        n = scanned = 0
        state = ck.scan() if ck is not None else None
        if state is not None:  # the sums of the chunks scanned before the interruption, in the same order
            col, col_sq, n, scanned, total = state["col"], state["col_sq"], state["n"], state["chunks"], state["total"]
        if state is None or not state["done"]:
            skip = scanned
            for k, chunk in enumerate(chunks()):
                if k < skip:
                    continue
                part, kept = chunk_similarity_sum(chunk, vocab, embedder, config, text_field, response_field)
                if kept:
                    col += part[0]
                    col_sq += part[1]
                    n += kept
                total, scanned = (total or 0) + len(chunk), k + 1
                if ck is not None:
                    ck.save_scan(col, col_sq, n, scanned, total, False)
                if progress is not None:
                    progress("scan", total, 0)
            if ck is not None:
                ck.save_scan(col, col_sq, n, scanned, total or 0, True)
        center_vec, center_std = center_from_sums(col, col_sq, n, config)

    def tag(chunk):
        return tag_chunk(chunk, vocab, embedder, config, center_vec, text_field, response_field, out_field,
                         with_scores, open_tagger, llm_min_sim, center_std=center_std, reranker=reranker,
                         rerank_candidates=rerank_candidates)

    report = TagReport(bad_rows=[], llm_failed=[], rerank_failed=[], notes=(ck.notes or None) if ck is not None else None)
    if ck is None:
        with atomic_open(out_path, "wb") as fh:
            for chunk in chunks():
                data, part = tag(chunk)
                fh.write(data)
                report.add(part)
                if progress is not None:
                    progress("tag", report.records, total or 0)
        return report
    n_chunks = 0
    for k, chunk in enumerate(chunks()):
        n_chunks = k + 1
        if ck.has(k):
            part = TagReport(**ck.load(k))
            report.resumed += part.records
        else:
            data, part = tag(chunk)
            # a chunk with failed LLM requests is written but not marked done: a resume asks again
            ck.save(k, data, None if part.llm_failed or part.rerank_failed else asdict(part))
        report.add(part)
        if progress is not None:
            progress("tag", report.records, total or 0)
    ck.finish(n_chunks)
    return report


# One chunk of (line, record) pairs at a time: tag_file's two passes, also run by ray_tagging's actors.


def _chunk_texts(chunk, text_field, response_field, use_response) -> tuple[list[str], list[str]]:
    from steps_engine.data.ingest import BadRow, extract_text

    ins, res = [], []
    for _, rec in chunk:
        if isinstance(rec, BadRow):
            ins.append("")
            res.append("")
        else:
            ins.append(extract_text(rec, text_field) or "")
            res.append(extract_response(rec, response_field) if use_response else "")
    return ins, res


def chunk_similarity_sum(chunk, vocab, embedder, config, text_field=None, response_field=None):
    """Pass 1 on one chunk: ((per-skill sum of sim, sum of sim squared) over its records with
    text, how many)."""
    ins, res = _chunk_texts(chunk, text_field, response_field, config.use_response)
    keep = [i for i, t in enumerate(ins) if t.strip()]
    if not keep:
        return None, 0
    sim_only = TagConfig(**{**config.__dict__, "center": False, "lexical_weight": 0.0, "char_weight": 0.0})
    _, sim, _ = score_records([ins[i] for i in keep], [res[i] for i in keep], vocab, embedder, sim_only)
    return (sim.sum(axis=0), np.square(sim, dtype=np.float64).sum(axis=0)), len(keep)


def center_from_sums(col: np.ndarray, col_sq: np.ndarray, n: int, config: TagConfig):
    """The hubness centre and spread (per-skill mean and std of sim) from pass 1's sums over the
    whole file; (None, None) below center_min_records."""
    if n < config.center_min_records:
        return None, None
    return (col / n).astype(np.float32), np.sqrt(np.maximum(col_sq / n - np.square(col / n), 0.0))


def tag_chunk(chunk, vocab, embedder, config, center_vec, text_field=None, response_field=None,
              out_field="skills", with_scores=False, open_tagger=None, llm_min_sim=0.5,
              center_std=None, reranker=None, rerank_candidates=20) -> tuple[bytes, "TagReport"]:
    """Pass 2 on one chunk: its output JSONL lines and its share of the report."""
    import orjson

    from steps_engine.data.ingest import BadRow

    ins, res = _chunk_texts(chunk, text_field, response_field, config.use_response)
    keep = [i for i, t in enumerate(ins) if t.strip()]
    report = TagReport(bad_rows=[], llm_failed=[], rerank_failed=[])
    tags: dict[int, list[tuple[str, float]]] = {}
    if keep and open_tagger is not None:
        from steps_engine.semantic.tagging_llm import LLMFailure, map_to_vocabulary

        open_tags = open_tagger([ins[i] for i in keep], [res[i] for i in keep])
        mapped = map_to_vocabulary(open_tags, vocab, embedder, llm_min_sim, config.top_k)
        for i, tags_i, row in zip(keep, open_tags, mapped):
            tags[i] = row
            if isinstance(tags_i, LLMFailure):
                report.llm_failed.append(f"line {chunk[i][0]}: {tags_i.reason}")
    elif keep:
        unscaled = TagConfig(**{**config.__dict__, "center": False})
        score, sim, vv = score_records(
            [ins[i] for i in keep], [res[i] for i in keep], vocab, embedder,
            unscaled if center_vec is None else config, center_vec=center_vec, center_std=center_std,
        )
        if reranker is None:
            for i, row in zip(keep, top_skills(score, sim, vocab, config.top_k, config.min_sim, vv, config.dedupe_sim)):
                tags[i] = row
        else:
            cand = top_indices(score, max(rerank_candidates, config.top_k), sim, config.min_sim, vv, config.dedupe_sim)
            chosen = reranker([ins[i] for i in keep], [[vocab.skills[j] for j in c] for c in cand])
            for r, reason in getattr(reranker, "failures", []):
                report.rerank_failed.append(f"line {chunk[keep[r]][0]}: {reason}")
            for r, (i, c, picked) in enumerate(zip(keep, cand, chosen)):
                by_name = {vocab.skills[j]: j for j in c}
                first = [by_name[n] for n in dict.fromkeys(picked) if n in by_name]
                order = first + [j for j in c if j not in set(first)]
                tags[i] = [(vocab.skills[j], float(sim[r, j])) for j in order[: config.top_k]]
    out = bytearray()
    for i, (line, rec) in enumerate(chunk):
        if isinstance(rec, BadRow):
            report.bad_rows.append(str(rec))
            obj = {"_bad_row": rec.to_json(), out_field: []}
        else:
            row = tags.get(i, [])
            if i not in tags:
                report.no_text += 1
            elif row:
                report.tagged += 1
            obj = dict(rec)
            if out_field in obj:
                report.replaced += 1
            obj[out_field] = [s for s, _ in row]
            if with_scores:
                obj[f"{out_field}_scores"] = [round(v, 4) for _, v in row]
        out += orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"
        report.records += 1
    return bytes(out), report

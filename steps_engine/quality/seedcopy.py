"""Copies of seed examples: a sample that repeats one of the real examples it was built from.

Similarity: the overlap coefficient |A ∩ B| / min(|A|, |B|) of word 3-shingle sets. It is 1
when either text is contained in the other (a pasted seed plus a sentence of framing, or an
instruction cut out of a long seed), and near 0 for a new task on the same topic.
`seed_match(messages, seed_texts, seed_responses)` compares every user turn (A) with every
seed's text (B) and every assistant turn with every seed's response, and returns the best
`SeedMatch` (which turn, which seed, which field). A match counts only when the two share at
least `MIN_SHARED` shingles or the whole seed field (so a short turn such as "Can you say more
about that?" is not a copy of a long seed that happens to contain it). A sample is
`copies_seed` when a counting match has a coefficient of at least the threshold (default 0.6).

`load_seed_examples(taxonomy_dir, ids)` streams the original records named in
`DIR/input.json` once and returns, for the wanted source ids (as stored in provenance: the
record's `id`/`key` field, else its line number), the seed's text and response.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from steps_engine.quality.text import shingle_set

__all__ = ["overlap_coefficient", "seed_similarity", "SeedMatch", "seed_match", "load_seed_examples"]

SHINGLE = 3
MIN_SHARED = 8  # shingles in common (a 10-word run) unless the whole seed field is in the turn


def overlap_coefficient(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) == 0 or len(b) == 0:
        return 0.0
    return len(np.intersect1d(a, b, assume_unique=True)) / min(len(a), len(b))


def seed_similarity(instruction: str, seed_texts: list[str]) -> tuple[int, float]:
    """(index of the most similar seed, its overlap coefficient); (-1, 0.0) without seeds."""
    a = shingle_set(instruction, SHINGLE)
    best, best_sim = -1, 0.0
    for i, t in enumerate(seed_texts):
        sim = overlap_coefficient(a, shingle_set(t, SHINGLE))
        if sim > best_sim:
            best, best_sim = i, sim
    return best, best_sim


@dataclass(frozen=True)
class SeedMatch:
    seed: int  # index into the seed lists
    message: int  # index into `messages`
    role: str  # "user" (compared with the seed's text) or "assistant" (with its response)
    turn: int  # 1-based among that role's turns
    overlap: float
    shared: int  # shingles in common
    counts: bool  # enough shared (>= MIN_SHARED or the whole seed field) to be a copy

    @property
    def field(self) -> str:
        return "text" if self.role == "user" else "response"

    def to_json(self) -> dict:
        return {**asdict(self), "field": self.field}

    def describe(self, source_id, skill) -> str:
        return (f"{self.role} turn {self.turn} (message {self.message + 1}) overlaps the {self.field} of seed "
                f"{source_id!r} ({skill}) at {self.overlap:.2f} ({self.shared} shared {SHINGLE}-word shingles)")


def seed_match(messages, seed_texts: list[str], seed_responses: list[str] | None = None) -> SeedMatch | None:
    """The best match of any user turn with a seed text or assistant turn with a seed response:
    counting matches first, then the highest coefficient; None when nothing overlaps."""
    responses = list(seed_responses or [])
    fields = {"user": [shingle_set(t or "", SHINGLE) for t in seed_texts],
              "assistant": [shingle_set(r or "", SHINGLE) for r in responses]}
    seen = {"user": 0, "assistant": 0}
    best, best_key = None, (False, 0.0)
    for m_idx, m in enumerate(messages or []):
        role = m.get("role") if isinstance(m, dict) else None
        if role not in seen:
            continue
        seen[role] += 1
        a = shingle_set(str(m.get("content") or ""), SHINGLE)
        if not len(a):
            continue
        for s_idx, b in enumerate(fields[role]):
            if not len(b):
                continue
            shared = len(np.intersect1d(a, b, assume_unique=True))
            if not shared:
                continue
            sim = shared / min(len(a), len(b))
            counts = shared >= min(MIN_SHARED, len(b))
            if (counts, sim) > best_key:
                best_key = (counts, sim)
                best = SeedMatch(s_idx, m_idx, role, seen[role], sim, shared, counts)
    return best


_RESPONSE_FIELDS = ("output", "response", "answer", "completion")


def _response(record: dict) -> str:
    for key in ("messages", "conversations"):
        turns = record.get(key)
        if isinstance(turns, list):
            for t in turns:
                if isinstance(t, dict) and str(t.get("role", t.get("from", ""))).lower() in ("assistant", "gpt"):
                    return str(t.get("content", t.get("value", "")) or "")
    for key in _RESPONSE_FIELDS:
        if isinstance(record.get(key), str):
            return record[key]
    return ""


def load_seed_examples(taxonomy_dir: str | Path, ids) -> tuple[dict, list[str]]:
    """{source id: {"text", "response"}} for the wanted ids, and the problems found."""
    from steps_engine.data.ingest import BadRow, extract_text, iter_records
    from steps_engine.synthesis.seeds import _source_id, load_input_spec

    spec = load_input_spec(taxonomy_dir)
    wanted = {str(i) for i in ids if i is not None}
    found: dict = {}
    problems: list[str] = []
    if not wanted:
        return found, problems
    text_field = spec.get("text_field") or None
    paths = spec.get("shard_paths") or [spec["path"]]  # where each shard is now (as the seed index reads them)
    source, fmt = (paths[0], spec.get("format")) if len(paths) == 1 else (paths, None)
    for line, rec in iter_records(source, fmt):
        if isinstance(rec, BadRow):
            continue  # reported when the taxonomy was built
        sid = _source_id(rec, line, None)
        if str(sid) not in wanted:
            continue
        try:
            text = extract_text(rec, text_field)
        except (ValueError, KeyError):
            text = ""
        found[str(sid)] = {"text": text, "response": _response(rec)}
    missing = wanted - set(found)
    if missing:
        problems.append(f"{spec['path']}: {len(missing)} seed id(s) from the results are not in the input data "
                        f"(e.g. {sorted(missing)[0]!r}); their copies cannot be checked")
    return found, problems

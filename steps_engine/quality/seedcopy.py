"""Copies of seed examples: a sample whose instruction repeats one of the real examples it
was built from.

Similarity: the overlap coefficient |A ∩ B| / min(|A|, |B|) of the word 3-shingle sets of
the sample's first user turn (A) and the seed's text (B). It is 1 when either text is contained
in the other (a pasted seed plus a sentence of framing, or an instruction cut out of a long
seed), and near 0 for a new task on the same topic. A sample is `copies_seed` when the
coefficient is at least `threshold` (default 0.6) for any of its seeds.

`load_seed_examples(taxonomy_dir, ids)` streams the original records named in
`DIR/input.json` once and returns, for the wanted source ids (as stored in provenance: the
record's `id`/`key` field, else its line number), the seed's text and response.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from steps_engine.quality.text import shingle_set

__all__ = ["overlap_coefficient", "seed_similarity", "load_seed_examples"]

SHINGLE = 3


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
    for line, rec in iter_records(spec["path"], spec["format"]):
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

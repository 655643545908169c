"""Where the open taxonomy came from, and the field defaults of a newly chosen file.

    suggest_mapping(path)          skills / text field, separator and height from the file's shape
    preview_problems(rows)         all rows errors? mapped text empty? (from `ingest.preview` rows)
    describe_source(ws)            "the bundled demo" / "the taxonomy folder X" / "built from X"
    env_taxonomy_offer(ws)         $STEPS_TAXONOMY when it differs from what the workspace holds
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["UNREADABLE_KINDS", "suggest_mapping", "preview_problems", "describe_source", "env_taxonomy_offer"]

# BadRow kinds (`data.ingest.REASONS`) of a row that could not be read at all, before any field mapping
UNREADABLE_KINDS = ("invalid JSON", "not UTF-8", "not a JSON object", "invalid CSV", "wrong number of columns")
_SKILL_KEYS = ("skills", "skill", "label.ability_en", "instruction_id_list", "skills_joined_str", "tags", "labels", "categories")
_TEXT_KEYS = ("prompt", "instruction", "text", "question", "query", "input")


def _first_records(path: Path, n: int) -> list[dict]:
    from steps_engine.data.ingest import BadRow, iter_records

    out = []
    for _, rec in iter_records(path):
        if not isinstance(rec, BadRow) and isinstance(rec, dict):
            out.append(rec)
        if len(out) >= n:
            break
    return out


def _skills_value(rec: dict, key: str):
    from steps_engine.data.ingest import get_field

    return get_field(rec, key, None)


def suggest_mapping(path: str | Path, n: int = 50) -> dict:
    """Field defaults for `path` from its first `n` records:
    {"shape", "skills_field", "skills_sep", "text_field", "height", "note"}.
    text_field "" means: detect per row (first user turn, Alpaca instruction + input)."""
    from steps_engine.data.ingest import detect_shape

    path = Path(path)
    recs = _first_records(path, n)
    if not recs:
        return {"shape": "unknown", "skills_field": "skills", "skills_sep": "", "text_field": "", "height": 4,
                "note": f"{path.name}: no readable record in the first rows"}
    first = recs[0]
    shape = detect_shape(first)
    skills_field = None
    for key in _SKILL_KEYS:
        if any(_skills_value(r, key) not in (None, "", []) for r in recs):
            skills_field = key
            break
    if skills_field is None:  # any column holding lists of strings, else one named like a skill
        for key, value in first.items():
            if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
                skills_field = key
                break
    if skills_field is None:
        skills_field = next((k for k in first if "skill" in k.lower() or "tag" in k.lower()), "skills")
    sep = ""
    sample = [_skills_value(r, skills_field) for r in recs]
    strings = [v for v in sample if isinstance(v, str) and not v.strip().startswith("[")]
    if strings:
        for cand in (", ", ",", ";", "|"):
            if sum(cand in v for v in strings) >= max(1, len(strings) // 3):
                sep = cand
                break
    text_field = ""
    if shape == "alpaca":
        text_field = "instruction"
    elif shape == "table":
        text_field = next((k for k in _TEXT_KEYS if any(isinstance(r.get(k), str) and r[k].strip() for r in recs)), "")
    distinct = set()
    for v in sample:
        if isinstance(v, list):
            distinct.update(x for x in v if isinstance(x, str))
        elif isinstance(v, str):
            distinct.update(v.split(sep) if sep else [v])
    height = 3 if len(distinct) <= 120 else 4
    return {"shape": shape, "skills_field": skills_field, "skills_sep": sep, "text_field": text_field, "height": height,
            "note": f"detected {shape} records; skills in {skills_field!r}" + (f", text in {text_field!r}" if text_field else "")}


def preview_problems(rows: list[dict]) -> dict:
    """{"all_errors": every previewed row is an error, "unreadable": every previewed row failed
    before the field mapping (encoding, JSON, CSV: no field choice can help), "no_rows": the
    input holds no record at all, "first_error": "line N: reason" of the first error row,
    "empty_text": no usable row has text, "rows": rows previewed}."""
    ok = [r for r in rows if "error" not in r or not r.get("error")]
    bad = [r for r in rows if r.get("error")]
    unreadable = [r for r in bad if str(r["error"]).split(":", 1)[0] in UNREADABLE_KINDS]
    return {
        "all_errors": bool(rows) and not ok,
        "unreadable": bool(rows) and len(unreadable) == len(rows),
        "no_rows": not rows,
        "first_error": f"line {bad[0].get('line')}: {bad[0]['error']}" if bad else None,
        "empty_text": bool(ok) and not any(str(r.get("text") or "").strip() for r in ok),
        "rows": len(rows),
    }


def describe_source(ws) -> str:
    """One phrase naming the taxonomy the workspace holds."""
    src = ws.source
    info = ws.input_info()
    if src.get("kind") == "demo":
        return "the bundled demo"
    if src.get("kind") == "folder":
        return f"the taxonomy folder `{src.get('path')}`"
    if src.get("kind") == "file":
        return f"a taxonomy built from `{src.get('path')}`"
    if info.get("path"):
        return f"a taxonomy built from `{info['path']}`"
    return "a taxonomy of unknown origin (opened before sources were recorded)"


def env_taxonomy_offer(ws) -> Path | None:
    """The folder in $STEPS_TAXONOMY when it is set, is a taxonomy folder and is not what
    the workspace was filled from (the studio then offers to open it)."""
    folder = os.environ.get("STEPS_TAXONOMY")
    if not folder:
        return None
    p = Path(folder).expanduser().resolve()
    if not ((p / "taxonomy.json").is_file() and (p / "graph.csv").is_file()):
        return None
    src = ws.source
    if src.get("kind") == "folder" and Path(src.get("path", "")).resolve() == p:
        return None
    if not src and ws.has_taxonomy and (p / "taxonomy.json").read_bytes() == (ws.taxonomy_dir / "taxonomy.json").read_bytes():
        return None
    return p

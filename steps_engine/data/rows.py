"""The rows behind the skills: instruction, response and skills of each usable record.

    rows = read_rows(path, mapping, max_rows=200_000)
    rows.of_skills({"recipe_writing"})        # row positions carrying any of these skills
    rows.page(positions, page=0, size=20)     # one page as a list of dicts

The studio reads the rows behind a cluster or a skill with it, and keyword naming
(`taxonomy.naming`) weighs the words of a cluster's rows. Records are streamed once;
texts are cut to `text_chars` and at most `max_rows` usable rows are kept (`truncated`
says when the file had more). Bad rows are counted in `skipped`, never dropped silently.
"""

from __future__ import annotations

import os

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from steps_engine.data.ingest import (
    BadRow,
    FieldMapping,
    SkillFieldError,
    _as_text,
    detect_shape,
    extract_skills,
    extract_text,
    iter_records,
)

__all__ = ["RowTable", "read_rows", "extract_response", "mapping_from_spec"]

_ASSISTANT = {"gpt", "assistant", "bot", "model"}
_TABLE_RESPONSE = ("output", "response", "completion", "answer", "chosen")


def extract_response(record) -> str:
    """The first answer of a record ("" when there is none): the first assistant turn of
    `conversations` / `messages`, else an output / response / completion / answer column."""
    if not isinstance(record, dict):
        return ""
    shape = detect_shape(record)
    if shape in ("infinity", "sharegpt", "openai"):
        turns = record["conversations"] if shape != "openai" else record["messages"]
        who, what = ("role", "content") if shape == "openai" else ("from", "value")
        for turn in turns:
            if isinstance(turn, dict) and str(turn.get(who, "")).lower() in _ASSISTANT:
                return _as_text(turn.get(what))
        return ""
    for key in _TABLE_RESPONSE:
        value = _as_text(record.get(key))
        if value.strip():
            return value
    return ""


@dataclass
class RowTable:
    lines: list[int] = field(default_factory=list)  # 1-based line / record number in the file
    texts: list[str] = field(default_factory=list)
    responses: list[str] = field(default_factory=list)
    skills: list[list[str]] = field(default_factory=list)
    skipped: int = 0  # bad rows and rows without usable skills
    truncated: bool = False  # the file had more usable rows than were kept
    _by_skill: dict[str, list[int]] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.lines)

    @property
    def has_text(self) -> bool:
        return any(t.strip() for t in self.texts)

    def rows_of_skill(self) -> dict[str, list[int]]:
        if self._by_skill is None:
            out: dict[str, list[int]] = {}
            for r, sk in enumerate(self.skills):
                for s in sk:
                    out.setdefault(s, []).append(r)
            self._by_skill = out
        return self._by_skill

    def of_skills(self, skills) -> np.ndarray:
        """Sorted positions of the rows carrying at least one of `skills`."""
        index = self.rows_of_skill()
        hits = [np.asarray(index[s], dtype=np.int64) for s in set(skills) if s in index]
        return np.unique(np.concatenate(hits)) if hits else np.zeros(0, dtype=np.int64)

    def examples(self, per_skill: int = 2) -> dict[str, list[str]]:
        """Up to `per_skill` non-empty instruction texts per skill, rows with fewest skills first."""
        out: dict[str, list[str]] = {}
        for s, rows in self.rows_of_skill().items():
            ranked = sorted((r for r in rows if self.texts[r].strip()), key=lambda r: (len(self.skills[r]), r))
            if ranked:
                out[s] = [self.texts[r] for r in ranked[:per_skill]]
        return out

    def page(self, positions, page: int = 0, size: int = 20) -> list[dict]:
        """Rows `positions[page*size : (page+1)*size]` as {line, instruction, response, skills}."""
        if size < 1 or page < 0:
            raise ValueError(f"page must be >= 0 and size >= 1, got page={page}, size={size}")
        chosen = list(positions)[page * size : (page + 1) * size]
        return [
            {"line": self.lines[r], "instruction": self.texts[r], "response": self.responses[r], "skills": self.skills[r]}
            for r in chosen
        ]


def mapping_from_spec(spec: dict) -> FieldMapping:
    """The FieldMapping recorded in a taxonomy folder's input.json."""
    return FieldMapping(
        skills_field=spec["skills_field"],
        skills_sep=spec.get("skills_sep") or None,
        text_field=spec.get("text_field") or None,
        casefold=bool(spec.get("casefold", False)),
        format=spec.get("format") or None,
    )


def read_rows(path, mapping: FieldMapping, *, max_rows: int = 200_000, text_chars: int = 2000) -> RowTable:
    """Stream `path` once and keep the usable rows (those with skills), up to `max_rows`.
    `path` is any input `ingest` reads (file, folder or glob of shards, URL, in-memory table)."""
    if max_rows < 1 or text_chars < 1:
        raise ValueError(f"max_rows and text_chars must be >= 1, got {max_rows}, {text_chars}")
    if isinstance(path, (str, os.PathLike)) and "://" not in str(path) and not set("*?[") & set(str(path)):
        path = Path(path)
        if not path.exists():
            raise ValueError(f"{path}: not a file")
    table = RowTable()
    for line, rec in iter_records(path, mapping.format):
        if isinstance(rec, BadRow):
            table.skipped += 1
            continue
        try:
            skills = extract_skills(rec, mapping)
        except SkillFieldError:
            table.skipped += 1
            continue
        if not skills:
            table.skipped += 1
            continue
        if len(table) >= max_rows:
            table.truncated = True
            break
        table.lines.append(int(line))
        table.texts.append(extract_text(rec, mapping.text_field)[:text_chars])
        table.responses.append(extract_response(rec)[:text_chars])
        table.skills.append(list(dict.fromkeys(skills)))
    return table

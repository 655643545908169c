"""Output formats, one small class each, behind `ExportFormat`.

Every exported record carries provenance under "metadata" (JSONL formats) or as columns
(Parquet). Formats:
- chat: {"messages": [{"role", "content"}, ...], "metadata": {...}} (TRL SFTTrainer reads `messages`).
- sharegpt: {"conversations": [{"from": "system"|"human"|"gpt", "value"}], "metadata": {...}}.
- alpaca: {"instruction", "input", "output", "metadata"}: instruction = the first user turn,
  output = the final assistant turn, input = the turns in between as a transcript
  ("Assistant: ...\\n\\nUser: ...", empty for a single exchange); a system turn goes to "system".
- parquet: one row per record: id, messages (list of {role, content}), the provenance columns,
  and the judge's verdict as `judge_model`, `judge_score`, `judge_skills` (list of {skill,
  essential, exercised, evidence}), `judge_self_contained`, `judge_correct`, `judge_complete`:
  all null for a record without a verdict (the JSONL formats carry it as `metadata.judge`).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path

from steps_engine._atomic import atomic_open

__all__ = ["ExportFormat", "FORMATS", "get_format"]


class ExportFormat(ABC):
    name: str
    suffix: str

    @abstractmethod
    def convert(self, messages: list[dict], meta: dict) -> dict:
        """One output row."""

    def write(self, rows: list[dict], path: Path) -> None:
        """Write rows atomically (JSON Lines by default)."""
        with atomic_open(path) as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")


class ChatFormat(ExportFormat):
    name, suffix = "chat", ".jsonl"

    def convert(self, messages, meta):
        return {"messages": [{"role": m["role"], "content": m["content"]} for m in messages], "metadata": meta}


class ShareGPTFormat(ExportFormat):
    name, suffix = "sharegpt", ".jsonl"
    ROLES = {"system": "system", "user": "human", "assistant": "gpt"}

    def convert(self, messages, meta):
        return {"conversations": [{"from": self.ROLES[m["role"]], "value": m["content"]} for m in messages], "metadata": meta}


class AlpacaFormat(ExportFormat):
    name, suffix = "alpaca", ".jsonl"
    SPEAKER = {"user": "User", "assistant": "Assistant"}

    def convert(self, messages, meta):
        system = [m["content"] for m in messages if m["role"] == "system"]
        turns = [m for m in messages if m["role"] != "system"]
        middle = turns[1:-1]
        row = {
            "instruction": turns[0]["content"],
            "input": "\n\n".join(f"{self.SPEAKER[m['role']]}: {m['content']}" for m in middle),
            "output": turns[-1]["content"],
        }
        if system:
            row["system"] = system[0]
        row["metadata"] = meta
        return row


class ParquetFormat(ExportFormat):
    name, suffix = "parquet", ".parquet"

    def convert(self, messages, meta):
        return {
            "id": meta["id"],
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "skills": meta["skills"],
            "k": meta["k"],
            "start": meta.get("start"),
            "gain": meta.get("gain"),
            "lca": None if meta.get("lca") is None else str(meta["lca"]),
            "strategy": meta.get("strategy"),
            "scope": None if meta.get("scope") is None else str(meta["scope"]),
            "taxonomy_path": [str(x) for x in meta.get("taxonomy_path") or []],
            "taxonomy_labels": [str(x) for x in meta.get("taxonomy_labels") or []],
            "cluster": meta.get("cluster"),
            "source_ids": [None if s is None else str(s) for s in meta.get("source_ids") or []],
            "model": meta.get("model"),
            "template_hash": meta.get("template_hash"),
            "curriculum_epoch": meta.get("curriculum_epoch"),
            **_judge_columns(meta.get("judge")),
        }

    def schema(self):
        import pyarrow as pa

        text_list = pa.list_(pa.string())
        return pa.schema([
            ("id", pa.string()),
            ("messages", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
            ("skills", text_list),
            ("k", pa.int32()),
            ("start", pa.string()),
            ("gain", pa.float64()),
            ("lca", pa.string()),
            ("strategy", pa.string()),
            ("scope", pa.string()),
            ("taxonomy_path", text_list),
            ("taxonomy_labels", text_list),
            ("cluster", pa.string()),
            ("source_ids", text_list),
            ("model", pa.string()),
            ("template_hash", pa.string()),
            ("curriculum_epoch", pa.int32()),
            ("judge_model", pa.string()),
            ("judge_score", pa.float64()),
            ("judge_skills", pa.list_(pa.struct([("skill", pa.string()), ("essential", pa.bool_()),
                                                 ("exercised", pa.bool_()), ("evidence", pa.string())]))),
            ("judge_self_contained", pa.bool_()),
            ("judge_correct", pa.bool_()),
            ("judge_complete", pa.bool_()),
        ])

    def write(self, rows, path):
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(rows, schema=self.schema())
        with atomic_open(path, "wb") as fh:
            pq.write_table(table, fh)


def _flag(value) -> bool | None:
    return value if isinstance(value, bool) else None


def _judge_columns(verdict) -> dict:
    """The judge columns of one row from `metadata.judge` (None: no verdict, every column null).
    Values of the wrong type (a hand-edited file) become null rather than failing the write."""
    if not isinstance(verdict, dict):
        verdict = {}
    score = verdict.get("score")
    skills = verdict.get("skills")
    rows = None
    if isinstance(skills, dict):
        rows = [{"skill": str(name), "essential": _flag(v.get("essential")), "exercised": _flag(v.get("exercised")),
                 "evidence": None if v.get("evidence") is None else str(v["evidence"])}
                for name, v in skills.items() if isinstance(v, dict)]
    return {
        "judge_model": None if verdict.get("model") is None else str(verdict["model"]),
        "judge_score": float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else None,
        "judge_skills": rows,
        "judge_self_contained": _flag(verdict.get("self_contained")),
        "judge_correct": _flag(verdict.get("correct")),
        "judge_complete": _flag(verdict.get("complete")),
    }


FORMATS: dict[str, type[ExportFormat]] = {
    f.name: f for f in (ChatFormat, ShareGPTFormat, AlpacaFormat, ParquetFormat)
}


def get_format(name: str) -> ExportFormat:
    try:
        return FORMATS[name]()
    except KeyError:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {name!r}") from None

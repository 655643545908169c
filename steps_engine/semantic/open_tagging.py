"""Tag a file with no vocabulary: open LLM tags per record, then canonical tags.

    report = open_tag_file(input_path, out_path, vocab_path, tagger, embedder)

Pass 1 asks `tagger` (e.g. `tagging_llm.LLMOpenTagger` with an `llm.ResponseCache`) for the
open tags of every record, `chunk_records` at a time (the tagger runs its requests
concurrently; each reply is cached as it arrives, so a killed run resumes where it stopped
and asks for nothing twice). `canonical_tags.canonicalise` turns the raw tags of the whole
file into canonical tags. Pass 2 writes every record, in input order, with `out_field` =
its canonical tags and `<out_field>_open` = the raw tags (JSONL, atomic), and `vocab_path`
gets the vocabulary (`Canonicalisation.vocab_txt`: tag, records, absorbed raw tags).
Bad rows are written as {"_bad_row": ..., out_field: []} placeholders, records without
text and records whose request failed get [] and are reported with their line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from steps_engine._atomic import atomic_open, write_text
from steps_engine.semantic.canonical_tags import CanonConfig, Canonicalisation, canonicalise
from steps_engine.semantic.embeddings.base import Embedder

__all__ = ["OpenTagReport", "open_tag_file"]


@dataclass
class OpenTagReport:
    records: int = 0  # rows written (records + bad-row placeholders)
    tagged: int = 0  # records with at least one canonical tag
    no_text: int = 0
    bad_rows: list[str] = field(default_factory=list)
    llm_failed: list[str] = field(default_factory=list)  # "line N: reason"
    untagged_after_canon: int = 0  # records whose raw tags were all dropped as rare
    canon: Canonicalisation | None = None

    def summary(self) -> str:
        text = (f"{self.records} rows written: {self.tagged} tagged, {self.no_text} without text, "
                f"{len(self.bad_rows)} bad rows kept as placeholders, {len(self.llm_failed)} LLM failures")
        if self.untagged_after_canon:
            text += f", {self.untagged_after_canon} left untagged (all their tags were rare and dropped)"
        if self.canon is not None:
            text += f"; {self.canon.summary()}"
        return text


def open_tag_file(
    input_path,
    out_path,
    vocab_path,
    tagger,
    embedder: Embedder,
    canon_config: CanonConfig = CanonConfig(),
    text_field: str | None = None,
    response_field: str | None = None,
    use_response: bool = True,
    out_field: str = "skills",
    chunk_records: int = 64,
    progress=None,
) -> OpenTagReport:
    """See the module docstring. `progress(stage, done, total)` gets stages "llm" (records
    asked so far) and "write"."""
    import orjson

    from steps_engine.data.ingest import BadRow, extract_text, iter_records
    from steps_engine.semantic.tagging import extract_response
    from steps_engine.semantic.tagging_llm import LLMFailure

    if chunk_records < 1:
        raise ValueError(f"chunk_records must be >= 1, got {chunk_records}")
    if not out_field:
        raise ValueError("out_field must be a non-empty string")
    canon_config.validate()
    input_path, out_path, vocab_path = Path(input_path), Path(out_path), Path(vocab_path)
    if len({input_path.resolve(), out_path.resolve(), vocab_path.resolve()}) < 3:
        raise ValueError(f"input {input_path}, output {out_path} and vocabulary {vocab_path} must be three different files")

    report = OpenTagReport()
    raw: list[list[str] | None] = []  # per record (None: bad row, no text or failed)

    def flush(buf):
        keep = [k for k, (_, ins, _) in enumerate(buf) if ins.strip()]
        answers = tagger([buf[k][1] for k in keep], [buf[k][2] for k in keep]) if keep else []
        got = dict(zip(keep, answers))
        for k, (line, ins, _) in enumerate(buf):
            a = got.get(k)
            if isinstance(a, LLMFailure):
                report.llm_failed.append(f"line {line}: {a.reason}")
                raw.append(None)
            else:
                raw.append(a)  # None when there was no text

    buf: list = []
    total = 0
    for line, rec in iter_records(input_path):
        if isinstance(rec, BadRow):
            buf.append((line, "", ""))
        else:
            res = extract_response(rec, response_field) if use_response else ""
            buf.append((line, extract_text(rec, text_field) or "", res))
        total += 1
        if len(buf) >= chunk_records:
            flush(buf)
            buf = []
            if progress is not None:
                progress("llm", total, 0)
    if buf:
        flush(buf)
    if progress is not None:
        progress("llm", total, total)

    canon = canonicalise([r for r in raw if r], embedder, canon_config)
    report.canon = canon
    with atomic_open(out_path, "wb") as fh:
        for i, (line, rec) in enumerate(iter_records(input_path)):
            if isinstance(rec, BadRow):
                report.bad_rows.append(str(rec))
                obj = {"_bad_row": rec.to_json(), out_field: []}
            else:
                tags = raw[i] if i < len(raw) else None
                obj = dict(rec)
                obj[out_field] = canon.apply(tags) if tags else []
                obj[f"{out_field}_open"] = list(tags or [])
                if not (extract_text(rec, text_field) or "").strip():
                    report.no_text += 1
                elif obj[out_field]:
                    report.tagged += 1
                elif tags:
                    report.untagged_after_canon += 1
            fh.write(orjson.dumps(obj) + b"\n")
            report.records += 1
            if progress is not None and report.records % 1000 == 0:
                progress("write", report.records, total)
    write_text(vocab_path, canon.vocab_txt())
    if progress is not None:
        progress("write", report.records, total)
    return report

"""Export synthesis results for training.

`export(results, fmt=..., out=..., curriculum=None, ...) -> ExportReport` reads a results
JSONL file (ok records only; repeated ids resolved by `synthesis.read_results`), converts
each record with a format from `formats` (chat, sharegpt, alpaca, parquet), optionally
orders them with a curriculum (`curriculum`), writes the data atomically and a dataset
card README.md beside it (`card`).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from steps_engine._atomic import refuse_input_as_output
from steps_engine.synthesis.parsing import OutputError, check_messages

from steps_engine.export.card import card_metadata, cluster_of, quality_summary, read_card, render_card, write_card
from steps_engine.export.curriculum import PRESETS, assign_epochs, parse_weights
from steps_engine.export.formats import FORMATS, get_format

__all__ = ["ExportReport", "export", "provenance", "record_problem", "FORMATS", "PRESETS"]

_PROVENANCE = ("id", "skills", "k", "start", "gain", "lca", "strategy", "scope", "taxonomy_path",
               "taxonomy_labels", "model", "template_hash")


def provenance(rec: dict) -> dict:
    meta = {key: rec.get(key) for key in _PROVENANCE}
    meta["k"] = meta["k"] or len(rec["skills"])
    meta["taxonomy_path"] = list(meta["taxonomy_path"] or [])
    meta["taxonomy_labels"] = list(meta["taxonomy_labels"] or [])
    meta["cluster"] = cluster_of(meta)
    # always strings (a record without an id is cited by its line number): mixed types break pyarrow.json
    meta["source_ids"] = [None if s.get("source_id") is None else str(s["source_id"]) for s in rec.get("seeds") or []]
    verdict = (rec.get("quality") or {}).get("judge")
    if isinstance(verdict, dict) and "score" in verdict:  # checked by `steps check` with a judge
        meta["judge"] = {k: verdict.get(k) for k in ("model", "score", "skills", "self_contained", "correct", "complete")}
    if rec.get("generation") is not None:
        meta["generation"] = rec["generation"]
    return meta


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def record_problem(rec: dict) -> str | None:
    """Why an `ok` record cannot be exported (wrong types in its provenance), or None."""
    skills = rec.get("skills")
    if not isinstance(skills, list) or not skills or not all(isinstance(s, str) and s for s in skills):
        return "'skills' must be a non-empty list of strings"
    k = rec.get("k")
    if k is not None and (not _is_int(k) or k != len(skills)):
        return f"'k' must be the integer {len(skills)} (the number of skills), got {k!r}"
    gain = rec.get("gain")
    if gain is not None and (isinstance(gain, bool) or not isinstance(gain, (int, float))):
        return f"'gain' must be a number, got {gain!r}"
    for key in ("taxonomy_path", "taxonomy_labels"):
        if rec.get(key) is not None and not isinstance(rec[key], list):
            return f"{key!r} must be a list, got {type(rec[key]).__name__}"
    seeds = rec.get("seeds")
    if seeds is not None and (not isinstance(seeds, list) or not all(isinstance(s, dict) for s in seeds)):
        return "'seeds' must be a list of objects"
    for key in ("start", "model", "template_hash"):
        if rec.get(key) is not None and not isinstance(rec[key], str):
            return f"{key!r} must be a string, got {rec[key]!r}"
    return None


@dataclass
class ExportReport:
    out: str
    card: str | None
    format: str
    records: int = 0
    statuses: dict = field(default_factory=dict)
    per_k: dict = field(default_factory=dict)
    per_epoch: dict = field(default_factory=dict)
    quality: dict | None = None  # drops per reason and judge scores (checked results only)
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        ks = ", ".join(f"k={k}: {n}" for k, n in sorted(self.per_k.items()))
        return f"{self.records} records -> {self.out} ({self.format}; {ks})" + (f", card {self.card}" if self.card else "")


JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
LICENSE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+-]*")  # the Hub's ids: cc-by-4.0, apache-2.0, openrail++, other


def _refuse_other_format_name(out: Path, exporter) -> None:
    """ValueError when the file name says the other kind of file (JSON lines in a .parquet, or back)."""
    suffix = out.suffix.lower()
    if exporter.suffix == ".parquet" and suffix in JSONL_SUFFIXES or exporter.suffix != ".parquet" and suffix == ".parquet":
        raise ValueError(f"out {str(out)!r} is named {suffix} but --format {exporter.name} writes "
                         f"{'Parquet' if exporter.suffix == '.parquet' else 'JSON lines'}: name it *{exporter.suffix} "
                         "or choose the format the name says")


def _refuse_overwriting_a_non_export(out: Path) -> None:
    """ValueError when `out` is an existing file that is not an export of any format (a results file, a
    taxonomy folder's taxonomy.json, a training set...): an export replaces only an earlier export."""
    if not out.is_file() or out.stat().st_size == 0:
        return
    with open(out, "rb") as fh:
        head = fh.read(4)
        if head == b"PAR1":
            return
        first = head + fh.readline()
    try:
        row = json.loads(first)
    except ValueError:
        row = None
    if isinstance(row, dict) and isinstance(row.get("metadata"), dict) and (
            {"messages", "conversations", "instruction"} & row.keys()):
        return
    raise ValueError(f"out {str(out)!r} exists and is not an export (its first line is no chat, ShareGPT or "
                     "Alpaca row, nor is it Parquet): export to another file, or move that file away")


def export(
    results: str | Path,
    *,
    fmt: str,
    out: str | Path,
    curriculum: str | list | None = None,
    seed: int = 0,
    card: bool = True,
    taxonomy_dir: str | Path | None = None,
    license: str | None = None,
    progress=None,
) -> ExportReport:
    """Write `results` as `fmt` to `out`. `curriculum`: None, a preset name ("steps3"),
    a weights string (see `curriculum.parse_weights`) or a list of per-epoch dicts.
    `taxonomy_dir` (optional) lets the card report coverage of the taxonomy's skills.
    `license` goes into the card's front matter (else the existing card's, else "unknown").
    `progress(done, total)` is called while converting."""
    from steps_engine.synthesis.runner import RESULT_STATUSES, read_results

    exporter = get_format(fmt)
    out = Path(out)
    if out.exists() and out.is_dir():
        raise ValueError(f"out must be a file path, got the folder {str(out)!r}")
    inputs = [results] + ([Path(taxonomy_dir) / "taxonomy.json"] if taxonomy_dir is not None else [])
    refuse_input_as_output(out, inputs)
    _refuse_other_format_name(out, exporter)
    if license is not None and not LICENSE_ID.fullmatch(license):
        raise ValueError(f"license must be a license id such as cc-by-4.0, mit, apache-2.0 or other "
                         f"(letters, digits, . + -), got {license!r}")
    _refuse_overwriting_a_non_export(out)
    if card:
        refuse_input_as_output(out.parent / "README.md", inputs, what="the dataset card")
        if out.name == "README.md":
            raise ValueError(f"out {str(out)!r} is where the dataset card README.md goes: name the data file "
                             "otherwise (e.g. train.jsonl) or export without the card")
    schedule = None
    if curriculum is not None:
        schedule = parse_weights(curriculum) if isinstance(curriculum, str) else list(curriculum)
    card_path = out.parent / "README.md"
    card_kind, card_meta = read_card(card_path) if card else ("none", {})
    tax_skills = _taxonomy_skills(taxonomy_dir) if card and taxonomy_dir is not None else None
    if card_kind == "foreign":
        raise ValueError(f"{card_path} exists and is not a dataset card written by STEPS Studio; "
                         "export to another folder or without the card")
    records, problems = read_results(results)
    statuses = Counter(r.get("status") for r in records)
    usable = []
    for r in records:
        if r.get("status") not in RESULT_STATUSES:
            problems.append(f"{results}: record {r.get('id', '?')}: status {r.get('status')!r} is none of "
                            f"{', '.join(RESULT_STATUSES)}, not exported")
        if r.get("status") != "ok":
            continue
        bad = record_problem(r)
        if bad is not None:
            problems.append(f"{results}: record {r['id']}: {bad}, skipped")
            continue
        try:
            r = {**r, "messages": check_messages(r.get("messages"))}
        except OutputError as exc:
            problems.append(f"{results}: record {r['id']}: {exc}, skipped")
            continue
        usable.append(r)
    metas = [provenance(r) for r in usable]
    pairs = list(zip(metas, usable))
    epochs = Counter()
    if schedule is not None:
        order = assign_epochs([{"k": m["k"], "i": i} for i, m in enumerate(metas)], schedule, seed=seed)
        pairs = []
        for e, item in order:
            m, r = metas[item["i"]], usable[item["i"]]
            m["curriculum_epoch"] = e
            epochs[e] += 1
            pairs.append((m, r))
    rows = []
    for i, (m, r) in enumerate(pairs, 1):
        rows.append(exporter.convert(r["messages"], m))
        if progress is not None and (i % 1000 == 0 or i == len(pairs)):
            progress(i, len(pairs))
    out.parent.mkdir(parents=True, exist_ok=True)
    exporter.write(rows, out)
    report = ExportReport(out=str(out), card=None, format=fmt, records=len(rows), statuses=dict(statuses),
                          per_k=dict(Counter(m["k"] for m, _ in pairs)), per_epoch=dict(epochs), problems=problems)
    report.quality = quality_summary(records, {r["id"] for r in usable})
    if card:
        settings = {
            "format": f"`{fmt}` (`{out.name}`)",
            "curriculum": "none" if schedule is None else f"`{curriculum if isinstance(curriculum, str) else json.dumps(schedule)}` (seed {seed})",
            "source results": f"`{Path(results).name}`",
        }
        meta = card_metadata(card_meta, fmt=fmt, data_file=out.name, folder=out.parent, n_records=len(rows),
                             license=license)
        text = render_card([m for m, _ in pairs], data_file=out.name, fmt=fmt, statuses=statuses, settings=settings,
                           taxonomy_skills=tax_skills, epochs=epochs or None, quality=report.quality, metadata=meta)
        write_card(card_path, text)
        report.card = str(card_path)
    return report


def _taxonomy_skills(taxonomy_dir) -> list[str]:
    """The skills of `taxonomy_dir`/taxonomy.json for the card's coverage (read before anything is written)."""
    from steps_engine.taxonomy.tree import EncodingTree

    tax_path = Path(taxonomy_dir) / "taxonomy.json"
    try:
        return list(EncodingTree.load(tax_path).skills)
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"cannot read {tax_path}: {exc}") from None
    except OSError as exc:
        raise ValueError(f"cannot read {tax_path}: {exc.strerror or exc}") from None

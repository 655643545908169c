"""The OpenAI Batch API end to end: submit the dry run's input files, poll, fetch and import.

A dry run (`steps synthesize --dry-run`) leaves `prompts.jsonl` and one or more Batch input
files in a folder. On that folder:
- `submit(folder, client)` uploads each input file (`files.create`, purpose "batch") and
  creates one batch per file (`batches.create`), recording ids in `batch_state.json`
  (written atomically after every step). It is resumable: a part with a batch is skipped; a
  batch created just before a crash (its id never recorded) is found again through its
  metadata (`steps_sha256`, the input file's hash) with `batches.list`, never created twice.
- `status(folder, client)` retrieves every batch and records its status and counts.
- `fetch(folder, client, out)` downloads the output and error files of finished batches
  (`batch_output-0000i.jsonl`, `batch_errors-0000i.jsonl`) and imports every answer into the
  results file `out` in the same format as a live run (`import_outputs`): records already
  in `out` are skipped, so fetching again writes no duplicates.
The client is any object with the openai client's `files` and `batches` (tests use a
loopback server). API keys are never written: the state holds only ids and statuses.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from steps_engine._atomic import atomic_write, write_json
from steps_engine.synthesis.batch import BATCH_URL, batch_input_files, read_batch_output
from steps_engine.synthesis.run_identity import refuse_foreign

__all__ = ["STATE_FILE", "BatchPart", "submit", "status", "fetch", "import_outputs", "load_state", "openai_client"]

STATE_FILE = "batch_state.json"
FINISHED = ("completed", "failed", "expired", "cancelled")
COMPLETION_WINDOW = "24h"
log = logging.getLogger(__name__)


@dataclass
class BatchPart:
    file: str  # input file name in the folder
    sha256: str
    requests: int
    input_file_id: str | None = None
    batch_id: str | None = None
    status: str | None = None
    counts: dict = field(default_factory=dict)
    output_file_id: str | None = None
    error_file_id: str | None = None
    downloaded: list[str] = field(default_factory=list)  # local output/error files
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return dict(self.__dict__)


def openai_client(api_key: str | None = None, base_url: str | None = None, timeout: float = 120.0):
    """A synchronous openai client (key from $OPENAI_API_KEY when not given)."""
    import os

    from openai import OpenAI

    key = api_key or os.environ.get("OPENAI_API_KEY")
    if not key:
        raise ValueError("no API key: set OPENAI_API_KEY")
    return OpenAI(api_key=key, base_url=base_url or os.environ.get("OPENAI_BASE_URL") or None, timeout=timeout,
                  max_retries=3)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def load_state(folder: str | Path) -> list[BatchPart]:
    """Parts recorded in `folder/batch_state.json`, or fresh ones from the input files there."""
    folder = Path(folder)
    files = batch_input_files(folder)
    if not files:
        raise ValueError(f"{folder}: no batch_input*.jsonl (run `steps synthesize --dry-run` first)")
    recorded = {}
    path = folder / STATE_FILE
    if path.is_file():
        try:
            recorded = {p["file"]: BatchPart(**p) for p in json.loads(path.read_text(encoding="utf-8"))["parts"]}
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: unreadable ({exc}); move it away to start the batches afresh") from None
    parts = []
    for f in files:
        digest = _sha256(f)
        old = recorded.get(f.name)
        if old is not None and old.sha256 == digest:
            parts.append(old)
            continue
        if old is not None and old.batch_id:
            raise ValueError(f"{f}: changed since batch {old.batch_id} was created from it; "
                             f"move {path} away to submit the new files")
        with open(f, "rb") as fh:
            n = sum(1 for line in fh if line.strip())
        parts.append(BatchPart(file=f.name, sha256=digest, requests=n))
    return parts


def _save(folder: Path, parts: list[BatchPart]) -> None:
    write_json(folder / STATE_FILE, {"format": "steps-batch-state/1", "parts": [p.to_json() for p in parts]}, indent=1)


def _find_created(client, part: BatchPart):
    """A batch created earlier for this part (matched by input hash in its metadata)."""
    for b in client.batches.list(limit=100):
        meta = getattr(b, "metadata", None) or {}
        if meta.get("steps_sha256") == part.sha256 and getattr(b, "status", None) not in ("failed", "cancelled"):
            return b
    return None


def submit(folder: str | Path, client, *, metadata: dict | None = None, progress=None) -> list[BatchPart]:
    folder = Path(folder)
    parts = load_state(folder)
    for i, part in enumerate(parts, 1):
        if part.batch_id:
            continue
        found = _find_created(client, part)
        if found is None:
            if part.input_file_id is None:
                with open(folder / part.file, "rb") as fh:
                    part.input_file_id = client.files.create(file=fh, purpose="batch").id
                log.info("%s: uploaded as %s", part.file, part.input_file_id)
                _save(folder, parts)
            found = client.batches.create(
                input_file_id=part.input_file_id, endpoint=BATCH_URL, completion_window=COMPLETION_WINDOW,
                metadata={**(metadata or {}), "steps_part": part.file, "steps_sha256": part.sha256},
            )
        part.batch_id, part.status = found.id, found.status
        log.info("%s: batch %s (%s)", part.file, part.batch_id, part.status)
        _save(folder, parts)
        if progress is not None:
            progress("submit", i, len(parts))
    _save(folder, parts)
    return parts


def status(folder: str | Path, client) -> list[BatchPart]:
    folder = Path(folder)
    parts = load_state(folder)
    for part in parts:
        if not part.batch_id:
            continue
        b = client.batches.retrieve(part.batch_id)
        part.status = b.status
        counts = getattr(b, "request_counts", None)
        part.counts = {k: getattr(counts, k, None) for k in ("total", "completed", "failed")} if counts else {}
        part.output_file_id = getattr(b, "output_file_id", None)
        part.error_file_id = getattr(b, "error_file_id", None)
        errs = getattr(b, "errors", None)
        part.errors = [str(getattr(e, "message", e)) for e in (getattr(errs, "data", None) or [])]
    _save(folder, parts)
    return parts


@dataclass
class FetchReport:
    parts: int = 0
    finished: int = 0
    downloaded: list[str] = field(default_factory=list)
    imported: dict = field(default_factory=dict)  # status -> records written
    skipped: int = 0  # answers already in the results file
    pending: list[str] = field(default_factory=list)  # batch ids not finished yet
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return dict(self.__dict__)

    def summary(self) -> str:
        got = ", ".join(f"{v} {k}" for k, v in sorted(self.imported.items())) or "nothing new"
        text = f"{self.finished}/{self.parts} batches finished; imported {got}; {self.skipped} already in the results"
        return text + (f"; still running: {', '.join(self.pending)}" if self.pending else "")


def fetch(folder: str | Path, client, out: str | Path, *, wait: float = 0.0, poll_seconds: float = 30.0) -> FetchReport:
    """Download finished batches' files and import them into `out`. `wait` > 0 polls until every
    batch has finished or `wait` seconds have passed."""
    folder = Path(folder)
    if not wait >= 0:
        raise ValueError(f"wait (--wait) must be >= 0 seconds, got {wait}")
    if not poll_seconds > 0:  # 0 would ask the Batch API for every status in a tight loop
        raise ValueError(f"poll_seconds (--poll) must be > 0 seconds, got {poll_seconds}")
    parts = status(folder, client)
    if parts and not any(p.batch_id for p in parts):
        raise ValueError(f"{folder}: no batch was submitted yet (run `steps batch submit {folder}` first)")
    deadline = time.monotonic() + wait
    while not all(p.status in FINISHED for p in parts if p.batch_id) and time.monotonic() < deadline:
        time.sleep(min(poll_seconds, max(deadline - time.monotonic(), 0)))
        parts = status(folder, client)
    report = FetchReport(parts=len(parts))
    for i, part in enumerate(parts, 1):
        if not part.batch_id:
            report.problems.append(f"{part.file}: not submitted (run `steps batch submit` first)")
            continue
        if part.status not in FINISHED:
            report.pending.append(part.batch_id)
            continue
        report.finished += 1
        report.problems += [f"batch {part.batch_id}: {e}" for e in part.errors]
        for kind, fid in (("output", part.output_file_id), ("errors", part.error_file_id)):
            name = f"batch_{kind}-{i:05d}.jsonl"
            if fid and name not in part.downloaded:
                atomic_write(folder / name, client.files.content(fid).read())
                log.info("batch %s: downloaded %s", part.batch_id, name)
                part.downloaded.append(name)
                report.downloaded.append(name)
                _save(folder, parts)
    files = [folder / n for p in parts for n in p.downloaded]
    if files:
        import_outputs(folder / "prompts.jsonl", files, out, report)
    return report


class _PromptJob:
    """A job rebuilt from a prompts.jsonl line: its id and the provenance written at dry-run time."""

    def __init__(self, row: dict):
        self.id = row["id"]
        self.row = row

    def provenance(self, model: str, template_hash_: str) -> dict:
        return {k: v for k, v in self.row.items() if k != "messages"}


def import_outputs(prompts: str | Path, outputs: list[Path], out: str | Path, report: FetchReport | None = None):
    """Turn Batch output/error files into result records appended to `out` (ids already there skipped)."""
    from steps_engine.synthesis.runner import ResultsFile, _Outcome

    report = report if report is not None else FetchReport()
    prompts = Path(prompts)
    if not prompts.is_file():
        raise ValueError(f"{prompts}: not found; the Batch answers are matched to the dry run's prompts.jsonl")
    rows = {}
    with open(prompts, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    row = json.loads(line)
                    rows[row["id"]] = row
                except (ValueError, KeyError, TypeError):
                    report.problems.append(f"{prompts}: line {n}: not a prompt record, skipped")
    answers = {}
    for path in outputs:
        got, problems = read_batch_output(path)
        report.problems += problems
        for cid, answer in got.items():
            if cid not in answers or answers[cid][0] is None:  # an answer beats an error for the same id
                answers[cid] = answer
    stray = [cid for cid in answers if cid not in rows]
    if stray:
        report.problems.append(f"{len(stray)} answer(s) match no prompt in {prompts} (e.g. {stray[0]!r}), skipped")
    runs = {row.get("run") for row in rows.values()}
    run = runs.pop() if len(runs) == 1 else None  # the dry run's fingerprint (None before fingerprints)

    def accept(path, records, foreign, size):
        note = refuse_foreign(path, records, foreign, run=run, nonempty=size > 0)
        if note:
            report.problems.append(note)

    with ResultsFile(out, accept=accept) as writer:
        report.problems += writer.problems
        done = {r["id"] for r in writer.records}
        model = next((r.get("model") for r in rows.values()), "")
        outcome = _Outcome(model, "", writer.records, ())
        for cid, (completion, error) in answers.items():
            if cid not in rows:
                continue
            if cid in done:
                report.skipped += 1
                continue
            rec = outcome.record(_PromptJob(rows[cid]), completion, error, retries=0, cached=False, source="batch")
            writer.append(rec)
            done.add(cid)
            report.imported[rec["status"]] = report.imported.get(rec["status"], 0) + 1
    return report

"""The Data page's input: what `steps taxonomy INPUT` reads, chosen in the studio.

    local_input(text)           a local file, a folder of shards or a glob -> DataInput
    store_uploads(ws, files)    uploaded [(name, bytes)] kept in the workspace -> DataInput
                                (one file as before; several: one folder of shards)
    input_summary(inp)          per file: name, bytes, rows, unreadable rows (rows counted up to
                                a cap, cached by the files' sizes and modification times)

Uploaded names never choose where a file goes: every shard is written by
`state.store_upload` under a content-hash name inside `WS/uploads`, and the folder of a
multi-file upload is named by the hashes of its files.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from steps_engine.curation.workspace import Workspace
from steps_engine.studio.state import safe_base_name, store_upload

__all__ = ["DataInput", "local_input", "store_uploads", "input_summary", "summary_line", "MAX_COUNTED_ROWS"]

MAX_COUNTED_ROWS = 200_000  # the preview counts rows up to this many (a full count is the build's job)
_GLOB = set("*?[")


@dataclass(frozen=True)
class DataInput:
    source: str  # what ingest reads: one file, a folder of shards or a glob
    files: tuple[str, ...]  # the shards it resolves to, in read order
    sizes: tuple[int, ...]
    mtimes: tuple[int, ...]
    label: str  # a short name for messages
    notes: tuple[str, ...] = ()

    @property
    def token(self) -> tuple:
        """Changes when the input (or any shard's size or modification time) changes."""
        return self.source, self.files, self.sizes, self.mtimes


def _resolve(source: str, label: str, notes: tuple[str, ...] = ()) -> DataInput:
    from steps_engine.data.sources import SourceError, resolve

    try:
        shards = resolve(source)
    except SourceError as exc:
        raise ValueError(str(exc)) from None
    stats = [os.stat(sh.path) for sh in shards]
    return DataInput(source=source, files=tuple(sh.path for sh in shards), sizes=tuple(s.st_size for s in stats),
                     mtimes=tuple(s.st_mtime_ns for s in stats), label=label, notes=notes)


def local_input(text: str) -> DataInput:
    """A path typed into the Data page: a file, a folder of data files (read recursively,
    hidden and `_` names skipped) or a glob such as `/data/train-*.jsonl`."""
    text = (text or "").strip()
    if "://" in text:
        raise ValueError(f"{text}: a URL; the studio reads local paths (build from a URL with "
                         f"`steps taxonomy {text}` and open the folder it writes)")
    p = Path(text).expanduser()
    if not (p.is_file() or p.is_dir() or _GLOB & set(text)):
        raise ValueError(f"{p} is not a file, a folder of data files or a pattern matching files")
    label = p.name + ("/" if p.is_dir() else "")
    return _resolve(str(p), label or str(p))


def store_uploads(ws: Workspace, files: Sequence[tuple[str, bytes]]) -> DataInput:
    """Keep uploaded files in the workspace as one input. One file: `WS/uploads/<hash>-<name>`
    (as `store_upload` always did). Several: the shards of the folder
    `WS/uploads/set-<hash of their stored names>/`, each `<hash>-<name>`, read in name order;
    a file with the same bytes as an earlier one is read once (noted in `notes`)."""
    files = list(files)
    if not files:
        raise ValueError("no file uploaded")
    if len(files) == 1:
        name, data = files[0]
        path = store_upload(ws, name, data)
        return _resolve(str(path), safe_base_name(name))
    seen: dict[str, str] = {}  # content hash -> the base name kept
    keep, notes = [], []
    for name, data in files:
        digest = hashlib.sha256(data).hexdigest()[:16]
        if digest in seen:
            notes.append(f"{safe_base_name(name)} has the same content as {seen[digest]}: read once")
            continue
        seen[digest] = safe_base_name(name)
        keep.append((name, data))
    # the folder is named by exactly the files it holds (hash and stored name of each)
    group = hashlib.sha256("\n".join(sorted(f"{d}-{n}" for d, n in seen.items())).encode()).hexdigest()[:16]
    folder = f"set-{group}"
    stored = {store_upload(ws, name, data, folder=folder).name: safe_base_name(name) for name, data in keep}
    inp = _resolve(str(ws.path("uploads", folder)), f"{len(seen)} uploaded files", tuple(notes))
    read = {Path(f).name for f in inp.files}
    lost = [base for stored_name, base in stored.items() if stored_name not in read]
    if lost:  # a shard the folder reader would not pick up
        raise ValueError(f"cannot tell the format of {', '.join(lost)} from the name; "
                         "name the files .jsonl, .json, .csv, .tsv or .parquet")
    return inp


@functools.lru_cache(maxsize=32)
def _count(path: str, size: int, mtime: int, cap: int) -> tuple[int, int]:
    from steps_engine.data.ingest import BadRow, iter_records
    from steps_engine.data.sources import resolve

    (shard,) = resolve(path)
    good = bad = 0
    for _, rec in iter_records(path, shard.format):
        if isinstance(rec, BadRow):
            bad += 1
        else:
            good += 1
        if good + bad >= cap:
            break
    return good, bad


def input_summary(inp: DataInput, max_rows: int = MAX_COUNTED_ROWS) -> list[dict]:
    """[{"file", "bytes", "rows", "unreadable", "capped"}] per shard; counting stops after
    `max_rows` records over the whole input (later files then show rows None)."""
    out, left = [], max_rows
    for path, size, mtime in zip(inp.files, inp.sizes, inp.mtimes):
        row = {"file": Path(path).name, "bytes": size, "rows": None, "unreadable": None, "capped": left <= 0}
        if left > 0:
            good, bad = _count(path, size, mtime, left)
            row.update(rows=good, unreadable=bad, capped=good + bad >= left)
            left -= good + bad
        out.append(row)
    return out


def summary_line(inp: DataInput, rows: list[dict]) -> str:
    """'2 files, 3.1 kB: 40 rows (1 unreadable)'; '≥ N rows' when counting stopped at the cap."""
    total = sum(r["bytes"] for r in rows)
    size = f"{total / 1e6:.1f} MB" if total >= 1e5 else f"{total / 1e3:.1f} kB"
    good = sum(r["rows"] or 0 for r in rows)
    bad = sum(r["unreadable"] or 0 for r in rows)
    capped = any(r["capped"] for r in rows)
    n = len(rows)
    text = f"{n:,} file{'s' if n != 1 else ''}, {size}: {'≥ ' if capped else ''}{good:,} rows"
    return text + (f" ({bad:,} unreadable)" if bad else "") + (" (counting stopped here; the build reads all)"
                                                                if capped else "")


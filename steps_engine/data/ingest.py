"""Read skill-tagged instruction data into skill counts and a skill graph.

Formats: JSONL (.jsonl/.ndjson), JSON array (.json), CSV/TSV (.csv/.tsv), Parquet (.parquet/.pq),
Arrow (`datasets` save_to_disk folders). Record shapes: Infinity-Instruct, ShareGPT, OpenAI
messages, Alpaca, or any table.

Inputs (`source`): a file, an fsspec URL, a folder or glob of shards, `.gz`/`.bz2`/`.zst`
compression, a list of these (see `sources.resolve`), or in memory a `datasets.Dataset`,
`pandas.DataFrame`, `pyarrow.Table` or iterable of dicts. With several shards a bad row names
its shard (`BadRow.file`) and its line in that shard.

Streaming: JSONL and CSV are read line by line in binary and decoded per line, so one bad byte
sequence loses only its row; Parquet is read in record batches. A JSON array is loaded whole
(with a per-element fallback parser when the document is damaged).

Bad rows never raise: they come back as `BadRow(line, reason)`, where `reason` is
"<kind>: <detail>" and <kind> is one of `REASONS`. `line` is the 1-based line number in the
file for JSONL/CSV (unit "line") and the 1-based record index for JSON arrays and Parquet
(unit "record"). Whole-file problems (missing file, unreadable Parquet, CSV without a header)
raise `IngestError`. Blank lines are not records and are ignored.

Rows that are used but changed are noted (`IngestReport.noted`, kinds `NOTES`): a row with more
than `FieldMapping.max_skills` skills (default 64) counts only its first 64, so one row cannot
add millions of pairs; null items in a skills list are dropped.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import logging
import os
import re
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from steps_engine.data import sources as _sources
from steps_engine.data.cooccurrence import CooccurrenceCounter, CooccurrenceCounts

try:
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - orjson is a dependency; json is the fallback
    _loads = json.loads
# Both parsers raise ValueError subclasses (JSONDecodeError, UnicodeDecodeError) on bad input.

__all__ = [
    "FORMATS",
    "REASONS",
    "BadRow",
    "FieldMapping",
    "IngestError",
    "IngestReport",
    "SkillFieldError",
    "count_records",
    "count_skills",
    "describe_source",
    "detect_format",
    "detect_shape",
    "check_input_file",
    "extract_skills",
    "extract_text",
    "get_field",
    "split_path",
    "iter_records",
    "preview",
]

FORMATS = ("jsonl", "json", "csv", "parquet", "arrow")
_EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".arrow": "arrow",
}
# Kinds of bad row, the prefix of every BadRow.reason and the keys of skipped_by_reason.
REASONS = (
    "invalid JSON",
    "not UTF-8",
    "not a JSON object",
    "invalid CSV",
    "wrong number of columns",
    "missing field",
    "empty field",
    "wrong type",
    "invalid list string",
)
# Kinds of note: rows used, but not as they were (the prefix of every note's reason).
NOTES = ("truncated", "null items")
MAX_SKILLS_PER_ROW = 64  # default cap: a row of k skills adds k(k-1)/2 pairs (64 -> 2,016)
MAX_EXAMPLES = 1000  # BadRow examples kept in a report; counts stay exact
log = logging.getLogger(__name__)
_BOM = b"\xef\xbb\xbf"
_SURROGATE = re.compile("[\udc80-\udcff]")


class IngestError(ValueError):
    """The input as a whole cannot be read (missing file, unreadable Parquet, no CSV header)."""


class SkillFieldError(ValueError):
    """A record's skills field is missing, empty or of the wrong type; `reason` says which."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class BadRow:
    line: int  # 1-based line in the file (unit "line") or record index (unit "record")
    reason: str  # "<kind>: <detail>", kind one of REASONS
    unit: str = "line"
    file: str | None = None  # the shard, when the input has several

    @property
    def kind(self) -> str:
        return self.reason.split(":", 1)[0]

    def __str__(self) -> str:
        return (f"{self.file}: " if self.file else "") + f"{self.unit} {self.line}: {self.reason}"

    def to_json(self) -> dict:
        d = asdict(self)
        if d["file"] is None:
            del d["file"]
        return d


@dataclass
class FieldMapping:
    skills_field: str
    skills_sep: str | None = None
    text_field: str | None = None
    casefold: bool = False
    format: str | None = None
    max_skills: int | None = MAX_SKILLS_PER_ROW  # skills counted per row (the first ones); None = all

    def __post_init__(self):
        if not isinstance(self.skills_field, str) or not self.skills_field.strip():
            raise ValueError(f"skills_field must be a non-empty dotted path, got {self.skills_field!r}")
        split_path(self.skills_field)  # ValueError for an unclosed ["..."]
        if self.max_skills is not None and (isinstance(self.max_skills, bool) or not isinstance(self.max_skills, int)
                                            or self.max_skills < 2):
            raise ValueError(f"max_skills must be an integer >= 2 or None, got {self.max_skills!r}")
        if self.skills_sep is not None and (not isinstance(self.skills_sep, str) or self.skills_sep == ""):
            raise ValueError(f"skills_sep must be a non-empty string or None, got {self.skills_sep!r}")
        if self.text_field is not None and (not isinstance(self.text_field, str) or not self.text_field.strip()):
            raise ValueError(f"text_field must be a non-empty dotted path or None, got {self.text_field!r}")
        if self.format is not None and self.format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)} or None, got {self.format!r}")


@dataclass
class IngestReport:
    path: str
    rows_read: int = 0  # records seen (blank lines excluded)
    rows_used: int = 0  # records with at least one skill
    rows_skipped: int = 0
    skipped: list[BadRow] = field(default_factory=list)  # the first MAX_EXAMPLES
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    distinct_skills: int = 0
    single_skill_rows: int = 0  # used rows with exactly one skill (count toward n_i, no pairs)
    seconds: float = 0.0
    format: str = ""
    noted: list[BadRow] = field(default_factory=list)  # used rows that were changed (the first MAX_EXAMPLES)
    noted_by_reason: dict[str, int] = field(default_factory=dict)  # kinds of NOTES -> rows
    shards: list[dict] = field(default_factory=list)  # [{"path", "sha256"}] when the input is several files

    def add_bad(self, bad: BadRow) -> None:
        self.rows_skipped += 1
        kind = bad.kind
        self.skipped_by_reason[kind] = self.skipped_by_reason.get(kind, 0) + 1
        if len(self.skipped) < MAX_EXAMPLES:
            self.skipped.append(bad)

    def add_note(self, note: BadRow) -> None:
        kind = note.kind
        self.noted_by_reason[kind] = self.noted_by_reason.get(kind, 0) + 1
        if len(self.noted) < MAX_EXAMPLES:
            self.noted.append(note)

    def summary(self) -> str:
        """One line for logs and the CLI."""
        text = f"{self.rows_read} rows read, {self.rows_used} used, {self.rows_skipped} skipped"
        if self.skipped_by_reason:
            text += " (" + ", ".join(f"{k}: {v}" for k, v in sorted(self.skipped_by_reason.items())) + ")"
        text += f", {self.distinct_skills} skills, {self.single_skill_rows} single-skill rows"
        if self.noted_by_reason:
            text += "; rows changed: " + ", ".join(f"{k}: {v}" for k, v in sorted(self.noted_by_reason.items()))
        return text

    def to_json(self) -> dict:
        d = asdict(self)
        d["skipped"] = [b.to_json() for b in self.skipped]
        d["noted"] = [b.to_json() for b in self.noted]
        if not d["shards"]:
            del d["shards"]
        return d

    @classmethod
    def from_json(cls, data: dict) -> "IngestReport":
        data = dict(data)
        data["skipped"] = [BadRow(**b) for b in data.get("skipped", [])]
        data["noted"] = [BadRow(**b) for b in data.get("noted", [])]
        return cls(**data)


# ---------------------------------------------------------------------------------------------
# Reading records


def file_sha256(path, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes, read in chunks (the taxonomy folder records it in input.json)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def check_input_file(path) -> None:
    """IngestError naming what `path` is when it is not a readable regular file: missing, a
    dangling link, a symlink loop, a folder, a FIFO, a device (/dev/null), unreadable."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        if p.is_symlink():
            raise IngestError(f"{p}: a symbolic link to {os.readlink(p)!r}, which does not exist") from None
        raise IngestError(f"input file not found: {p}: no such file") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise IngestError(f"{p}: a symbolic link loop (the links never reach a file)") from None
        raise IngestError(f"{p}: cannot be read ({exc.strerror or exc})") from None
    mode = st.st_mode
    if stat.S_ISREG(mode):
        if not os.access(p, os.R_OK):
            raise IngestError(f"{p}: permission denied")
        return
    what = ("a folder" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode)
            else "a character device (like /dev/null)" if stat.S_ISCHR(mode) else "a block device" if stat.S_ISBLK(mode)
            else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
    hint = "" if stat.S_ISDIR(mode) else " (save the stream to a file first)"
    raise IngestError(f"input {p} is {what}, expected a file{hint}")


def detect_format(path) -> str:
    """Format from the file extension; ValueError for an unknown one."""
    suffix = Path(path).suffix.lower()
    try:
        return _EXTENSIONS[suffix]
    except KeyError:
        raise ValueError(
            f"cannot tell the format of {str(path)!r} from its extension {suffix!r}; "
            f"expected one of {', '.join(sorted(_EXTENSIONS))}"
        ) from None


def iter_records(path, fmt: str | None = None) -> Iterator[tuple[int, dict | BadRow]]:
    """Yield (line, record) or (line, BadRow) for every record of the input, streaming.
    With several shards (or an in-memory input) `line` of a good record is its 1-based index
    over the whole input; a BadRow keeps its shard and the line in it."""
    multi = None
    index = 0
    for line, rec, _, _, file in _iter_source(path, fmt):
        index += 1
        if multi is None:
            multi = file is not None
        yield (index if multi and type(rec) is not BadRow else line), rec


def _iter_with_pos(path, fmt: str | None, fields: tuple[str, ...] | None = None):
    """(line, record, bytes consumed so far, unit of `line`) for one input (see `_iter_source`)."""
    for line, rec, pos, unit, _ in _iter_source(path, fmt, fields):
        yield line, rec, pos, unit


def _iter_source(source, fmt: str | None, fields: tuple[str, ...] | None = None):
    """(line, record or BadRow, raw bytes read so far, unit, shard name or None) over every shard.
    The shard name is None for a single plain file. `fields` (dotted paths) lets Parquet and
    Arrow read only the columns they start with."""
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if _sources.is_in_memory(source):
        for i, rec in enumerate(_sources.object_records(source), 1):
            if type(rec) is not dict:
                rec = BadRow(i, f"not a JSON object: got {_type_name(rec)}", "record", "memory")
            yield i, rec, 0, "record", "memory"
        return
    shards = _shards(source, fmt)
    single = len(shards) == 1 and shards[0].is_local and shards[0].compression is None
    offset = 0
    for shard in shards:
        name = None if single else shard.name
        for line, rec, pos, unit in _iter_shard(shard, fields):
            if name is not None and type(rec) is BadRow:
                rec.file = name
            yield line, rec, offset + pos, unit, name
        offset += shard.size


def _shards(source, fmt: str | None) -> list:
    if isinstance(source, (str, os.PathLike)):
        s = os.fspath(source)
        if "://" not in s and not os.path.isdir(s) and not (set("*?[") & set(s) and not os.path.exists(s)):
            check_input_file(s)  # names a FIFO, a device, a symlink loop, a missing file
    try:
        return _sources.resolve(source, fmt)
    except _sources.SourceError as exc:
        raise IngestError(str(exc)) from None


def _iter_shard(shard, fields):
    fmt = shard.format
    if shard.is_local and shard.compression is None:
        path = Path(shard.path)
        check_input_file(path)
        if path.stat().st_size == 0:
            return
        if fmt == "jsonl":
            with open(path, "rb") as fh:
                yield from _iter_jsonl(fh)
        elif fmt == "json":
            yield from _iter_json(path)
        elif fmt == "csv":
            yield from _iter_csv(path)
        elif fmt == "parquet":
            yield from _iter_parquet(path, fields)
        else:
            yield from _iter_arrow(shard, fields)
        return
    if fmt == "arrow":
        yield from _iter_arrow(shard, fields)
        return
    try:
        with _sources.open_binary(shard) as (fh, counter):
            if fmt == "jsonl":
                for line, rec, _, unit in _iter_jsonl(fh):
                    yield line, rec, counter.n, unit
            elif fmt == "json":
                yield from ((a, b, shard.size, u) for a, b, _, u in _iter_json(shard.path, fh.read()))
            elif fmt == "csv":
                yield from _iter_csv(Path(shard.name), fh, counter)
            else:  # parquet needs random access: a compressed or remote one is read into memory
                yield from _iter_parquet(Path(shard.name), fields, source=io.BytesIO(fh.read()), total=shard.size)
    except (OSError, EOFError) as exc:
        raise IngestError(f"{shard.path}: cannot read ({exc})") from None


def _json_bad(raw: bytes, exc: Exception) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return f"not UTF-8: invalid byte 0x{raw[e.start]:02x} at byte {e.start + 1} of the line"
    msg = str(exc).split("\n")[0]
    # the parser counts lines inside this one line (its newline included): give the character
    # offset instead, so "line 7: ... line 2 column 1" cannot be misread as file line 2
    msg = re.sub(r"line \d+ column \d+ \(char (\d+)\)", lambda m: f"at character {int(m.group(1)) + 1} of the line", msg)
    return f"invalid JSON: {msg}"


def _iter_jsonl(fh, first_line: int = 1):
    pos = 0
    loads = _loads
    for n, raw in enumerate(fh, first_line):
        pos += len(raw)
        if n == 1 and raw.startswith(_BOM):
            raw = raw[3:]
        try:
            rec = loads(raw)
        except ValueError as exc:
            if raw.strip():
                yield n, BadRow(n, _json_bad(raw, exc)), pos, "line"
            continue
        if type(rec) is dict:
            yield n, rec, pos, "line"
        else:
            yield n, BadRow(n, f"not a JSON object: got {_type_name(rec)}"), pos, "line"


def _iter_json(path: Path, data: bytes | None = None):
    data = Path(path).read_bytes() if data is None else data
    total = len(data)
    body = data[3:] if data.startswith(_BOM) else data
    if not body.strip():
        return
    try:
        doc = _loads(body)
    except ValueError:
        first = body.lstrip()[:1]
        if first == b"[":
            yield from _walk_json_array(body, total)
        else:  # JSON Lines saved as .json, or a damaged single object
            yield from _iter_jsonl(io.BytesIO(body))
        return
    del data, body
    if isinstance(doc, dict):
        yield 1, doc, total, "record"
        return
    if not isinstance(doc, list):
        yield 1, BadRow(1, f"not a JSON object: the document is {_type_name(doc)}", "record"), total, "record"
        return
    n_items = max(len(doc), 1)
    for i, rec in enumerate(doc, 1):
        pos = total * i // n_items
        if type(rec) is dict:
            yield i, rec, pos, "record"
        else:
            yield i, BadRow(i, f"not a JSON object: got {_type_name(rec)}", "record"), pos, "record"


def _walk_json_array(body: bytes, total: int):
    """Element-by-element parse of a damaged JSON array: keeps the good elements before the
    damage, reports bad bytes per element, and stops at the first element it cannot parse."""
    text = body.decode("utf-8", errors="surrogateescape")
    dec = json.JSONDecoder()
    ws = re.compile(r"\s*")
    pos = ws.match(text, 0).end() + 1  # after '['
    pos = ws.match(text, pos).end()
    if text[pos : pos + 1] == "]":
        return
    i = 0
    while True:
        i += 1
        try:
            rec, end = dec.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            yield i, BadRow(
                i,
                f"invalid JSON: record starting at file line {text.count(chr(10), 0, pos) + 1}: "
                f"{e.msg.removesuffix(' at')} at file line {e.lineno} column {e.colno}; "
                "the rest of the array could not be read",
                "record",
            ), total, "record"
            return
        if _SURROGATE.search(text, pos, end):
            yield i, BadRow(i, "not UTF-8: invalid bytes inside the record", "record"), end, "record"
        elif isinstance(rec, dict):
            yield i, rec, end, "record"
        else:
            yield i, BadRow(i, f"not a JSON object: got {_type_name(rec)}", "record"), end, "record"
        pos = ws.match(text, end).end()
        sep = text[pos : pos + 1]
        if sep == "]":
            return
        if sep != ",":
            line = text.count("\n", 0, pos) + 1
            what = "end of file" if not sep else repr(sep)
            yield i + 1, BadRow(
                i + 1,
                f"invalid JSON: expected ',' or ']' but found {what} at file line {line}; "
                "the rest of the array could not be read",
                "record",
            ), total, "record"
            return
        pos = ws.match(text, pos + 1).end()


def _decoded_lines(fh, state: dict):
    """Decode a binary file line by line; undecodable bytes become surrogates (flagged later)."""
    for n, raw in enumerate(fh, 1):
        state["pos"] += len(raw)
        if n == 1 and raw.startswith(_BOM):
            raw = raw[3:]
        yield raw.decode("utf-8", errors="surrogateescape")


def _iter_csv(path: Path, stream=None, counter=None):
    """CSV/TSV from `path`, or from an open binary `stream` (then `path` is only its name and
    `counter.n` the raw bytes read, for progress)."""
    if csv.field_size_limit() < 2**31 - 1:
        csv.field_size_limit(2**31 - 1)  # process-wide; the default 128 KiB rejects long cells
    if stream is None:
        with open(path, "rb") as fh:
            first = fh.readline()
        with open(path, "rb") as fh:
            yield from _iter_csv_rows(path, fh, first, None)
    else:
        first = stream.readline()
        yield from _iter_csv_rows(path, stream, first, counter)


def _iter_csv_rows(path: Path, fh, first: bytes, counter):
    tabbed = ".tsv" in [s.lower() for s in path.suffixes] or (b"\t" in first and b"," not in first)
    delimiter = "\t" if tabbed else ","
    state = {"pos": 0}
    if counter is not None:
        fh = _chain_first(first, fh)
    reader = csv.reader(_decoded_lines(fh, state), delimiter=delimiter)
    header = None
    last = 0  # reader.line_num after the previous record
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            start, last = last + 1, reader.line_num
            if header is None:
                raise IngestError(f"{path}: line {start}: cannot read the CSV header ({exc})") from None
            yield start, BadRow(start, f"invalid CSV: {exc}"), _pos(state, counter), "line"
            continue
        start, last = last + 1, reader.line_num
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank line
        if header is None:
            if any(_SURROGATE.search(c) for c in row):
                raise IngestError(f"{path}: line {start}: the CSV header is not UTF-8")
            header = [h.strip() for h in row]
            continue
        if any(_SURROGATE.search(c) for c in row):
            col = next(i for i, c in enumerate(row) if _SURROGATE.search(c))
            name = header[col] if col < len(header) else f"#{col + 1}"
            yield start, BadRow(start, f"not UTF-8: invalid bytes in column {name!r}"), _pos(state, counter), "line"
        elif len(row) != len(header):
            yield start, BadRow(
                start, f"wrong number of columns: expected {len(header)}, got {len(row)}"
            ), _pos(state, counter), "line"
        else:
            yield start, dict(zip(header, row)), _pos(state, counter), "line"


def _chain_first(first: bytes, fh):
    """The stream again with its already-read first line in front."""
    yield first
    yield from fh


def _pos(state: dict, counter) -> int:
    return state["pos"] if counter is None else counter.n


def _columns(names: list[str], fields: tuple[str, ...] | None) -> list[str] | None:
    if not fields:
        return None
    wanted = {f for f in fields if f in names} | {split_path(f)[0] for f in fields}
    return [c for c in names if c in wanted] or None


def _iter_parquet(path: Path, fields: tuple[str, ...] | None = None, batch_size: int = 16_384,
                  source=None, total: int | None = None, row_groups: list[int] | None = None, first: int = 1):
    """`source`: an open file instead of `path`; `row_groups` reads only those (numbering records
    from `first`): a block of a Ray run."""
    import pyarrow.parquet as pq

    total = path.stat().st_size if total is None else total
    try:
        pf = pq.ParquetFile(path if source is None else source)
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise IngestError(f"{path}: not a readable Parquet file ({exc})") from None
    n_total = max(pf.metadata.num_rows, 1)
    columns = _columns(pf.schema_arrow.names, fields)
    i = first - 1
    for batch in pf.iter_batches(batch_size=batch_size, columns=columns, row_groups=row_groups):
        for rec in batch.to_pylist():
            i += 1
            yield i, rec, total * i // n_total, "record"


def _iter_arrow(shard, fields):
    """An Arrow IPC stream (what `datasets` save_to_disk writes) or file, in record batches."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    i = 0
    with _sources.open_binary(shard) as (fh, counter):
        try:
            reader = ipc.open_stream(pa.PythonFile(fh, mode="r"))
            batches = iter(reader)
            names = reader.schema.names
        except Exception as exc:  # pyarrow raises several types for a bad file
            raise IngestError(f"{shard.path}: not a readable Arrow stream ({exc})") from None
        columns = _columns(names, fields)
        for batch in batches:
            if columns is not None:
                batch = batch.select(columns)
            for rec in batch.to_pylist():
                i += 1
                yield i, rec, counter.n, "record"


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# ---------------------------------------------------------------------------------------------
# Fields, skills and text

_MISSING = object()  # "no default given" for get_field, and "not JSON" for _parse_json_container
_ABSENT = object()  # a default that tells "field missing" apart from null


def _parse_json_container(value: str):
    s = value.strip()
    if (s[:1], s[-1:]) in (("[", "]"), ("{", "}")):
        try:
            return json.loads(s)
        except ValueError:
            return _MISSING
    return _MISSING


def split_path(dotted_path: str) -> list[str]:
    """Parts of a dotted path; a key with dots inside is written in brackets and quotes:
    `meta["a.b"].c` -> ["meta", "a.b", "c"] (also `['a.b']`; a key cannot contain its own quote + ']')."""
    if '["' not in dotted_path and "['" not in dotted_path:
        return dotted_path.split(".")
    parts: list[str] = []
    buf, i, n = "", 0, len(dotted_path)
    while i < n:
        c = dotted_path[i]
        if c == "[" and i + 1 < n and dotted_path[i + 1] in "\"'":
            q = dotted_path[i + 1]
            j = dotted_path.find(q + "]", i + 2)
            if j < 0:
                raise ValueError(f"path {dotted_path!r}: [{q} at character {i + 1} is not closed by {q}]")
            if buf:
                parts.append(buf)
                buf = ""
            parts.append(dotted_path[i + 2 : j])
            i = j + 2
            if i < n and dotted_path[i] == ".":
                i += 1
            elif i < n and dotted_path[i] != "[":
                raise ValueError(f"path {dotted_path!r}: expected '.' or '[' after {q}] at character {i + 1}")
            continue
        if c == ".":
            parts.append(buf)
            buf = ""
        else:
            buf += c
        i += 1
    if buf or not parts or dotted_path.endswith("."):
        parts.append(buf)
    return parts


def get_field(record, dotted_path: str, default=_MISSING):
    """Value at a dotted path ("label.ability_en", "conversations.0.value", 'meta["a.b"]').

    A key that literally contains dots (a CSV column "label.ability_en") is found first; inside a
    nested object, write such a key as `["a.b"]` (see `split_path`).
    A JSON-looking string on the way (a CSV cell holding an object) is parsed with json.loads.
    Raises KeyError naming the missing part, unless `default` is given.
    """
    if not isinstance(dotted_path, str) or not dotted_path:
        raise ValueError(f"dotted_path must be a non-empty string, got {dotted_path!r}")
    if isinstance(record, dict) and dotted_path in record:
        return record[dotted_path]
    cur = record
    done: list[str] = []
    for part in split_path(dotted_path):
        if isinstance(cur, str):
            parsed = _parse_json_container(cur)
            if parsed is not _MISSING:
                cur = parsed
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, (list, tuple)) and _is_index(part) and -len(cur) <= int(part) < len(cur):
            cur = cur[int(part)]
        else:
            if default is not _MISSING:
                return default
            where = ".".join(done) or "the record"
            raise KeyError(f"{dotted_path!r}: no {part!r} in {where} ({_type_name(cur)})")
        done.append(part)
    return cur


def _is_index(part: str) -> bool:
    return part.lstrip("-").isdigit()


def extract_skills(record, mapping: FieldMapping) -> list[str]:
    """The row's skills: trimmed, empties dropped, first occurrence kept, optionally casefolded.

    The field may hold a list of strings, a delimited string (mapping.skills_sep), a JSON-looking
    list string ('["a", "b"]', parsed with json.loads) or a single string (one skill).
    Raises SkillFieldError("missing field: ..." / "empty field: ..." / "wrong type: ..." /
    "invalid list string: ...").
    """
    return _skills_and_nulls(record, mapping)[0]


def _skills_and_nulls(record, mapping: FieldMapping) -> tuple[list[str], int]:
    """extract_skills, plus how many null items the list held (dropped)."""
    name = mapping.skills_field
    value = get_field(record, name, _ABSENT)
    if value is _ABSENT:
        raise SkillFieldError(f"missing field: no {name!r} in the record")
    if value is None:
        raise SkillFieldError(f"empty field: {name!r} is null")
    if isinstance(value, str):
        s = value.strip()
        if s.startswith("[") and s.endswith("]"):
            try:
                value = json.loads(s)
            except ValueError as exc:
                raise SkillFieldError(f"invalid list string: {name!r} looks like a list but is not JSON ({exc})") from None
            if not isinstance(value, list):  # pragma: no cover - "[...]" always parses to a list
                raise SkillFieldError(f"wrong type: {name!r} is {_type_name(value)}")
        elif mapping.skills_sep is not None:
            value = s.split(mapping.skills_sep)
        else:
            value = [s]
    elif not isinstance(value, (list, tuple)):
        raise SkillFieldError(f"wrong type: {name!r} is {_type_name(value)}, expected a list or a string")
    out: dict[str, None] = {}
    fold = mapping.casefold
    nulls = 0
    for k, item in enumerate(value):
        if item is None:
            nulls += 1
            continue
        if not isinstance(item, str):
            raise SkillFieldError(f"wrong type: item {k + 1} of {name!r} is {_type_name(item)}, expected a string")
        item = item.strip()
        if not item:
            continue
        if fold:
            item = item.casefold()
        out[item] = None
    if not out:
        raise SkillFieldError(f"empty field: {name!r} has no skills")
    return list(out), nulls


def detect_shape(record) -> str:
    """"infinity" | "sharegpt" | "openai" | "alpaca" | "table"."""
    if not isinstance(record, dict):
        raise ValueError(f"record must be a dict, got {_type_name(record)}")
    if isinstance(record.get("conversations"), list):
        label = record.get("label")
        if isinstance(label, dict) and "ability_en" in label:
            return "infinity"
        return "sharegpt"
    if isinstance(record.get("messages"), list):
        return "openai"
    if "instruction" in record and ("output" in record or "input" in record):
        return "alpaca"
    return "table"


_USER_SPEAKERS = {"human", "user"}
_TABLE_TEXT = ("prompt", "instruction", "text", "question", "query", "input")


def _as_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # OpenAI content parts: [{"type": "text", "text": ...}, ...]
        parts = [p.get("text", "") if isinstance(p, dict) else p for p in value]
        return "\n".join(p for p in parts if isinstance(p, str) and p)
    return str(value)


def check_text_field(source, text_field: str, sample: int | None = 200, what: str = "--text-field") -> None:
    """ValueError when `text_field` holds text in none of the first `sample` readable records
    (None: all of them); a typo there leaves every seed example and every keyword name without
    text, silently. `what` names the field's flag in the message."""
    seen, fields = 0, set()
    for _, rec in iter_records(source):
        if not isinstance(rec, dict):
            continue
        seen += 1
        if extract_text(rec, text_field).strip():
            return
        fields.update(str(k) for k in rec)
        if sample is not None and seen >= sample:
            break
    if seen:
        shown = ", ".join(sorted(fields)[:12])
        raise ValueError(f"{what} {text_field!r}: no text there in the first {seen} records "
                         f"(their fields: {shown})")


def extract_text(record, text_field: str | None = None) -> str:
    """The instruction text of a record ("" when there is none).

    text_field (dotted) wins; otherwise the first user turn of `conversations`
    (from human/user) or `messages` (role user), Alpaca instruction + input, or a
    table's first non-empty prompt / instruction / text / question / query / input column.
    """
    if text_field:
        return _as_text(get_field(record, text_field, None))
    shape = detect_shape(record)
    if shape in ("infinity", "sharegpt"):
        turns, who, what = record["conversations"], "from", "value"
    elif shape == "openai":
        turns, who, what = record["messages"], "role", "content"
    else:
        turns = None
    if turns is not None:
        for turn in turns:
            if isinstance(turn, dict) and str(turn.get(who, "")).lower() in _USER_SPEAKERS:
                return _as_text(turn.get(what))
        return ""
    if shape == "alpaca":
        text = _as_text(record.get("instruction"))
        extra = _as_text(record.get("input"))
        return f"{text}\n\n{extra}" if extra.strip() else text
    for key in _TABLE_TEXT:
        value = _as_text(record.get(key))
        if value.strip():
            return value
    return ""


# ---------------------------------------------------------------------------------------------
# Whole-file operations


def _resolve_format(path, mapping: FieldMapping) -> str | None:
    """The forced format, if any (else each shard's from its name)."""
    if not isinstance(mapping, FieldMapping):
        raise ValueError(f"mapping must be a FieldMapping, got {type(mapping).__name__}")
    return mapping.format


def _source_label(source) -> str:
    if _sources.is_in_memory(source):
        return f"<{_sources.describe_object(source)}>"
    if isinstance(source, (list, tuple)):
        return ", ".join(_source_label(s) for s in source)
    s = os.fspath(source)
    return s if "://" in s else str(Path(s).resolve())


def describe_source(source, fmt: str | None = None, *, hashes: bool = True) -> dict:
    """What `input.json` records about an input: path (as given, local paths absolute), format,
    and every shard as {"path", "sha256"} (the form the Ray engine writes too). `sha256` is the
    file's own for a single shard, else None (each shard has its own). In-memory inputs cannot
    be found again: {"path": None, "in_memory": kind}."""
    if _sources.is_in_memory(source):
        return {"path": None, "in_memory": _sources.describe_object(source), "format": None, "shards": [],
                "sha256": None}
    shards = _shards(source, fmt)
    rows = [{"path": sh.path, "sha256": _sources.shard_sha256(sh) if hashes else None} for sh in shards]
    formats = {sh.format for sh in shards}
    return {"path": _source_label(source), "format": formats.pop() if len(formats) == 1 else None,
            "shards": rows, "sha256": rows[0]["sha256"] if len(rows) == 1 else None}


def preview(path, mapping: FieldMapping, n: int = 20, text_chars: int = 200) -> list[dict]:
    """First n records as {"line", "text", "skills"} or {"line", "text", "error"} (bad rows too)."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    fmt = _resolve_format(path, mapping)
    out: list[dict] = []
    if n == 0:
        return out
    for line, rec in iter_records(path, fmt):
        if isinstance(rec, BadRow):
            out.append({"line": line, "text": "", "error": rec.reason})
        else:
            text = extract_text(rec, mapping.text_field)
            if len(text) > text_chars:
                text = text[: text_chars - 1] + "…"
            try:
                out.append({"line": line, "text": text, "skills": extract_skills(rec, mapping)})
            except SkillFieldError as exc:
                out.append({"line": line, "text": text, "error": exc.reason})
        if len(out) >= n:
            break
    return out


def count_skills(
    path,
    mapping: FieldMapping,
    progress: Callable[[int, int], None] | None = None,
    chunk_rows: int = 200_000,
) -> tuple[CooccurrenceCounts, IngestReport]:
    """Stream the file once: skill counts, pair counts and a report of what was skipped.

    progress(done_bytes, total_bytes) is called every ~1% of the file and once at the end.
    """
    t0 = time.perf_counter()
    fmt = _resolve_format(path, mapping)
    if _sources.is_in_memory(path):
        total, kinds = 0, {"memory"}
    else:
        shards = _shards(path, fmt)
        total, kinds = sum(sh.size for sh in shards), {sh.format for sh in shards}
    report = IngestReport(path=_source_label(path), format=",".join(sorted(kinds)))
    counter = CooccurrenceCounter(chunk_rows=chunk_rows)
    count_records(_iter_source(path, fmt, (mapping.skills_field,)), mapping, counter, report, progress, total)
    counts = counter.result()
    report.rows_used = counts.n_rows
    report.distinct_skills = counts.n_skills
    report.seconds = time.perf_counter() - t0
    log.info("%s: %s (%.2f s)", report.path, report.summary(), report.seconds)
    if progress is not None:
        progress(total, total)
    return counts, report


def count_records(items, mapping: FieldMapping, counter: CooccurrenceCounter, report: IngestReport,
                  progress: Callable[[int, int], None] | None = None, total: int = 0) -> None:
    """The loop of `count_skills` (shared with `ray_counting`, which runs it per block): add the
    skills of every (line, record, pos, unit[, shard]) to `counter`; bad rows, rows_read and
    single_skill_rows go to `report` (with the shard, when items carry one)."""
    add = counter.add
    step = max(total // 100, 1)
    next_report = step
    rows = single = 0
    cap = mapping.max_skills
    for item in items:
        line, rec, pos, unit = item[:4]
        file = item[4] if len(item) > 4 else None
        rows += 1
        if type(rec) is BadRow:
            report.add_bad(rec)
        else:
            try:
                skills, nulls = _skills_and_nulls(rec, mapping)
            except SkillFieldError as exc:
                report.add_bad(BadRow(line, exc.reason, unit, file))
            else:
                if nulls:
                    report.add_note(BadRow(line, f"null items: {nulls} null item(s) in {mapping.skills_field!r} dropped", unit, file))
                if cap is not None and len(skills) > cap:
                    report.add_note(BadRow(line, f"truncated: {len(skills)} skills, counted the first {cap}", unit, file))
                    skills = skills[:cap]
                add(skills)
                if len(skills) == 1:
                    single += 1
        if progress is not None and pos >= next_report:
            progress(pos, total)
            next_report = pos + step
    report.rows_read += rows
    report.single_skill_rows += single

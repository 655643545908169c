"""Where records come from: one path, URL, folder, glob or shard list -> shards; in-memory tables.

`resolve(source)` turns what a user points at into a sorted list of `Shard`s:
- a local file, or any fsspec URL (`hf://datasets/ORG/NAME/data/*.parquet`, `s3://...`,
  `memory://...`; the protocol's fsspec package must be installed and the host reachable);
- a folder: every data file below it (hidden files and README/.md skipped), or a
  `datasets` `save_to_disk` folder (`state.json` -> its `.arrow` files; a `DatasetDict`
  folder -> every split, in the order of `dataset_dict.json`);
- a glob (`shards/*.jsonl.gz`, `**` recursive), local or remote;
- a list of any of these (the shards of all, in the order given).
Compression from the last suffix: `.gz`, `.bz2`, `.zst` / `.zstd`; the format from the suffix
before it (`x.jsonl.zst` is zstd-compressed JSON Lines).

`open_binary(shard)` opens a shard's decompressed bytes and counts the raw bytes read (for
progress). `object_records(obj)` streams a `datasets.Dataset`, `pandas.DataFrame`,
`pyarrow.Table` or any iterable of dicts (duck-typed, nothing imported to check).

This module reads no record formats (that is `ingest`); it only finds and opens bytes.
"""

from __future__ import annotations

import bz2
import glob as _glob
import gzip
import hashlib
import io
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["COMPRESSIONS", "DATA_SUFFIXES", "Shard", "resolve", "open_binary", "shard_sha256",
           "is_in_memory", "object_records", "SourceError"]

COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd", ".zstd": "zstd"}
DATA_SUFFIXES = {
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "csv",
    ".parquet": "parquet", ".pq": "parquet", ".arrow": "arrow",
}
_GLOB_CHARS = set("*?[")
log = logging.getLogger(__name__)


class SourceError(ValueError):
    """The source cannot be resolved to any readable shard (message says what to do)."""


@dataclass(frozen=True)
class Shard:
    path: str  # local absolute path or fsspec URL
    format: str  # one of DATA_SUFFIXES' values
    compression: str | None = None  # gzip | bz2 | zstd
    size: int = 0  # bytes on storage (compressed), 0 when unknown

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1] if "://" in self.path else Path(self.path).name

    @property
    def is_local(self) -> bool:
        return "://" not in self.path

    def to_json(self) -> dict:
        return asdict(self)


def split_suffixes(name: str) -> tuple[str | None, str | None]:
    """(format, compression) from a file name; format None when unknown."""
    lower = name.lower()
    comp = None
    for suf, kind in COMPRESSIONS.items():
        if lower.endswith(suf):
            comp, lower = kind, lower[: -len(suf)]
            break
    dot = lower.rfind(".")
    return DATA_SUFFIXES.get(lower[dot:]) if dot >= 0 else None, comp


def _is_url(s: str) -> bool:
    return "://" in s and not s.startswith("file://")


def resolve(source, fmt: str | None = None) -> list[Shard]:
    """Shards of `source` (str, Path, or a list/tuple of them). `fmt` forces every shard's format."""
    if isinstance(source, (list, tuple)):
        out: list[Shard] = []
        for item in source:
            out += resolve(item, fmt)
        if not out:
            raise SourceError("empty list of inputs")
        return out
    if not isinstance(source, (str, os.PathLike)):
        raise SourceError(f"expected a path, URL, folder or glob, got {type(source).__name__}")
    s = os.fspath(source)
    if s.startswith("file://"):
        s = s[len("file://"):]
    shards = _resolve_remote(s, fmt) if _is_url(s) else _resolve_local(s, fmt)
    log.debug("%s: %d shard(s), %d bytes", s, len(shards), sum(sh.size for sh in shards))
    return shards


def _shard(path: str, fmt: str | None, size: int, *, explicit: bool) -> Shard | None:
    kind, comp = split_suffixes(path.rsplit("/", 1)[-1])
    kind = fmt or kind
    if kind is None:
        if explicit:
            known = ", ".join(sorted(DATA_SUFFIXES)) + " (optionally + " + ", ".join(COMPRESSIONS) + ")"
            raise SourceError(f"cannot tell the format of {path!r} from its name; expected one of {known}")
        return None
    return Shard(path=path, format=kind, compression=comp, size=size)


def _skip_in_folder(rel: str) -> bool:
    parts = rel.replace("\\", "/").split("/")
    return any(p.startswith((".", "_")) for p in parts) or parts[-1].lower().endswith(".md")


def _resolve_local(s: str, fmt: str | None) -> list[Shard]:
    p = Path(s).expanduser()
    if p.is_file():
        return [_shard(str(p.resolve()), fmt, p.stat().st_size, explicit=True)]
    if p.is_dir():
        if (p / "state.json").is_file() or (p / "dataset_dict.json").is_file():
            return _saved_dataset(p)
        found = []
        for f in sorted(p.rglob("*")):
            if f.is_file() and not _skip_in_folder(str(f.relative_to(p))):
                sh = _shard(str(f.resolve()), fmt, f.stat().st_size, explicit=False)
                if sh is not None:
                    found.append(sh)
        if not found:
            raise SourceError(f"{p}: a folder with no data file ({', '.join(sorted(DATA_SUFFIXES))}, "
                              "optionally compressed)")
        return found
    if _GLOB_CHARS & set(s):
        matches = sorted(m for m in _glob.glob(str(Path(s).expanduser()), recursive=True) if Path(m).is_file())
        if not matches:
            raise SourceError(f"{s}: the pattern matches no file")
        return [_shard(str(Path(m).resolve()), fmt, Path(m).stat().st_size, explicit=True) for m in matches]
    raise SourceError(f"{s}: no such file or folder")


def _saved_dataset(p: Path) -> list[Shard]:
    """The .arrow files of a `datasets` save_to_disk folder (Dataset or DatasetDict)."""
    if (p / "dataset_dict.json").is_file() and not (p / "state.json").is_file():
        try:
            splits = json.loads((p / "dataset_dict.json").read_text(encoding="utf-8"))["splits"]
        except (ValueError, KeyError, TypeError) as exc:
            raise SourceError(f"{p / 'dataset_dict.json'}: not a datasets DatasetDict file ({exc})") from None
        out = []
        for split in splits:
            out += _saved_dataset(p / split)
        return out
    try:
        state = json.loads((p / "state.json").read_text(encoding="utf-8"))
        files = [f["filename"] for f in state["_data_files"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SourceError(f"{p / 'state.json'}: not a datasets save_to_disk state file ({exc})") from None
    if state.get("_indices_data_files"):
        raise SourceError(f"{p}: saved with an indices mapping (select/shuffle without flatten_indices); "
                          "save `ds.flatten_indices()` instead")
    return [Shard(str((p / f).resolve()), "arrow", None, (p / f).stat().st_size) for f in files]


def _resolve_remote(url: str, fmt: str | None) -> list[Shard]:
    try:
        import fsspec
    except ImportError:  # pragma: no cover - fsspec is a dependency
        raise SourceError(f"{url}: reading URLs needs fsspec (pip install fsspec)") from None
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise SourceError(f"{url}: cannot open this URL ({exc})") from None
    proto = url.split("://", 1)[0]

    def unstrip(p: str) -> str:
        return fs.unstrip_protocol(p) if hasattr(fs, "unstrip_protocol") else f"{proto}://{p}"

    try:
        if _GLOB_CHARS & set(path):
            paths = sorted(fs.glob(path))
            explicit = True
        elif fs.isdir(path):
            paths = sorted(p for p in fs.find(path) if not _skip_in_folder(p[len(path):].lstrip("/")))
            explicit = False
        elif fs.exists(path):
            paths, explicit = [path], True
        else:
            raise SourceError(f"{url}: not found")
        out = []
        for p in paths:
            info = fs.info(p)
            if info.get("type") == "directory":
                continue
            sh = _shard(unstrip(p), fmt, int(info.get("size") or 0), explicit=explicit)
            if sh is not None:
                out.append(sh)
    except SourceError:
        raise
    except Exception as exc:  # network and auth errors come in many types
        raise SourceError(f"{url}: cannot list ({type(exc).__name__}: {exc})") from None
    if not out:
        raise SourceError(f"{url}: matches no data file")
    return out


class _Counting(io.RawIOBase):
    """A read-only wrapper that counts bytes read from the underlying file."""

    def __init__(self, fh):
        self.fh = fh
        self.n = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        data = self.fh.read(len(b))
        k = len(data)
        b[:k] = data
        self.n += k
        return k


@contextmanager
def open_binary(shard: Shard) -> Iterator[tuple[io.BufferedIOBase, _Counting]]:
    """(decompressed binary stream, raw-byte counter) of a shard."""
    if shard.is_local:
        raw = open(shard.path, "rb")
    else:
        import fsspec

        raw = fsspec.open(shard.path, "rb").open()
    counter = _Counting(raw)
    buffered = io.BufferedReader(counter, 1 << 20)
    try:
        if shard.compression == "gzip":
            stream = gzip.GzipFile(fileobj=buffered, mode="rb")
        elif shard.compression == "bz2":
            stream = bz2.BZ2File(buffered, "rb")
        elif shard.compression == "zstd":
            try:
                import zstandard
            except ImportError:
                raise SourceError(f"{shard.path}: reading .zst needs zstandard (pip install zstandard)") from None
            stream = io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(buffered), 1 << 20)
        else:
            stream = buffered
        yield stream, counter
    finally:
        raw.close()


def shard_sha256(shard: Shard, chunk: int = 1 << 20) -> str:
    """sha256 of the shard's stored bytes (compressed as stored). For a remote file whose store
    already knows it (the Hub's LFS files) that figure is taken instead of reading the file."""
    h = hashlib.sha256()
    if shard.is_local:
        fh = open(shard.path, "rb")
    else:
        import fsspec

        fs, path = fsspec.core.url_to_fs(shard.path)
        try:
            known = (fs.info(path).get("lfs") or {}).get("sha256")
        except Exception:  # info is best effort; the bytes decide
            known = None
        if isinstance(known, str) and len(known) == 64:
            return known
        fh = fs.open(path, "rb")
    with fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# In-memory inputs


def _kind(obj) -> str | None:
    mod = type(obj).__module__.split(".", 1)[0]
    name = type(obj).__name__
    if mod == "pyarrow" and name == "Table":
        return "pyarrow.Table"
    if mod == "pandas" and name == "DataFrame":
        return "pandas.DataFrame"
    if mod == "datasets" and name in ("Dataset", "IterableDataset"):
        return f"datasets.{name}"
    if mod == "datasets" and name in ("DatasetDict", "IterableDatasetDict"):
        return "datasets.DatasetDict"
    return None


def is_in_memory(obj) -> bool:
    """True for tables and iterables of records (anything that is not a path, URL or list of them)."""
    if isinstance(obj, (str, bytes, os.PathLike)):
        return False
    if _kind(obj) is not None:
        return True
    if isinstance(obj, (list, tuple)):
        return not all(isinstance(x, (str, os.PathLike)) for x in obj) or not obj
    return hasattr(obj, "__iter__") and not isinstance(obj, dict)


def describe_object(obj) -> str:
    return _kind(obj) or f"an iterable of records ({type(obj).__name__})"


def object_records(obj, batch_size: int = 8192) -> Iterator[object]:
    """Records of an in-memory input, in order (non-dict items are passed on for `ingest` to report)."""
    kind = _kind(obj)
    if kind == "datasets.DatasetDict":
        raise SourceError(f"a DatasetDict holds splits {list(obj)}; pass one split, e.g. ds['train']")
    if kind == "pandas.DataFrame":
        import pyarrow as pa

        obj, kind = pa.Table.from_pandas(obj, preserve_index=False), "pyarrow.Table"
    if kind == "pyarrow.Table":
        for batch in obj.to_batches(max_chunksize=batch_size):
            yield from batch.to_pylist()
        return
    if kind == "datasets.Dataset":
        for batch in obj.iter(batch_size=batch_size):  # respects select/shuffle indices
            cols = list(batch)
            n = len(batch[cols[0]]) if cols else 0
            for i in range(n):
                yield {c: batch[c][i] for c in cols}
        return
    yield from obj

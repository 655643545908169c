"""Atomic file writes: write a temporary file beside the target, fsync, then os.replace.

A crash or an interrupt leaves either the old file or the new one, never half of one.
(`read_json_object`, its reading counterpart for small settings files, lives here too.)
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_open", "atomic_write", "write_text", "write_json", "write_jsonl", "read_json_object", "same_file",
           "refuse_input_as_output", "refuse_inputs_in_folder", "refuse_folder", "TAXONOMY_FOLDER_FILES"]


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when `a` and `b` name one file: equal after resolving symlinks, or (both existing)
    the same inode, which also catches hard links."""
    a, b = Path(a), Path(b)
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def refuse_input_as_output(out: str | os.PathLike, inputs, what: str = "out") -> None:
    """ValueError when the output path `out` is one of `inputs` (a write would destroy it)."""
    for src in inputs:
        if src is not None and same_file(out, src):
            raise ValueError(f"{what} {str(out)!r} is the input {str(src)!r} (also through a link); "
                             "writing it would destroy the input: choose another output path")


def refuse_folder(path: str | os.PathLike, example: str = "results.jsonl") -> None:
    """ValueError when the JSONL output path `path` is a folder."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder, expected a JSONL file to write (e.g. {path / example})")


# the files `steps taxonomy` writes into its folder (taxonomy.build.save_taxonomy, graph.write_graph)
TAXONOMY_FOLDER_FILES = ("taxonomy.json", "input.json", "skills.csv", "graph.csv", "ingest_report.json")


def refuse_inputs_in_folder(folder: str | os.PathLike, inputs, names=TAXONOMY_FOLDER_FILES,
                            what: str = "out") -> None:
    """ValueError when writing the files `names` into `folder` would replace one of `inputs`
    (e.g. a data file called input.json or skills.csv, and the taxonomy written beside it)."""
    for name in names:
        for src in inputs:
            if src is not None and "://" not in str(src) and same_file(Path(folder) / name, src):
                raise ValueError(f"{what} {str(folder)!r} would replace the input {str(src)!r} with its {name}: "
                                 "choose another output folder")


def _temp_beside(path: Path) -> Path:
    """A temp name unique per call (pid + random), so threads and processes never share one."""
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8", newline: str | None = None):
    """`with atomic_open(path) as fh: ...` - the file appears at `path` only when the block ends."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_beside(path)
    binary = "b" in mode
    fh = open(tmp, mode, encoding=None if binary else encoding, newline=None if binary else newline)
    try:
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write(path: str | os.PathLike, data: bytes | str) -> None:
    """Write `data` (str is UTF-8 encoded) to `path` atomically."""
    with atomic_open(path, "wb") as fh:
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path) as fh:
        fh.write(text)


def write_json(path: str | os.PathLike, data, indent: int | None = None) -> None:
    import json

    with atomic_open(path) as fh:
        json.dump(data, fh, ensure_ascii=False, indent=indent)


def read_json_object(path: str | os.PathLike, label: str, expected: str) -> dict:
    """The JSON object in the file at `path`; ValueError "LABEL: ..." when it cannot be read,
    is not JSON, or is not an object ("LABEL: expected EXPECTED, got TYPE")."""
    import json

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{label}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ValueError(f"{label}: invalid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{label}: expected {expected}, got {type(data).__name__}")
    return data


def write_jsonl(path: str | os.PathLike, rows) -> int:
    """One JSON object per line (orjson; numpy scalars allowed). Returns the number of lines."""
    import orjson

    n = 0
    with atomic_open(path, "wb") as fh:
        for row in rows:
            fh.write(orjson.dumps(row, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")
            n += 1
    return n

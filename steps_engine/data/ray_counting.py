"""Record reading and co-occurrence counting on Ray (`steps taxonomy --engine ray`).

What runs where:
- the driver lists the input (a file, or a folder of shards read in sorted path order) and cuts
  it into blocks without parsing: a JSONL file into byte ranges that start after a newline, a
  Parquet file into runs of row groups, a CSV or JSON-array file stays one block (a quoted
  newline or an array cannot be cut safely);
- Ray Data maps every block, as a task on some worker, to its partial result: skill and pair
  counts (`CooccurrenceCounter`, the same per-record loop as `count_skills`), its bad rows with
  block-local line numbers, and its number of lines;
- the driver sums the partials in input order (`CountsMerger`) and turns block-local line
  numbers into file line numbers, so counts, skill ids, the report and therefore `graph.csv`,
  `skills.csv` and the tree are exactly those of the single-process path.

A worker that dies is replaced by Ray and its block runs again (Ray Data retries tasks on
system failures); every block's result is taken exactly once, which is checked.
Ray is imported only when these functions run.
"""

from __future__ import annotations

import os
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from steps_engine.data.cooccurrence import CooccurrenceCounter, CountsMerger
from steps_engine.data.ingest import (
    MAX_EXAMPLES,
    BadRow,
    FieldMapping,
    IngestError,
    IngestReport,
    _iter_jsonl,
    _iter_parquet,
    _iter_with_pos,
    count_records,
    detect_format,
    file_sha256,
)

__all__ = ["Block", "count_block", "count_skills_ray", "input_files", "merge_block_results", "plan_blocks"]

BLOCK_BYTES = 64 << 20  # default block size: large enough that task overhead is small


@dataclass(frozen=True)
class Block:
    index: int
    file: int  # position of the file in the input's file list
    path: str
    fmt: str
    start: int = 0  # jsonl: byte range [start, end); end -1 = to the end of the file
    end: int = -1
    row_groups: tuple[int, ...] = ()  # parquet: these row groups only (empty = all)
    first_record: int = 1  # parquet: number of the block's first record in its file

    @property
    def nbytes(self) -> int:
        return max(self.end - self.start, 0) if self.end >= 0 else os.path.getsize(self.path) - self.start


def input_files(path) -> list[Path]:
    """The files of an input: the file itself, or every supported file under a folder (hidden
    and `_`-prefixed names such as `_SUCCESS` skipped), sorted by relative path."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise IngestError(f"{path}: no such file or folder")
    files = []
    for p in sorted(path.rglob("*")):
        rel = p.relative_to(path)
        if not p.is_file() or any(part.startswith((".", "_")) for part in rel.parts):
            continue
        try:
            detect_format(p)
        except ValueError:
            continue
        files.append(p)
    if not files:
        raise IngestError(f"{path}: folder holds no .jsonl/.json/.csv/.parquet file")
    return files


def _jsonl_cuts(path: Path, block_bytes: int) -> list[int]:
    """Start offsets of the blocks of a JSONL file: 0, then the first line start at or after
    every multiple of block_bytes."""
    size = path.stat().st_size
    cuts = [0]
    with open(path, "rb") as fh:
        target = block_bytes
        while target < size:
            fh.seek(target - 1)
            fh.readline()  # to just after the next newline (or stays put when target-1 is one)
            pos = fh.tell()
            if pos >= size:
                break
            if pos > cuts[-1]:
                cuts.append(pos)
            target = max(pos, target) + block_bytes
    return cuts


def plan_blocks(files: list[Path], fmt: str | None = None, block_bytes: int = BLOCK_BYTES) -> list[Block]:
    """Cut the files into blocks (see the module docstring)."""
    if block_bytes < 1:
        raise ValueError(f"block_bytes must be >= 1, got {block_bytes}")
    blocks: list[Block] = []
    for k, path in enumerate(files):
        f = fmt or detect_format(path)
        if f == "jsonl" and path.stat().st_size > block_bytes:
            cuts = _jsonl_cuts(path, block_bytes) + [path.stat().st_size]
            for s, e in zip(cuts[:-1], cuts[1:]):
                blocks.append(Block(len(blocks), k, str(path), f, start=s, end=e))
        elif f == "parquet" and path.stat().st_size > block_bytes:
            import pyarrow.parquet as pq

            try:
                meta = pq.ParquetFile(path).metadata
            except Exception as exc:  # pyarrow raises several types for a bad file
                raise IngestError(f"{path}: not a readable Parquet file ({exc})") from None
            groups: list[int] = []
            size = 0
            first = record = 1
            for g in range(meta.num_row_groups):
                rg = meta.row_group(g)
                groups.append(g)
                size += rg.total_byte_size
                record += rg.num_rows
                if size >= block_bytes or g == meta.num_row_groups - 1:
                    blocks.append(Block(len(blocks), k, str(path), f, row_groups=tuple(groups), first_record=first))
                    groups, size, first = [], 0, record
        else:
            blocks.append(Block(len(blocks), k, str(path), f))
    return blocks


def _range_lines(path: str, start: int, end: int, n_lines: list[int]):
    """Raw lines of bytes [start, end) of a file; counts them into n_lines[0]."""
    with open(path, "rb") as fh:
        fh.seek(start)
        left = end - start
        for raw in fh:
            n_lines[0] += 1
            left -= len(raw)
            yield raw
            if left <= 0:
                return


def _first_line(block: Block) -> int:
    # _iter_jsonl strips a byte-order mark from its line 1 only: numbering a later block from 2
    # keeps a BOM in the middle of a file an error, as in the single-process path
    return 1 if block.start == 0 else 2


def count_block(block: Block, mapping: FieldMapping) -> dict:
    """Count one block: {"index", "counts", "rows_read", "single", "rows_skipped",
    "skipped_by_reason", "skipped" (first MAX_EXAMPLES BadRows, block-local lines), "noted_by_reason",
    "noted" (rows changed, e.g. truncated), "n_lines"}."""
    counter = CooccurrenceCounter()
    report = IngestReport(path=block.path, format=block.fmt)
    n_lines = [0]
    fields = (mapping.skills_field,)
    if block.fmt == "jsonl" and block.end >= 0:
        items = _iter_jsonl(_range_lines(block.path, block.start, block.end, n_lines), _first_line(block))
    elif block.fmt == "parquet" and block.row_groups:
        items = _iter_parquet(Path(block.path), fields, row_groups=list(block.row_groups), first=block.first_record)
    else:
        items = _iter_with_pos(block.path, block.fmt, fields)
    count_records(items, mapping, counter, report)
    return {
        "index": block.index,
        "counts": counter.result(),
        "rows_read": report.rows_read,
        "single": report.single_skill_rows,
        "rows_skipped": report.rows_skipped,
        "skipped_by_reason": report.skipped_by_reason,
        "skipped": report.skipped,
        "noted_by_reason": report.noted_by_reason,
        "noted": report.noted,
        "n_lines": n_lines[0],
    }


def _hash_file(path: str) -> dict:
    return {"sha256": file_sha256(path)}


def count_skills_ray(
    path,
    mapping: FieldMapping,
    progress: Callable[[int, int], None] | None = None,
    *,
    address: str | None = None,
    block_bytes: int = BLOCK_BYTES,
    num_cpus: float = 1.0,
    hash_shards: bool = True,
    block_fn: Callable[[Block, FieldMapping], dict] = count_block,
):
    """`count_skills` on Ray: same (CooccurrenceCounts, IngestReport), for a file or a folder.

    For a folder, bad rows carry their `file` and the report lists every shard with its sha256
    (`report.shards`, hashed on the workers). `progress(done_bytes, total_bytes)` after each
    block. `block_fn` counts one block (tests wrap it to kill a worker mid-run)."""
    from steps_engine.data.ray_session import ordered_data_context, ray_session

    if not isinstance(mapping, FieldMapping):
        raise ValueError(f"mapping must be a FieldMapping, got {type(mapping).__name__}")
    t0 = time.perf_counter()
    files = input_files(path)
    several = Path(path).is_dir()
    blocks = plan_blocks(files, mapping.format, block_bytes)
    total = sum(b.nbytes for b in blocks)
    jobs = [("count", b) for b in blocks] + ([("hash", i) for i in range(len(files))] if several and hash_shards else [])

    def run(batch):
        out = []
        for k in batch["item"]:
            kind, arg = jobs[int(k)]
            out.append(pickle.dumps(block_fn(arg, mapping) if kind == "count" else _hash_file(str(files[arg]))))
        return {"item": batch["item"], "result": np.array(out, dtype=object)}

    hashes: dict[int, str] = {}
    done = [0]

    def results(ray):
        ds = ray.data.from_items(list(range(len(jobs))), override_num_blocks=len(jobs))
        ds = ds.map_batches(run, batch_size=1, batch_format="numpy", num_cpus=num_cpus)
        seen = np.zeros(len(jobs), dtype=np.int64)
        for row in ds.iter_rows():
            k = int(row["item"])
            seen[k] += 1
            if seen[k] > 1:
                continue  # never counted twice (Ray Data does not repeat an output; this makes sure)
            part = pickle.loads(row["result"])
            kind, arg = jobs[k]
            if kind == "hash":
                hashes[arg] = part["sha256"]
                continue
            done[0] += arg.nbytes
            if progress is not None:
                progress(done[0], total)
            yield arg, part
        missing = np.flatnonzero(seen == 0)
        if missing.size:
            raise RuntimeError(f"Ray returned no result for {missing.size} of {len(jobs)} jobs (first: {jobs[missing[0]]})")

    with ray_session(address) as ray, ordered_data_context(ray):
        counts, report = merge_block_results(path, files, results(ray))
    if several:
        report.shards = [{"path": str(p), **({"sha256": hashes[i]} if i in hashes else {})} for i, p in enumerate(files)]
    report.seconds = time.perf_counter() - t0
    return counts, report


def merge_block_results(path, files: list[Path], results) -> tuple:
    """(CooccurrenceCounts, IngestReport) from (Block, count_block result) pairs in block order."""
    several = Path(path).is_dir()
    merger = CountsMerger()
    line_base = [0] * len(files)  # physical lines of a file in the blocks merged so far
    fmts = set()
    report = IngestReport(path=str(Path(path).resolve()))
    for expected, (block, part) in enumerate(results):
        if block.index != expected:  # line numbers need the blocks of a file in order
            raise RuntimeError(f"block {block.index} came back where block {expected} belongs")
        fmts.add(block.fmt)
        _merge_part(report, merger, part, block, line_base, str(files[block.file]) if several else None)
    counts = merger.result()
    report.format = fmts.pop() if len(fmts) == 1 else ("mixed" if fmts else "")
    report.rows_used = counts.n_rows
    report.distinct_skills = counts.n_skills
    return counts, report


def _merge_part(report: IngestReport, merger: CountsMerger, part: dict, block: Block, line_base: list[int],
                file: str | None) -> None:
    merger.add(part["counts"])
    report.rows_read += part["rows_read"]
    report.single_skill_rows += part["single"]
    report.rows_skipped += part["rows_skipped"]
    for kind, n in part["skipped_by_reason"].items():
        report.skipped_by_reason[kind] = report.skipped_by_reason.get(kind, 0) + n
    for kind, n in part["noted_by_reason"].items():
        report.noted_by_reason[kind] = report.noted_by_reason.get(kind, 0) + n
    base = line_base[block.file]
    for rows, mine in ((report.skipped, part["skipped"]), (report.noted, part["noted"])):
        for bad in mine[: max(MAX_EXAMPLES - len(rows), 0)]:
            line = bad.line
            if block.fmt == "jsonl" and block.end >= 0:
                line = base + (line - _first_line(block)) + 1
            rows.append(BadRow(line, bad.reason, bad.unit, file))
    line_base[block.file] = base + part["n_lines"]

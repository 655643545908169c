"""Tagging on Ray (`steps tag --engine ray`): Ray Data `map_batches` over an actor pool that
holds the embedding model.

What runs where:
- the driver finds the chunk boundaries (`batch_size` records per chunk, the chunks of
  `tag_file`) without parsing: a vectorised pass over a JSONL file's bytes, the row counts in a
  Parquet footer. It writes the output file, in input order, atomically;
- every chunk is read (with the readers of the single-process path) by the actor that tags it;
  a CSV or JSON-array file cannot be cut without parsing, so one actor reads and tags all of it
  (convert it to JSONL or Parquet to spread it);
- `concurrency` actors, each with `num_gpus` GPUs, build the embedder once (`embedder_factory`)
  and run `tagging.chunk_similarity_sum` (pass 1, the hubness centre) and `tagging.tag_chunk`
  (pass 2) on one chunk at a time.
Pass-1 sums are added in chunk order, so with the same batch size (`tag_file`'s chunk_records,
2000 by default) the output is byte for byte that of `tag_file`. Actors that die are restarted
by Ray and their chunk is retried; every chunk's result is taken exactly once, which is checked.
Like `tag_file` it resumes (`tag_checkpoint`, its own fingerprint: a local run's is not reused):
the pass-1 sums and every finished chunk are kept, and only the chunks left are sent (a CSV or
JSON-array file, one read task, is read and tagged whole again).
Ray is imported only when `tag_file_ray` runs.
"""

from __future__ import annotations

import itertools
import pickle
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from steps_engine.data.ingest import _BOM, IngestError, _iter_jsonl, detect_format, iter_records
from steps_engine.semantic.tagging import TagConfig, TagReport, center_from_sums, chunk_similarity_sum, tag_chunk
from steps_engine.semantic.vocabulary import Vocabulary

__all__ = ["ReadTask", "plan_reads", "tag_file_ray"]

MAX_BLOCKS = 10_000  # Ray Data blocks of read tasks; past this a block holds several chunks
_WS = np.zeros(256, dtype=bool)
_WS[[9, 10, 11, 12, 13, 32]] = True  # what bytes.strip() removes: a line of only these is blank


@dataclass(frozen=True)
class ReadTask:
    first_chunk: int  # number of its first chunk in the file
    fmt: str
    cuts: tuple = ()  # jsonl: (start, end, first_line) byte range of each of its chunks
    records: tuple = ()  # parquet: (first, stop) 0-based record range of each of its chunks


def _jsonl_chunk_cuts(path: Path, per_chunk: int, piece: int = 1 << 26) -> tuple[list[tuple[int, int, int]], int]:
    """(start, end, first_line) of every chunk of `per_chunk` records (non-blank lines), as
    `tag_file` cuts them, and the number of records; found from the bytes alone."""
    cuts = []
    offset = lines = records = 0
    start, first_line = 0, 1
    with open(path, "rb") as fh:
        while True:
            data = fh.read(piece)
            if not data:
                break
            data += fh.readline()  # whole lines only
            buf = np.frombuffer(data, dtype=np.uint8)
            ends = np.flatnonzero(buf == 10) + 1
            if ends.size == 0 or ends[-1] != buf.size:
                ends = np.append(ends, buf.size)  # a last line without newline
            starts = np.concatenate(([0], ends[:-1]))
            solid = np.concatenate(([0], np.cumsum(~_WS[buf], dtype=np.int64)))
            if offset == 0 and data.startswith(_BOM):
                starts[0] = min(3, int(ends[0]))  # the byte-order mark of line 1 is not content
            rec_lines = np.flatnonzero(solid[ends] - solid[starts] > 0)
            numbers = records + np.arange(1, rec_lines.size + 1)
            for idx in rec_lines[numbers % per_chunk == 0]:  # a chunk ends after this line
                end = offset + int(ends[idx])
                cuts.append((start, end, first_line))
                start, first_line = end, lines + int(idx) + 2
            records += rec_lines.size
            lines += ends.size
            offset += buf.size
    if records % per_chunk:
        cuts.append((start, offset, first_line))
    return cuts, int(records)


def plan_reads(path, batch_size: int) -> tuple[list[ReadTask], int | None]:
    """One read task per chunk, in chunk order, and the number of records (None when only
    reading tells: a CSV or JSON-array file is one task that yields all its chunks)."""
    path = Path(path)
    fmt = detect_format(path)
    if fmt == "jsonl":
        cuts, n = _jsonl_chunk_cuts(path, batch_size)
        return [ReadTask(k, fmt, cuts=(cut,)) for k, cut in enumerate(cuts)], n
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            n = pq.ParquetFile(path).metadata.num_rows
        except Exception as exc:  # pyarrow raises several types for a bad file
            raise IngestError(f"{path}: not a readable Parquet file ({exc})") from None
        return [ReadTask(k, fmt, records=((a, min(a + batch_size, n)),)) for k, a in enumerate(range(0, n, batch_size))], n
    return [ReadTask(0, fmt)], None


def _read_chunks(path: str, task: ReadTask, batch_size: int):
    """(chunk number, [(line, record or BadRow), ...]) for every chunk of a read task."""
    if task.fmt == "jsonl":
        for k, (start, end, first_line) in enumerate(task.cuts):
            with open(path, "rb") as fh:
                fh.seek(start)
                parts = fh.read(end - start).split(b"\n")
            lines = [p + b"\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
            yield task.first_chunk + k, [(n, rec) for n, rec, _, _ in _iter_jsonl(lines, first_line)]
    elif task.fmt == "parquet":
        from steps_engine.data.ingest import _iter_parquet

        import pyarrow.parquet as pq

        meta = pq.ParquetFile(path).metadata
        bounds = np.cumsum([0] + [meta.row_group(g).num_rows for g in range(meta.num_row_groups)])
        for k, (a, b) in enumerate(task.records):
            g0 = int(np.searchsorted(bounds, a, side="right") - 1)
            g1 = int(np.searchsorted(bounds, b, side="left"))
            chunk = []
            for i, rec, _, _ in _iter_parquet(Path(path), None, row_groups=list(range(g0, g1)), first=int(bounds[g0]) + 1):
                if i > b:
                    break
                if i > a:
                    chunk.append((i, rec))
            yield task.first_chunk + k, chunk
    else:
        buf, k = [], task.first_chunk
        for line, rec in iter_records(path):
            buf.append((line, rec))
            if len(buf) >= batch_size:
                yield k, buf
                buf, k = [], k + 1
        if buf:
            yield k, buf


class _ChunkActor:
    """One actor of the pool: the embedder, built once, and one pass over a chunk per call."""

    def __init__(self, embedder_factory, vocab, config, mode, center, options):
        self.embedder = embedder_factory()
        self.vocab, self.config, self.mode, self.options = vocab, config, mode, options
        self.center_vec, self.center_std = center

    def __call__(self, batch):
        out = []
        o = self.options
        for blob in batch["data"]:
            chunk = pickle.loads(blob)
            if self.mode == "sum":
                res = chunk_similarity_sum(chunk, self.vocab, self.embedder, self.config, o["text_field"], o["response_field"])
            else:
                res = tag_chunk(chunk, self.vocab, self.embedder, self.config, self.center_vec, o["text_field"],
                                o["response_field"], o["out_field"], o["with_scores"], center_std=self.center_std)
            out.append(pickle.dumps(res))
        return {"chunk": batch["chunk"], "result": np.array(out, dtype=object)}


def _in_order(rows, wanted: list[int] | None = None):
    """(chunk number, result) by consecutive chunk number from 0, or in the (ascending) order of
    `wanted` (other chunks dropped); a repeat is dropped, a gap is an error."""
    order = iter(wanted) if wanted is not None else itertools.count()
    keep = set(wanted) if wanted is not None else None
    pending: dict[int, bytes] = {}
    want = next(order, None)
    for row in rows:
        k = int(row["chunk"])
        if want is None or k < want or k in pending or (keep is not None and k not in keep):
            continue
        pending[k] = row["result"]
        while want is not None and want in pending:
            yield want, pickle.loads(pending.pop(want))
            want = next(order, None)
    if pending or (wanted is not None and want is not None):
        raise RuntimeError(f"Ray returned chunks out of reach: {sorted(pending)[:5]} while waiting for chunk {want}")


def tag_file_ray(
    input_path,
    out_path,
    vocab: Vocabulary,
    embedder_factory: Callable,
    config: TagConfig = TagConfig(),
    text_field: str | None = None,
    response_field: str | None = None,
    out_field: str = "skills",
    with_scores: bool = False,
    batch_size: int = 2000,
    concurrency: int = 2,
    num_gpus: float = 0.0,
    address: str | None = None,
    progress=None,
) -> TagReport:
    """`tagging.tag_file` on Ray (see the module docstring); `embedder_factory()` builds the
    embedder inside each actor (it must be picklable, e.g. functools.partial(get_embedder, ...))."""
    from steps_engine.data.ray_session import ordered_data_context, ray_session

    config.validate()
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    if num_gpus < 0:
        raise ValueError(f"num_gpus must be >= 0, got {num_gpus}")
    if not out_field:
        raise ValueError("out_field must be a non-empty string")
    input_path, out_path = Path(input_path), Path(out_path)
    if not input_path.is_file():
        raise IngestError(f"{input_path}: no such file")
    if input_path.resolve() == out_path.resolve():
        raise ValueError(f"out_path must differ from the input file, got {out_path}")
    tasks, total = plan_reads(input_path, batch_size)
    path = str(input_path)
    options = {"text_field": text_field, "response_field": response_field, "out_field": out_field,
               "with_scores": with_scores}

    def read(batch):
        for k in batch["item"]:
            for number, chunk in _read_chunks(path, tasks[int(k)], batch_size):
                yield {"chunk": np.array([number]), "data": np.array([pickle.dumps(chunk)], dtype=object)}

    def run(ray, mode, center, first: int = 0, done=frozenset()):
        """Results of chunks from `first` on that are not in `done` (by chunk number, in order)."""
        # Ray fuses the read into the actors' stage: each actor reads the chunk it tags, so
        # parallelism comes from the number of blocks (one chunk each, up to MAX_BLOCKS)
        per_chunk = total is not None  # JSONL / Parquet: task k is chunk k; else one task yields every chunk
        ids = [k for k in range(first, len(tasks)) if k not in done] if per_chunk else list(range(len(tasks)))
        if not ids:
            return iter(())
        ds = ray.data.from_items(ids, override_num_blocks=max(min(len(ids), MAX_BLOCKS), 1))
        ds = ds.map_batches(read, batch_size=1, batch_format="numpy")
        ds = ds.map_batches(
            _ChunkActor, batch_size=1, batch_format="numpy", num_gpus=num_gpus or None,
            compute=ray.data.ActorPoolStrategy(size=concurrency),
            fn_constructor_args=(embedder_factory, vocab, config, mode, center, options),
        )
        if not per_chunk:
            return (kv for kv in _in_order(ds.iter_rows()) if kv[0] >= first and kv[0] not in done)
        return _in_order(ds.iter_rows(), ids)

    from steps_engine.semantic.tag_checkpoint import TagCheckpoint, run_identity

    func = getattr(embedder_factory, "func", embedder_factory)  # a functools.partial, usually
    factory = {"factory": f"{getattr(func, '__module__', '')}.{getattr(func, '__qualname__', type(func).__name__)}",
               "args": getattr(embedder_factory, "args", ()), "keywords": getattr(embedder_factory, "keywords", {})}
    ident = run_identity(input_path, vocab, None, config, engine="ray", embedder_factory=factory,
                         text_field=text_field, response_field=response_field, out_field=out_field,
                         with_scores=with_scores, batch_size=batch_size)
    with TagCheckpoint(out_path, ident) as ck, ray_session(address) as ray, ordered_data_context(ray):
        report = TagReport(bad_rows=[], llm_failed=[], rerank_failed=[], notes=ck.notes or None)
        center = (None, None)
        if config.center:  # pass 1 over the whole file, sums added in chunk order as in tag_file
            col = np.zeros(len(vocab), dtype=np.float64)
            col_sq = np.zeros(len(vocab), dtype=np.float64)
            n = seen = 0
            state = ck.scan()
            if state is not None:  # the sums of the chunks scanned before the interruption
                col, col_sq, n, seen = state["col"], state["col_sq"], state["n"], state["chunks"]
            if state is None or not state["done"]:
                for k, (part, kept) in run(ray, "sum", (None, None), first=seen):
                    if kept:
                        col += part[0]
                        col_sq += part[1]
                        n += kept
                    seen = k + 1
                    ck.save_scan(col, col_sq, n, seen, 0, False)
                    if progress is not None:
                        progress("scan", min(seen * batch_size, total or seen * batch_size), total or 0)
                ck.save_scan(col, col_sq, n, seen, 0, True)
            center = center_from_sums(col, col_sq, n, config)
        done = {k for k in range(len(tasks)) if ck.has(k)} if total is not None else set()
        fresh = run(ray, "tag", center, done=done)
        k = 0
        while True:
            if k in done:
                part = TagReport(**ck.load(k))
                report.resumed += part.records
            else:
                got = next(fresh, None)
                if got is None:
                    break
                if got[0] != k:  # chunks arrive in order, the kept ones left out
                    raise RuntimeError(f"Ray returned chunk {got[0]} where chunk {k} was due")
                data, part = got[1]
                ck.save(k, data, asdict(part))
            report.add(part)
            k += 1
            if progress is not None:
                progress("tag", report.records, total or 0)
        if total is not None and report.records != total:  # raised before the output replaces anything
            raise RuntimeError(f"{input_path}: {report.records} rows tagged but the file holds {total} records")
        ck.finish(k)
    return report

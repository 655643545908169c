"""What an interrupted `tagging.tag_file` keeps, so the same command resumes where it stopped.

The work lives in `<out>.partial/` until the output is written:
- `run.json`: {"format": 1, "run": {...}}, what the run is (`run_identity`: the input's sha256,
  the vocabulary, every option that changes a tag; LLM endpoints only as hashes);
- `scan.npz`: pass 1's per-skill sums after its first `chunks` chunks (`done` once the whole
  file is scanned), so the hubness centre is bit for bit that of an uninterrupted run;
- per finished chunk k of pass 2, `NNNNNNNN.jsonl` (its output lines), then `NNNNNNNN.json`
  (its share of the report): a chunk counts as done only when both are there.
Every file is written through `steps_engine._atomic`. `finish` writes the output (atomic) from
the chunk files in order and removes the folder. A folder whose `run.json` describes another run
is discarded (the note names what differs); a folder without `run.json` is not ours and is
refused. Another process tagging into the same output holds `<out>.partial/lock` and is refused.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np

from steps_engine._atomic import atomic_open, atomic_write, read_json_object, write_json

__all__ = ["TagCheckpoint", "run_identity"]

FORMAT = 1


def _sha(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:16]


def _llm(obj) -> str | None:
    """A hash of what an LLM tagger or reranker sends (type, model, endpoint, parameters)."""
    if obj is None:
        return None
    client = getattr(obj, "client", None)
    return _sha({"type": type(obj).__name__, "model": getattr(client, "model", None),
                 "endpoint": getattr(client, "endpoint", None), "params": getattr(obj, "params", None),
                 "include_response": getattr(obj, "include_response", None), "k": getattr(obj, "k", None)})


def run_identity(input_path, vocab, embedder, config, **options) -> dict:
    """What makes two `tag_file` runs the same: the input's bytes (sha256 per shard), the
    vocabulary, the embedder's model id, the `TagConfig`, and `options` (fields, chunk size,
    LLM tagger / reranker given as objects, hashed)."""
    from steps_engine.data.ingest import describe_source

    source = describe_source(str(input_path))
    for name in ("open_tagger", "reranker"):
        if name in options:
            options[name] = _llm(options[name])
    run = {"input": [s["sha256"] for s in source["shards"]], "vocabulary": _sha(list(vocab.skills)),
           "embedder": None if embedder is None else getattr(embedder, "model_id", type(embedder).__name__),
           "config": asdict(config), **options}
    return json.loads(json.dumps(run, default=str))  # as run.json reads back


class TagCheckpoint:
    """`with TagCheckpoint(out, run) as ck:` the resumable state of one `tag_file` run."""

    def __init__(self, out_path, run: dict):
        self.out = Path(out_path)
        self.folder = self.out.with_name(self.out.name + ".partial")
        self.run = run
        self.notes: list[str] = []  # what the caller should tell the user
        self.lock = None

    def __enter__(self) -> "TagCheckpoint":
        from filelock import FileLock, Timeout

        meta = self.folder / "run.json"
        if self.folder.exists() and not meta.is_file():
            raise ValueError(f"{self.folder} exists but holds no run.json of `steps tag`: it is not an interrupted "
                             "run's; move it away or choose another --out")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.lock = FileLock(str(self.folder / "lock"))
        try:
            self.lock.acquire(timeout=0)
        except Timeout:
            self.lock = None
            raise ValueError(f"{self.out}: another `steps tag` is writing it ({self.folder} is locked)") from None
        if meta.is_file():
            try:
                kept = read_json_object(meta, str(meta), "a JSON object")
            except ValueError:
                kept = {}
            old = kept.get("run") if kept.get("format") == FORMAT else None
            if old == self.run:
                done = len(list(self.folder.glob("[0-9]*.json")))
                self.notes.append(f"resuming the interrupted run kept in {self.folder} ({done} chunk(s) tagged"
                                  + (", pass 1 done" if self._scan_done() else "") + ")")
                return self
            differs = sorted(k for k in set(old or {}) | set(self.run) if (old or {}).get(k) != self.run.get(k))
            self.notes.append(f"{self.folder}: an interrupted run with other inputs or options "
                              f"({', '.join(differs) or 'unreadable run.json'} differ) was discarded; starting over")
            self._clear()
        write_json(meta, {"format": FORMAT, "run": self.run})
        return self

    def _clear(self) -> None:
        for p in self.folder.iterdir():
            if p.name != "lock":
                shutil.rmtree(p) if p.is_dir() else p.unlink()

    def __exit__(self, *exc) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    # pass 1
    def _scan_done(self) -> bool:
        state = self.scan()
        return bool(state and state["done"])

    def scan(self) -> dict | None:
        """{"col", "col_sq", "n", "chunks", "total", "done"} of pass 1 so far, or None."""
        path = self.folder / "scan.npz"
        if not path.is_file():
            return None
        with np.load(path) as z:
            return {"col": z["col"], "col_sq": z["col_sq"], "n": int(z["n"]), "chunks": int(z["chunks"]),
                    "total": int(z["total"]), "done": bool(z["done"])}

    def save_scan(self, col, col_sq, n: int, chunks: int, total: int, done: bool) -> None:
        with atomic_open(self.folder / "scan.npz", "wb") as fh:
            np.savez(fh, col=col, col_sq=col_sq, n=n, chunks=chunks, total=total, done=done)

    # pass 2
    def _paths(self, k: int) -> tuple[Path, Path]:
        return self.folder / f"{k:08d}.jsonl", self.folder / f"{k:08d}.json"

    def has(self, k: int) -> bool:
        data, rep = self._paths(k)
        return rep.is_file() and data.is_file()

    def load(self, k: int) -> dict:
        """The report of finished chunk k (as `save` got it)."""
        return read_json_object(self._paths(k)[1], str(self._paths(k)[1]), "a chunk report")

    def save(self, k: int, data: bytes, report: dict | None) -> None:
        """Keep chunk k's output lines; with its `report` it is done (else redone on a resume)."""
        data_path, rep = self._paths(k)
        rep.unlink(missing_ok=True)
        atomic_write(data_path, data)
        if report is not None:
            write_json(rep, report)

    def finish(self, chunks: int) -> None:
        """Write the output from chunks 0..chunks-1 (atomic), then remove the folder."""
        with atomic_open(self.out, "wb") as fh:
            for k in range(chunks):
                with open(self._paths(k)[0], "rb") as src:
                    shutil.copyfileobj(src, fh, 1 << 20)
        self.__exit__()
        shutil.rmtree(self.folder, ignore_errors=True)

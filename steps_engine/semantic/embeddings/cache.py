"""On-disk embedding cache keyed by (model id, sha256 of text), in one SQLite file.

Default location: $STEPS_CACHE_DIR, else ~/.cache/steps-studio; the file is
`embeddings.sqlite` inside it. `CachedEmbedder` wraps any `Embedder`: texts already
stored are read back, only the missing ones are computed (in chunks, each committed
as it finishes, so an interrupted run keeps its progress).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path
from typing import Sequence

import numpy as np

from steps_engine.semantic.embeddings.base import Embedder, ProgressFn

__all__ = ["EmbeddingCache", "CachedEmbedder", "default_cache_dir", "text_key"]

_SCHEMA = """CREATE TABLE IF NOT EXISTS emb (
    model TEXT NOT NULL, key BLOB NOT NULL, dim INTEGER NOT NULL, vec BLOB NOT NULL,
    PRIMARY KEY (model, key)) WITHOUT ROWID"""


def default_cache_dir() -> Path:
    env = os.environ.get("STEPS_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "steps-studio"


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


class EmbeddingCache:
    def __init__(self, cache_dir: str | os.PathLike | None = None):
        self.dir = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        self.path = self.dir / "embeddings.sqlite"
        self.dir.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=60)
        con.execute("PRAGMA journal_mode=WAL")
        return con

    def get(self, model_id: str, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        """Stored vectors for the keys that are present."""
        found: dict[bytes, np.ndarray] = {}
        con = self._connect()
        try:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start : start + 500])
                marks = ",".join("?" * len(chunk))
                rows = con.execute(
                    f"SELECT key, vec FROM emb WHERE model = ? AND key IN ({marks})", [model_id, *chunk]
                )
                for key, vec in rows:
                    found[bytes(key)] = np.frombuffer(vec, dtype=np.float32)
        finally:
            con.close()
        return found

    def put(self, model_id: str, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        con = self._connect()
        try:
            with con:
                con.executemany(
                    "INSERT OR REPLACE INTO emb (model, key, dim, vec) VALUES (?, ?, ?, ?)",
                    [(model_id, k, vectors.shape[1], v.tobytes()) for k, v in zip(keys, vectors)],
                )
        finally:
            con.close()

    def count(self, model_id: str | None = None) -> int:
        con = self._connect()
        try:
            if model_id is None:
                return int(con.execute("SELECT COUNT(*) FROM emb").fetchone()[0])
            return int(con.execute("SELECT COUNT(*) FROM emb WHERE model = ?", [model_id]).fetchone()[0])
        finally:
            con.close()


class CachedEmbedder(Embedder):
    """`embedder` with an on-disk cache. `hits`/`misses` count texts served from the
    cache and texts computed (after de-duplication) since construction."""

    def __init__(self, embedder: Embedder, cache: EmbeddingCache | None = None, chunk_size: int = 512):
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        self.inner = embedder
        self.cache = cache if cache is not None else EmbeddingCache()
        self.model_id = embedder.model_id
        self.chunk_size = chunk_size
        self.hits = 0
        self.misses = 0

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, progress: ProgressFn | None = None
    ) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return self.inner.encode([], batch_size=batch_size)
        keys = [text_key(t) for t in texts]
        unique: dict[bytes, str] = dict(zip(keys, texts))
        found = self.cache.get(self.model_id, list(unique))
        missing = [k for k in unique if k not in found]
        self.hits += len(unique) - len(missing)
        self.misses += len(missing)
        total = len(unique)
        done = total - len(missing)
        if progress is not None:
            progress(done, total)
        for start in range(0, len(missing), self.chunk_size):
            chunk = missing[start : start + self.chunk_size]
            base = done

            def inner_progress(d: int, _t: int, base=base) -> None:
                if progress is not None:
                    progress(base + d, total)

            vecs = self.inner.encode([unique[k] for k in chunk], batch_size=batch_size, progress=inner_progress)
            self.cache.put(self.model_id, chunk, vecs)
            found.update(zip(chunk, vecs))
            done += len(chunk)
        return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)

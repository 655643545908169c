"""Test doubles for embedding tests (shared by test_embeddings.py and test_tagging.py)."""

from __future__ import annotations

import hashlib

import numpy as np

from steps_engine.semantic.embeddings.base import Embedder, normalize_rows


class CountingEmbedder(Embedder):
    """Deterministic pseudo-embeddings (hash of the text -> random unit vector), or fixed
    vectors from `table`; counts every text it is asked to encode."""

    def __init__(self, dim: int = 8, table: dict[str, np.ndarray] | None = None, model_id: str = "fake/counting"):
        self.dim = dim
        self.table = table or {}
        self.model_id = model_id
        self.calls = 0
        self.texts_encoded = 0

    def encode(self, texts, batch_size=64, progress=None):
        texts = list(texts)
        self.calls += 1
        self.texts_encoded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            if t in self.table:
                out[i] = self.table[t]
            else:
                seed = int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little")
                out[i] = np.random.default_rng(seed).normal(size=self.dim)
            if progress is not None and (i + 1) % batch_size == 0:
                progress(i + 1, len(texts))
        if progress is not None:
            progress(len(texts), len(texts))
        return normalize_rows(out)


_MODEL = []


def shared_real_model():
    """The bundled all-MiniLM-L6-v2 (no cache), loaded once per test process."""
    if not _MODEL:
        from steps_engine.semantic.embeddings import SentenceTransformerEmbedder

        _MODEL.append(SentenceTransformerEmbedder())
    return _MODEL[0]

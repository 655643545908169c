"""Text embeddings behind a small interface, with an on-disk cache.

    from steps_engine.semantic.embeddings import get_embedder
    emb = get_embedder()                      # bundled all-MiniLM-L6-v2, cached on disk
    vecs = emb.encode(["public speaking"])    # [n, 384] float32, unit rows

Backends: `SentenceTransformerEmbedder` (any sentence-transformers name or folder).
"""

from __future__ import annotations

import os

from steps_engine.semantic.embeddings.base import Embedder, ProgressFn, normalize_rows
from steps_engine.semantic.embeddings.cache import CachedEmbedder, EmbeddingCache, default_cache_dir
from steps_engine.semantic.embeddings.sentence_transformers import DEFAULT_MODEL_ID, SentenceTransformerEmbedder

__all__ = [
    "Embedder",
    "ProgressFn",
    "normalize_rows",
    "CachedEmbedder",
    "EmbeddingCache",
    "default_cache_dir",
    "SentenceTransformerEmbedder",
    "DEFAULT_MODEL_ID",
    "get_embedder",
]

_SHARED: dict[tuple, Embedder] = {}


def get_embedder(
    model: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    cache: bool = True,
) -> Embedder:
    """The sentence-transformers embedder for `model` (None = bundled default), wrapped in
    the on-disk cache unless `cache=False`. One instance per (model, cache dir) per process,
    so the model loads once."""
    key = (None if model is None else str(model), None if cache_dir is None else str(cache_dir), cache)
    if key not in _SHARED:
        inner = SentenceTransformerEmbedder(model)
        _SHARED[key] = CachedEmbedder(inner, EmbeddingCache(cache_dir)) if cache else inner
    return _SHARED[key]

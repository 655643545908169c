"""The embedding backend interface: texts in, L2-normalised float32 rows out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable, Sequence

import numpy as np

__all__ = ["Embedder", "ProgressFn", "normalize_rows"]

# progress(done, total): called after each batch with counts of texts.
ProgressFn = Callable[[int, int], None]


class Embedder(ABC):
    """A text embedding model.

    `model_id` names the model and its settings (it keys the on-disk cache, so two
    embedders that can give different vectors must have different ids).
    `encode` returns an array [len(texts), dim] of unit-length float32 rows.
    """

    model_id: str

    @abstractmethod
    def encode(
        self, texts: Sequence[str], batch_size: int = 64, progress: ProgressFn | None = None
    ) -> np.ndarray: ...


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (all-zero rows stay zero), as float32."""
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)

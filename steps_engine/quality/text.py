"""Text normalisation and stable n-gram hashes shared by the quality checks.

`words(text)`: NFKC, lowercase, every non-word character (punctuation, symbols) becomes a
space, split on whitespace - the normalisation lm-evaluation-harness's decontamination uses,
up to its exact punctuation set. `token_ids(words)`: a stable 64-bit value per word
(blake2b, memoised; never Python's per-process `hash`). `ngram_hashes(ids, n)`: one 64-bit
value per window of n consecutive words (a polynomial over the word values, modulo 2**64),
or the whole sequence as one window when it is shorter than n.
`conversation_text(messages)`: the non-system turns joined by newlines.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

import numpy as np

__all__ = ["words", "token_ids", "ngram_hashes", "shingle_set", "conversation_text", "user_text"]

_NON_WORD = re.compile(r"[^\w\s]|_", re.UNICODE)
_BASE = np.uint64(0x100000001B3)  # FNV prime: odd, so the polynomial is a bijection per position
_VALUES: dict[str, int] = {}


def words(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text or "").lower()
    return _NON_WORD.sub(" ", text).split()


def token_ids(tokens: list[str]) -> np.ndarray:
    out = np.empty(len(tokens), dtype=np.uint64)
    values = _VALUES
    for i, t in enumerate(tokens):
        v = values.get(t)
        if v is None:
            v = int.from_bytes(hashlib.blake2b(t.encode("utf-8"), digest_size=8).digest(), "little")
            if len(values) < 2_000_000:  # bounded memo
                values[t] = v
        out[i] = v
    return out


def ngram_hashes(ids: np.ndarray, n: int) -> np.ndarray:
    """uint64 hash of every n-word window (len(ids) - n + 1 of them; one for 0 < len < n)."""
    m = len(ids)
    if m == 0:
        return np.empty(0, dtype=np.uint64)
    if m < n:
        n = m
    count = m - n + 1
    h = np.zeros(count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            h = h * _BASE + ids[j : j + count]
    return h


def shingle_set(text: str, n: int) -> np.ndarray:
    """Sorted distinct n-word shingle hashes of `text`."""
    return np.unique(ngram_hashes(token_ids(words(text)), n))


def conversation_text(messages) -> str:
    return "\n".join(str(m.get("content") or "") for m in messages or [] if m.get("role") != "system")


def user_text(messages) -> str:
    """The first user turn (the instruction)."""
    for m in messages or []:
        if m.get("role") == "user":
            return str(m.get("content") or "")
    return ""

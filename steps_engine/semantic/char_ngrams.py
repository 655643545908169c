"""Character n-gram tf-idf similarity between texts and skill names (a lexical term that
survives inflection: "photographic composition" shares most 3-5-grams with "photography").

Features are the 3- to 5-character n-grams of each lower-cased, whitespace-separated word
padded with one space either side (a padded word of at most n characters gives itself once, and no longer n-grams).
Weights: (1 + log tf) * idf, idf = log((1 + V) / (1 + df)) + 1 with df = how many of the V
skill names hold the n-gram (fitted on the names only, so a record's score does not depend
on the rest of its file); rows L2-normalised over the names' n-grams. The similarity is
the cosine of a text's vector and a name's vector, in [0, 1].
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np
import scipy.sparse as sp

__all__ = ["char_ngrams", "CharNgramIndex"]


def char_ngrams(text: str, lo: int = 3, hi: int = 5) -> Counter:
    """Counts of the padded-word character n-grams of `text` (see the module docstring)."""
    out: Counter = Counter()
    for word in text.lower().split():
        w = f" {word} "
        for n in range(lo, hi + 1):
            if len(w) <= n:  # the padded word once, and no longer n-grams
                out[w] += 1
                break
            for i in range(len(w) - n + 1):
                out[w[i: i + n]] += 1
    return out


class CharNgramIndex:
    """The names' tf-idf matrix, built once; `similarity(texts)` -> [n_texts, n_names]."""

    def __init__(self, names: Sequence[str], lo: int = 3, hi: int = 5):
        if not 1 <= lo <= hi:
            raise ValueError(f"need 1 <= lo <= hi, got lo={lo}, hi={hi}")
        self.lo, self.hi = lo, hi
        counts = [char_ngrams(n, lo, hi) for n in names]
        self.features: dict[str, int] = {}
        for c in counts:
            for g in c:
                self.features.setdefault(g, len(self.features))
        df = np.zeros(len(self.features), dtype=np.float64)
        for c in counts:
            for g in c:
                df[self.features[g]] += 1
        self.idf = np.log((1.0 + len(names)) / (1.0 + df)) + 1.0
        self.names_t = self._matrix(counts).T.tocsr()  # [features, names]

    def _matrix(self, counts: Sequence[Counter]) -> sp.csr_matrix:
        rows, cols, vals = [], [], []
        for i, c in enumerate(counts):
            for g, tf in c.items():
                j = self.features.get(g)
                if j is not None:
                    rows.append(i)
                    cols.append(j)
                    vals.append((1.0 + np.log(tf)) * self.idf[j])
        m = sp.csr_matrix((np.asarray(vals, dtype=np.float64), (rows, cols)), shape=(len(counts), len(self.features)))
        norm = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
        norm[norm == 0] = 1.0
        return sp.diags(1.0 / norm) @ m

    def similarity(self, texts: Sequence[str]) -> np.ndarray:
        """[n_texts, n_names] float32 cosines (0 for a text sharing no n-gram with any name)."""
        m = self._matrix([char_ngrams(t or "", self.lo, self.hi) for t in texts])
        return np.asarray((m @ self.names_t).todense(), dtype=np.float32)

"""Curriculum: spread records over epochs by k with mixing weights.

A schedule is a list of epochs; each epoch maps a k (int) or a band name ("low", "mid",
"high") to a weight. Every record is used exactly once: the records of one k are split
across epochs in proportion to that k's weights (largest-remainder rounding, seeded
shuffle), and each epoch is shuffled. The output file lists epoch 1, then 2, then 3, so
a trainer reading it in order (no global shuffle) sees the curriculum.

Bands: the distinct k values present are ranked; position p = rank / (n - 1) (0.5 when
there is one k); low if p < 1/3, high if p > 2/3, else mid.
Preset "steps3" (three epochs, from easy to hard):
  epoch 1: low 0.6, mid 0.3, high 0.1
  epoch 2: low 1/3, mid 1/3, high 1/3
  epoch 3: low 0.1, mid 0.3, high 0.6
"""

from __future__ import annotations

import random
from collections import defaultdict

__all__ = ["PRESETS", "parse_weights", "band_of", "assign_epochs"]

BANDS = ("low", "mid", "high")
PRESETS = {
    "steps3": [
        {"low": 0.6, "mid": 0.3, "high": 0.1},
        {"low": 1 / 3, "mid": 1 / 3, "high": 1 / 3},
        {"low": 0.1, "mid": 0.3, "high": 0.6},
    ],
}


def parse_weights(text: str) -> list[dict]:
    """'2:0.6,3:0.3;2:0.3,3:0.7' (epochs split by ';', key:weight by ',') or a preset name."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"curriculum weights must be a non-empty string, got {text!r}")
    if text in PRESETS:
        return [dict(e) for e in PRESETS[text]]
    epochs = []
    for e, part in enumerate(text.split(";"), 1):
        epoch = {}
        for item in part.split(","):
            if not item.strip():
                continue
            key, sep, value = item.partition(":")
            key = key.strip()
            try:
                w = float(value)
            except ValueError:
                raise ValueError(f"curriculum weights: epoch {e}: {item.strip()!r} is not key:weight") from None
            if not sep or w < 0 or w != w:
                raise ValueError(f"curriculum weights: epoch {e}: {item.strip()!r} needs a weight >= 0")
            if key in BANDS:
                epoch[key] = w
            elif key.lstrip("-").isdigit():
                epoch[int(key)] = w
            else:
                raise ValueError(f"curriculum weights: epoch {e}: key {key!r} must be an integer k or low/mid/high")
        if not epoch:
            raise ValueError(f"curriculum weights: epoch {e} is empty")
        epochs.append(epoch)
    return epochs


def band_of(ks) -> dict[int, str]:
    distinct = sorted(set(ks))
    n = len(distinct)
    out = {}
    for rank, k in enumerate(distinct):
        p = 0.5 if n == 1 else rank / (n - 1)
        out[k] = "low" if p < 1 / 3 else ("high" if p > 2 / 3 else "mid")
    return out


def _split(n: int, weights: list[float]) -> list[int]:
    total = sum(weights)
    exact = [n * w / total for w in weights]
    counts = [int(x) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    return counts


def assign_epochs(records: list[dict], schedule: list[dict], seed: int = 0) -> list[tuple[int, dict]]:
    """(epoch number from 1, record) in output order."""
    if not schedule:
        raise ValueError("schedule must have at least one epoch")
    by_k: dict[int, list[dict]] = defaultdict(list)
    for r in records:
        by_k[int(r["k"])].append(r)
    bands = band_of(by_k)
    rng = random.Random(seed)
    epochs: list[list[dict]] = [[] for _ in schedule]
    for k in sorted(by_k):
        weights = [float(e.get(k, e.get(bands[k], 0.0))) for e in schedule]
        if sum(weights) <= 0:
            raise ValueError(f"curriculum weights give k={k} (band {bands[k]}) no weight in any epoch")
        group = list(by_k[k])
        rng.shuffle(group)
        pos = 0
        for e, c in enumerate(_split(len(group), weights)):
            epochs[e].extend(group[pos : pos + c])
            pos += c
    out = []
    for e, recs in enumerate(epochs, 1):
        rng.shuffle(recs)
        out.extend((e, r) for r in recs)
    return out

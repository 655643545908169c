"""Leave-one-slice-out cross-validation for choosing a method on labelled slices.

    result = cross_validate(slices, fit, score, ids=lambda data: record_ids)
    result.mean, result.worst, result.worst_slice, result.folds

`slices` maps a name to a slice's data (opaque here). For each slice h in turn, `fit`
is called with a read-only mapping of the other slices only - h is not in it, so
nothing `fit` chooses can depend on h - and returns a model (for a grid search: the
chosen candidate). `score(model, data_h)` then gives h's held-out figure: a float, or
a mapping of named figures (e.g. one per vocabulary). `ids` (optional) gives each
slice's record ids; slices that share an id are refused (they would not be disjoint).

`grid_fit(candidates, metric)` is the usual `fit`: the candidate with the best mean
`metric(candidate, data)` over the training slices (ties: the earlier candidate).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Hashable, Iterable, Mapping, Sequence

import numpy as np

__all__ = ["Fold", "CVResult", "cross_validate", "grid_fit", "mean_figure"]


@dataclass(frozen=True)
class Fold:
    held_out: str
    train: tuple[str, ...]
    model: Any
    scores: Mapping[str, float]  # figure name ("" for a single float) -> held-out value


@dataclass(frozen=True)
class CVResult:
    folds: tuple[Fold, ...]

    def values(self, figure: str | None = None) -> list[float]:
        """Held-out values over folds (and figures, unless one `figure` is named)."""
        return [v for f in self.folds for k, v in f.scores.items() if figure is None or k == figure]

    @property
    def mean(self) -> float:
        return float(np.mean(self.values()))

    @property
    def worst(self) -> float:
        return float(np.min(self.values()))

    @property
    def worst_slice(self) -> str:
        """'slice' or 'slice / figure' with the lowest held-out value."""
        best = min(((v, f.held_out, k) for f in self.folds for k, v in f.scores.items()), key=lambda t: t[0])
        return best[1] if not best[2] else f"{best[1]} / {best[2]}"


def _as_scores(value) -> dict[str, float]:
    if isinstance(value, Mapping):
        return {str(k): float(v) for k, v in value.items()}
    return {"": float(value)}


def mean_figure(value) -> float:
    """A score (float or mapping of figures) as one number: the mean of its figures."""
    return float(np.mean(list(_as_scores(value).values())))


def cross_validate(
    slices: Mapping[str, Any],
    fit: Callable[[Mapping[str, Any]], Any],
    score: Callable[[Any, Any], float | Mapping[str, float]],
    ids: Callable[[Any], Iterable[Hashable]] | None = None,
) -> CVResult:
    """Leave each slice out in turn: fit on the rest, score on it (see the module docstring)."""
    names = list(slices)
    if len(names) < 2:
        raise ValueError(f"cross-validation needs at least 2 slices, got {len(names)}")
    if ids is not None:
        owner: dict[Hashable, str] = {}
        for name in names:
            for i in ids(slices[name]):
                if i in owner and owner[i] != name:
                    raise ValueError(f"slices {owner[i]!r} and {name!r} share record {i!r}; slices must be disjoint")
                owner[i] = name
    folds = []
    for held in names:
        train = MappingProxyType({n: slices[n] for n in names if n != held})
        model = fit(train)
        folds.append(Fold(held, tuple(train), model, _as_scores(score(model, slices[held]))))
    return CVResult(tuple(folds))


def grid_fit(
    candidates: Sequence[Any], metric: Callable[[Any, Any], float | Mapping[str, float]]
) -> Callable[[Mapping[str, Any]], Any]:
    """A `fit` that returns the candidate with the highest mean metric over the training
    slices it is given (a mapping metric counts as the mean of its figures)."""
    if not candidates:
        raise ValueError("grid_fit needs at least one candidate")

    def fit(train: Mapping[str, Any]):
        best, best_value = None, -np.inf
        for cand in candidates:
            value = float(np.mean([mean_figure(metric(cand, data)) for data in train.values()]))
            if value > best_value:
                best, best_value = cand, value
        return best

    return fit

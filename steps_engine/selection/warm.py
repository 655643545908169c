"""Compile the selection's numba kernels ahead of use (numba caches them beside the modules).

`setup.sh` calls `warm_up()` once, so the first `steps combos`, demo or studio selection on a
fresh install does not spend seconds compiling. It runs every search path once on a tiny
taxonomy: per start (exact and beam), the dataset mode's grouped exact search with pair caps,
its lazy greedy with a must-include skill (the single-start exact kernel) and the beam.
"""

from __future__ import annotations

import numpy as np

from steps_engine.selection.combos import select_combinations
from steps_engine.selection.search import Constraints, prepare
from steps_engine.taxonomy.tree import EncodingTree

__all__ = ["warm_up"]


def warm_up() -> None:
    # root -> A (a1..a4), B (b1..b4); terms 1
    names = ["a1", "a2", "a3", "a4", "b1", "b2", "b3", "b4"]
    tree = EncodingTree.from_parents([-1, 0, 0] + [1] * 4 + [2] * 4, [-1, -1, -1] + list(range(8)), names,
                                     ids=["root", "A", "B"] + names)
    term = np.ones(tree.n_nodes)
    term[0] = 0.0
    ctx = prepare(tree, None, Constraints(k=3), term=term)
    for scope in ("level:1", "local"):
        select_combinations(ctx, 3, scope=scope)
        select_combinations(ctx, 3, scope=scope, budget=6, max_pair_uses=1)
        select_combinations(ctx, 3, scope=scope, budget=6, max_pair_uses=None)
    forced = prepare(tree, None, Constraints(k=3, must_include=("a1",)), term=term)
    select_combinations(forced, 3, scope="level:1", budget=3, max_pair_uses=1)

"""Synthetic hierarchical skill-tag data for benchmarks and tests.

Skills are planted in a hierarchy (top groups -> subgroups -> skills) with Zipf popularity.
Each row draws 2-5 skills: mostly from one subgroup, sometimes from a sibling subgroup of
the same top group, rarely from anywhere. Pair counting is vectorised so millions of rows
are cheap.
"""

from __future__ import annotations

import numpy as np


__all__ = ["planted_skill_rows", "planted_counts"]


def planted_skill_rows(
    n_skills: int,
    n_rows: int,
    n_top: int = 8,
    n_sub: int = 6,
    zipf: float = 1.1,
    p_sibling: float = 0.25,
    p_random: float = 0.05,
    seed: int = 0,
) -> tuple[list[str], list[np.ndarray]]:
    """Rows of skill indices, grouped by row length (2..5). Returns (skill names, batches)."""
    if n_skills < n_top * n_sub:
        raise ValueError(f"n_skills must be >= n_top * n_sub = {n_top * n_sub}, got {n_skills}")
    rng = np.random.default_rng(seed)
    n_groups = n_top * n_sub
    group_of = np.sort(rng.integers(0, n_groups, n_skills))
    group_of[:n_groups] = np.arange(n_groups)  # every subgroup non-empty
    group_of = np.sort(group_of)
    names = [f"t{g // n_sub}_s{g % n_sub}_skill{i}" for i, g in enumerate(group_of)]
    members = [np.flatnonzero(group_of == g) for g in range(n_groups)]
    pop = 1.0 / np.arange(1, n_skills + 1) ** zipf
    pop = pop[rng.permutation(n_skills)]
    group_pop = np.array([pop[m].sum() for m in members])
    batches = []
    lengths = rng.choice([2, 3, 4, 5], size=n_rows, p=[0.3, 0.35, 0.2, 0.15])
    for k in (2, 3, 4, 5):
        rows_k = int((lengths == k).sum())
        if rows_k == 0:
            continue
        home = rng.choice(n_groups, size=rows_k, p=group_pop / group_pop.sum())
        out = np.empty((rows_k, k), dtype=np.int64)
        for j in range(k):
            r = rng.random(rows_k)
            g = home.copy()
            sib = (r < p_sibling) & (j > 0)
            g[sib] = (home[sib] // n_sub) * n_sub + rng.integers(0, n_sub, sib.sum())
            rnd = (r > 1 - p_random) & (j > 0)
            g[rnd] = rng.integers(0, n_groups, rnd.sum())
            for grp in np.unique(g):
                sel = np.flatnonzero(g == grp)
                m = members[grp]
                p = pop[m] / pop[m].sum()
                out[sel, j] = rng.choice(m, size=sel.shape[0], p=p)
        batches.append(out)
    return names, batches


def planted_counts(n_skills: int, n_rows: int, seed: int = 0, **kw):
    """Count skills and pairs of `planted_skill_rows`.
    Returns (names, counts, n_rows, pair_src, pair_dst, pair_count), what `build_graph` takes."""
    names, batches = planted_skill_rows(n_skills, n_rows, seed=seed, **kw)
    counts = np.zeros(n_skills, dtype=np.int64)
    keys = []
    for rows in batches:
        rows = np.sort(rows, axis=1)
        first = np.ones(rows.shape, dtype=bool)  # first occurrence of a skill in its row
        first[:, 1:] = rows[:, 1:] != rows[:, :-1]
        for j in range(rows.shape[1]):
            np.add.at(counts, rows[first[:, j], j], 1)
        for a in range(rows.shape[1]):
            for b in range(a + 1, rows.shape[1]):
                ok = first[:, a] & first[:, b]
                keys.append(rows[ok, a] * n_skills + rows[ok, b])
    uniq, cnt = np.unique(np.concatenate(keys), return_counts=True)
    return names, counts, sum(b.shape[0] for b in batches), uniq // n_skills, uniq % n_skills, cnt

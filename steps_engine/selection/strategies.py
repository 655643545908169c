"""Baseline strategies to compare with STEPS selection, and metrics for any combinations.

random   uniform random (k-1)-sets of admissible skills (the Instruct-SkillMix recipe),
         drawn inside the same scope subtree as the STEPS search (local: the start's
         ancestor at depth max_level; level:L: at depth L; global: everything).
cooccur  a walk on observed co-occurrence edges: the next skill is a neighbour of the last
         chosen one, drawn proportionally to the pair's co-occurrence count; if it has no
         admissible neighbour, a neighbour of any chosen skill (counts summed); failing
         that, a uniform admissible skill. Same scope rule as `random`.
Both honour exclusions, must-include (placed right after the start) and the pairwise rules,
and return distinct sets. Randomness only through the given numpy Generator.
"""

from __future__ import annotations

import itertools
from typing import Iterable, Iterator

import numpy as np

from steps_engine.selection.budget import DEFAULT_LEAF_DISCOUNT, DEFAULT_REUSE_DISCOUNT, dataset_objective
from steps_engine.selection.search import Combination, SelectionContext, make_combination, parse_scope, scope_depths

__all__ = ["iter_random", "iter_cooccur", "random_combinations", "cooccur_combinations", "combination_metrics",
           "skill_usage", "STRATEGIES"]

STRATEGIES = ("steps", "random", "cooccur")


def _pool(ctx: SelectionContext, start: int, k: int, scope, max_level: int) -> tuple[np.ndarray, list[int]] | None:
    """Admissible candidate positions in the scope subtree, and the seed [start, forced...]."""
    flat = ctx.flat
    _, cap = scope_depths(flat, start, parse_scope(scope), k, max_level)
    root = int(flat.anc[start, cap])
    lo, hi = int(flat.leaf_lo[root]), int(flat.leaf_hi[root])
    seed = [start] + [int(p) for p in ctx.forced if p != start]
    if len(seed) > k or any(not (lo <= p < hi) for p in seed):
        return None
    cand = np.arange(lo, hi)
    cand = cand[ctx.allowed[lo:hi]]
    cand = cand[~np.isin(cand, seed)]
    if ctx.okpair is not None:
        if not all(ctx.okpair[a, b] for i, a in enumerate(seed) for b in seed[i + 1:]):
            return None
        cand = cand[ctx.okpair[np.ix_(cand, seed)].all(axis=1)]
    return cand, seed


def _admissible(ctx: SelectionContext, chosen: list[int], cand: np.ndarray) -> np.ndarray:
    cand = cand[~np.isin(cand, chosen)]
    if ctx.okpair is not None and cand.size:
        cand = cand[ctx.okpair[np.ix_(cand, chosen)].all(axis=1)]
    return cand


def _finish(ctx, positions, strategy, scope, seen) -> Combination | None:
    key = frozenset(positions)
    if key in seen:
        return None
    combo = make_combination(ctx, positions, strategy, str(parse_scope(scope)))
    mm = ctx.constraints.min_mean_similarity
    if mm is not None and combo.coherence < mm:
        return None
    seen.add(key)
    return combo


def _start_pool(ctx, start, k, scope, max_level):
    """(candidates, seed positions) for a start, or None when its scope holds fewer than k skills."""
    s = ctx.position(start) if isinstance(start, str) else int(start)
    got = _pool(ctx, s, k, scope, max_level)
    if got is None or len(got[0]) + len(got[1]) < k:
        return None
    return got


def iter_random(ctx: SelectionContext, start: str | int, k: int, scope="local", max_level: int = 1,
                rng: np.random.Generator | None = None, patience: int = 50) -> Iterator[Combination]:
    """Distinct uniform random combinations for one start, until `patience` draws in a
    row bring nothing new."""
    rng = rng or np.random.default_rng(0)
    got = _start_pool(ctx, start, k, scope, max_level)
    if got is None:
        return
    cand, seed = got
    seen: set = set()
    misses = 0
    while misses < patience:
        chosen = list(seed)
        while len(chosen) < k:
            if ctx.okpair is None:  # one uniform draw of the whole rest
                free = cand[~np.isin(cand, chosen)]
                pick = rng.choice(free, size=min(k - len(chosen), free.size), replace=False)
                chosen.extend(int(p) for p in pick)
                break
            free = _admissible(ctx, chosen, cand)
            if free.size == 0:
                break
            chosen.append(int(rng.choice(free)))
        combo = _finish(ctx, chosen, "random", scope, seen) if len(chosen) == k else None
        if combo is None:
            misses += 1
            continue
        misses = 0
        yield combo


def iter_cooccur(ctx: SelectionContext, start: str | int, k: int, scope="local", max_level: int = 1,
                 rng: np.random.Generator | None = None, patience: int = 50) -> Iterator[Combination]:
    """Distinct co-occurrence-walk combinations for one start, until `patience` walks in a
    row bring nothing new."""
    rng = rng or np.random.default_rng(0)
    got = _start_pool(ctx, start, k, scope, max_level)
    if got is None:
        return
    cand, seed = got
    pool = np.concatenate([seed, cand]).astype(np.int64)  # local index i <-> leaf position pool[i]
    rows: dict[int, np.ndarray] = {}

    def weights(i: int) -> np.ndarray:  # co-occurrence counts of pool[i] with the pool
        if i not in rows:
            rows[i] = ctx.cooc[int(pool[i])].toarray().ravel()[pool].astype(np.float64)
        return rows[i]

    ok = ctx.okpair[np.ix_(pool, pool)] if ctx.okpair is not None else None
    n_seed = len(seed)
    seen: set = set()
    misses = 0
    while misses < patience:
        chosen = list(range(n_seed))
        free = np.ones(len(pool), bool)
        free[:n_seed] = False
        if ok is not None:
            free &= ok[:, chosen].all(axis=1)
        while len(chosen) < k and free.any():
            pick = -1
            for group in ([chosen[-1]], chosen):
                w = sum(weights(i) for i in group) * free
                total = w.sum()
                if total > 0:
                    pick = int(rng.choice(w.shape[0], p=w / total))
                    break
            if pick < 0:
                pick = int(rng.choice(np.flatnonzero(free)))
            chosen.append(pick)
            free[pick] = False
            if ok is not None:
                free &= ok[:, pick]
        combo = _finish(ctx, [int(pool[i]) for i in chosen], "cooccur", scope, seen) if len(chosen) == k else None
        if combo is None:
            misses += 1
            continue
        misses = 0
        yield combo


def random_combinations(ctx: SelectionContext, start: str | int, k: int, scope="local", max_level: int = 1,
                        n: int = 1, rng: np.random.Generator | None = None) -> list[Combination]:
    """Up to n distinct uniform random combinations for one start."""
    return list(itertools.islice(iter_random(ctx, start, k, scope, max_level, rng), n))


def cooccur_combinations(ctx: SelectionContext, start: str | int, k: int, scope="local", max_level: int = 1,
                         n: int = 1, rng: np.random.Generator | None = None) -> list[Combination]:
    """Up to n distinct co-occurrence-walk combinations for one start."""
    return list(itertools.islice(iter_cooccur(ctx, start, k, scope, max_level, rng), n))


def combination_metrics(ctx: SelectionContext, combos: Iterable[Combination],
                        reuse_discount: float = DEFAULT_REUSE_DISCOUNT, count_start: bool = True,
                        leaf_discount: float | None = DEFAULT_LEAF_DISCOUNT) -> dict:
    """Per combination: mean gain, mean LCA depth, fraction of skill pairs never seen together
    in the data (co-occurrence count 0), mean coherence (when a similarity matrix is set).
    Dataset: skill coverage (distinct skills used / skills in the tree), skills used, max
    skill share (largest share of combinations that contain one skill, start included),
    max pair uses (most combinations one pair of skills is in), distinct pairs, usage
    efficiency (entropy of the skill-usage distribution / log2(skills in the tree); 1 = all
    used equally) and the dataset objective F at these discounts (`budget.dataset_objective`)."""
    combos = list(combos)
    n_skills = ctx.flat.n_leaves
    if not combos:
        return {"combinations": 0, "mean_gain": 0.0, "mean_lca_depth": 0.0, "unseen_pair_fraction": 0.0,
                "skill_coverage": 0.0, "skills_used": 0, "max_skill_share": 0.0, "max_pair_uses": 0,
                "distinct_pairs": 0, "usage_efficiency": 0.0, "objective": 0.0}
    pairs = unseen = 0
    uses = np.zeros(n_skills, np.int64)
    pair_uses: dict[tuple[int, int], int] = {}
    for c in combos:
        p = np.array([ctx.position(s) for s in c.skills])
        uses[p] += 1
        iu = np.triu_indices(len(p), 1)
        block = ctx.cooc[p][:, p].toarray()[iu]
        pairs += block.size
        unseen += int((block == 0).sum())
        for a, b in zip(p[iu[0]], p[iu[1]]):
            key = (int(min(a, b)), int(max(a, b)))
            pair_uses[key] = pair_uses.get(key, 0) + 1
    share = uses[uses > 0] / uses.sum()
    entropy = float(-(share * np.log2(share)).sum())
    out = {
        "combinations": len(combos),
        "mean_gain": float(np.mean([c.gain for c in combos])),
        "mean_lca_depth": float(np.mean([c.lca_depth for c in combos])),
        "unseen_pair_fraction": unseen / pairs if pairs else 0.0,
        "skill_coverage": int((uses > 0).sum()) / n_skills,
        "skills_used": int((uses > 0).sum()),
        "max_skill_share": float(uses.max() / len(combos)),
        "max_pair_uses": max(pair_uses.values(), default=0),
        "distinct_pairs": len(pair_uses),
        "usage_efficiency": entropy / np.log2(n_skills) if n_skills > 1 else 1.0,
        "objective": dataset_objective(ctx, combos, reuse_discount, count_start, leaf_discount),
    }
    coh = [c.coherence for c in combos if c.coherence is not None]
    if coh:
        out["mean_coherence"] = float(np.mean(coh))
    return out


def skill_usage(ctx: SelectionContext, combos: Iterable[Combination]) -> dict[str, int]:
    """Number of combinations each skill of the taxonomy is in (start included), 0 for unused."""
    uses = {ctx.name(p): 0 for p in range(ctx.flat.n_leaves)}
    for c in combos:
        for s in dict.fromkeys(c.skills):
            uses[s] += 1
    return uses

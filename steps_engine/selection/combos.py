"""Dataset-level selection: many starts, several combinations each, de-duplicated.

starts    "all" (every skill leaf, in taxonomy order), "tail:Q" (skills whose frequency is
          <= the Q-quantile of skill frequencies, 0 < Q <= 1) or a list of skill names.
per_start N distinct combinations per start: the next-best distinct sets (exact N-best for
          level:L, the final beam for local, repeated draws for the baselines).
de-dup    identical sets (as sets, whatever the start) are kept once, first come first
          served in start order; a start then pulls its next-best set instead.
budget    with `budget` N (the dataset mode): exactly N distinct combinations per size, chosen
          by lazy greedy on the submodular dataset objective of `selection.budget` (reuse
          discount, optional skill / pair caps); a start may be used many times. Baseline
          strategies take turns over the starts in a seeded random order, one distinct
          draw per turn. A shortfall is reported in `SelectionRun.shortfall`.
k range   k..k_max: every size is run (and, with a budget, each size gets the budget; the
          discounts and caps carry over between sizes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from steps_engine._atomic import write_jsonl as atomic_write_jsonl

from steps_engine.selection.budget import DEFAULT_BUDGET_BEAM, DEFAULT_LEAF_DISCOUNT, DEFAULT_MAX_PAIR_USES, BudgetState, default_reuse_discount, select_budget
from steps_engine.selection.search import Combination, SelectionContext, iter_combinations, parse_scope
from steps_engine.selection.strategies import STRATEGIES, iter_cooccur, iter_random

__all__ = ["SelectionRun", "parse_starts", "select_combinations", "write_jsonl"]


@dataclass
class SelectionRun:
    combinations: list[Combination]
    starts: int = 0
    starts_without: list[str] = field(default_factory=list)  # per-start mode: starts that gave nothing
    starts_short: list[str] = field(default_factory=list)  # per-start mode: starts with 0 < sets < per_start
    duplicates_dropped: int = 0
    shortfall: list[str] = field(default_factory=list)  # budget mode: why a size got fewer than N
    evaluations: int = 0  # budget mode: per-start searches run


def parse_starts(ctx: SelectionContext, spec: str | list[str]) -> list[int]:
    """Leaf positions of the start skills (excluded skills are never starts)."""
    flat = ctx.flat
    if isinstance(spec, (list, tuple)):
        names = list(spec)
    elif spec == "all":
        names = None
    elif isinstance(spec, str) and spec.startswith("tail:"):
        try:
            q = float(spec[5:])
        except ValueError:
            q = -1.0
        if not 0 < q <= 1:
            raise ValueError(f"starts tail:Q needs 0 < Q <= 1, got {spec!r}")
        if not ctx.counts.any():
            raise ValueError("starts tail:Q needs skill frequencies (skills.csv counts), none found")
        thr = np.quantile(ctx.counts, q)
        return [p for p in range(flat.n_leaves) if ctx.counts[p] <= thr and ctx.allowed[p]]
    elif isinstance(spec, str):
        names = [s.strip() for s in spec.split(",") if s.strip()]
        if not names:
            raise ValueError(f"starts must be 'all', 'tail:Q' or skill names, got {spec!r}")
    else:
        raise ValueError(f"starts must be 'all', 'tail:Q' or skill names, got {spec!r}")
    if names is None:
        return [p for p in range(flat.n_leaves) if ctx.allowed[p]]
    out = []
    for s in names:
        p = ctx.position(s)
        if not ctx.allowed[p]:
            raise ValueError(f"start skill {s!r} is excluded")
        out.append(p)
    return list(dict.fromkeys(out))


def _source(ctx, strategy, k, scope, max_level, beam, seed) -> Callable[[int], Iterator[Combination]]:
    """A function start -> iterator of that start's distinct combinations, best first."""
    if strategy == "steps":
        return lambda s: iter_combinations(ctx, s, k, scope, max_level, beam)
    fn = iter_random if strategy == "random" else iter_cooccur
    return lambda s: fn(ctx, s, k, scope, max_level, rng=np.random.default_rng([seed, k, s]))


class _Ticker:
    """Progress for `progress=True` (a tqdm bar on stderr) or a callback `progress(done, total)`."""

    def __init__(self, progress, total: int, desc: str):
        self.callback = progress if callable(progress) else None
        self.total, self.done = total, 0
        self.bar = None
        if progress is True:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, leave=False)

    def update(self, n: int = 1) -> None:
        self.set(self.done + n, self.total)

    def set(self, done: int, total: int) -> None:
        """`done` of `total` (the total may shrink: a budget search that found all there is)."""
        if self.bar is not None:
            self.bar.update(done - self.done)
            if total != self.total:
                self.bar.total = total
                self.bar.refresh()
        self.done, self.total = done, total
        if self.callback is not None:
            self.callback(self.done, self.total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def select_combinations(
    ctx: SelectionContext,
    k: int | None = None,
    *,
    k_max: int | None = None,
    starts: str | list[str] = "all",
    per_start: int = 1,
    scope: str = "local",
    max_level: int = 1,
    strategy: str = "steps",
    beam: int | None = None,
    seed: int = 0,
    budget: int | None = None,
    reuse_discount: float | None = None,
    max_skill_uses: int | None = None,
    max_pair_uses: int | None = DEFAULT_MAX_PAIR_USES,
    count_start: bool = True,
    leaf_discount: float | None = DEFAULT_LEAF_DISCOUNT,
    sample_epsilon: float | None = 0.01,
    progress: bool | Callable[[int, int], None] = False,
) -> SelectionRun:
    """Combinations for many starts (see the module docstring). `progress`: True for a
    tqdm bar, or a callback `progress(done, total)` per start (per combination with a budget).
    reuse_discount (None: `budget.default_reuse_discount(scope)`), leaf_discount, max_skill_uses,
    max_pair_uses, count_start and sample_epsilon apply to the
    budget mode with the steps strategy (`selection.budget`); the baselines ignore them."""
    k = int(ctx.constraints.k if k is None else k)
    k_max = ctx.constraints.k_max if k_max is None else k_max
    if k < 2:
        raise ValueError(f"k must be >= 2, got {k}")
    if k_max is not None and k_max < k:
        raise ValueError(f"k_max must be >= k ({k}), got {k_max}")
    if per_start < 1:
        raise ValueError(f"per_start must be >= 1, got {per_start}")
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    if budget is not None and budget < 1:
        raise ValueError(f"budget must be >= 1, got {budget}")
    if beam is None:  # the budget mode runs many more searches; a narrower beam loses nothing measurable
        beam = DEFAULT_BUDGET_BEAM if budget is not None and strategy == "steps" else 100
    if beam < 1:
        raise ValueError(f"beam must be >= 1, got {beam}")
    if max_level < 0:
        raise ValueError(f"max_level must be >= 0, got {max_level}")
    n_skills = len(ctx.tree.skills)
    if (k_max or k) > n_skills:
        name, value = ("k_max", k_max) if k_max else ("k", k)
        raise ValueError(f"{name} {value} is more than the {n_skills} skills of the taxonomy")
    level = parse_scope(scope)
    height = ctx.tree.height
    if level.kind == "level" and height > 1 and level.level >= height:  # (a flat tree: every level is the root)
        raise ValueError(f"scope level:{level.level} is not above the skills (the tree's height is {height}, so "
                         f"level:{height - 1} is already their parent clusters); use global or level:1..{height - 1}")
    start_pos = parse_starts(ctx, starts)
    run = SelectionRun([], starts=len(start_pos))
    seen: set[frozenset] = set()
    state = None
    if reuse_discount is None:
        reuse_discount = default_reuse_discount(scope)
    if budget is not None and strategy == "steps":
        state = BudgetState(ctx, reuse_discount, max_skill_uses, max_pair_uses, count_start, leaf_discount)
    for size in range(k, (k_max or k) + 1):
        if budget is None:
            _per_start(ctx, run, seen, start_pos, size, per_start, scope, max_level, strategy, beam, seed, progress)
        elif state is not None:
            _budget(ctx, run, state, start_pos, size, budget, scope, max_level, beam, seed, sample_epsilon, progress)
        else:
            _turns(ctx, run, seen, start_pos, size, budget, scope, max_level, strategy, beam, seed, progress)
    return run


def _budget(ctx, run, state, start_pos, k, budget, scope, max_level, beam, seed, sample_epsilon, progress):
    ticker = _Ticker(progress, budget, f"budget k={k}")
    got = select_budget(state, k, budget, start_pos, scope, max_level, beam, sample_epsilon=sample_epsilon,
                        seed=seed, progress=ticker.set)
    ticker.close()
    run.combinations.extend(got.combinations)
    run.evaluations += got.evaluations
    if got.shortfall:
        run.shortfall.append(got.shortfall)


def _per_start(ctx, run, seen, start_pos, k, per_start, scope, max_level, strategy, beam, seed, progress):
    pull = 4 * per_start + 4  # how far past duplicates a start may look
    source = _source(ctx, strategy, k, scope, max_level, beam, seed)
    ticker = _Ticker(progress, len(start_pos), f"k={k}")
    for s in start_pos:
        ticker.update()
        got = 0
        for i, combo in enumerate(source(s)):
            key = frozenset(combo.skills)
            if key in seen:
                run.duplicates_dropped += 1
            else:
                seen.add(key)
                run.combinations.append(combo)
                got += 1
            if got >= per_start or i + 1 >= pull:
                break  # never ask the source for more than needed (N-best costs extra solves)
        if got == 0:
            run.starts_without.append(ctx.name(s))
        elif got < per_start:
            run.starts_short.append(ctx.name(s))
    ticker.close()


def _turns(ctx, run, seen, start_pos, k, budget, scope, max_level, strategy, beam, seed, progress):
    """Baselines with a budget: starts take turns in a seeded random order, one new distinct
    set per turn, until the budget is met or every start is exhausted."""
    source = _source(ctx, strategy, k, scope, max_level, beam, seed)
    order = list(np.random.default_rng([seed, k]).permutation(np.asarray(start_pos, np.int64)))
    iters = {int(s): iter(source(int(s))) for s in order}
    alive = [int(s) for s in order]
    made = 0
    ticker = _Ticker(progress, budget, f"{strategy} k={k}")
    while made < budget and alive:
        nxt = []
        for s in alive:
            if made >= budget:
                nxt.append(s)
                continue
            for combo in iters[s]:
                key = frozenset(combo.skills)
                if key in seen:
                    run.duplicates_dropped += 1
                    continue
                seen.add(key)
                combo.rank = made + 1
                run.combinations.append(combo)
                made += 1
                ticker.update()
                nxt.append(s)
                break
        alive = nxt
    if made < budget:
        ticker.set(made, made)  # every start is exhausted: the bar ends full
    ticker.close()
    if made < budget:
        run.shortfall.append(f"selected {made} of the {budget} combinations asked for (k = {k}, strategy "
                             f"{strategy}): the starts' draws brought no further distinct admissible set")


def write_jsonl(path: str | Path, combos: Iterable[Combination]) -> int:
    """Write one JSON object per line, atomically. Returns the number of lines."""
    n = atomic_write_jsonl(path, (c.to_json() for c in combos))
    return n

"""A budget far above what exists (`selection.budget`): the search stops at what the caps
allow, says why, and its progress ends full; the speed-ups behind it change no pick (checked
against the previous evaluation, kept here verbatim, on the demo and on Instruct-SkillMix)."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest

from steps_engine.selection import budget as B
from steps_engine.selection.budget import BudgetState
from steps_engine.selection.combos import select_combinations
from steps_engine.selection.search import Constraints, _dp_sets, prepare
from steps_engine.taxonomy.tree import EncodingTree
from test_budget import all_candidates, small_ctx
from test_selection import random_tree

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def two_groups(cons=None):
    """root -> A (a1..a4), B (b1..b5); every term 1."""
    parent = [-1, 0, 0] + [1] * 4 + [2] * 5
    leaf = [-1, -1, -1] + list(range(9))
    names = ["a1", "a2", "a3", "a4", "b1", "b2", "b3", "b4", "b5"]
    tree = EncodingTree.from_parents(parent, leaf, names, ids=["root", "A", "B"] + names)
    term = np.ones(tree.n_nodes)
    term[0] = 0.0
    return prepare(tree, None, cons or Constraints(k=3), term=term)


# ---------------------------------------------------------------- the bound by hand
def test_capacity_by_hand_names_what_binds():
    ctx = two_groups()
    starts = range(9)
    # no cap: C(4, 3) + C(5, 3) = 4 + 10 sets inside the level:1 clusters; C(9, 3) = 84 globally
    assert BudgetState(ctx).capacity(3, starts, "level:1") == (14, "sets")
    assert BudgetState(ctx).capacity(3, starts, "global") == (84, "sets")
    # pair cap 1, a set takes 3 pairs: A 6 pairs -> 2, B 10 pairs -> 3 (fewer than its 10 sets)
    assert BudgetState(ctx, max_pair_uses=1).capacity(3, starts, "level:1") == (5, "pairs")
    # skill cap 1, a set takes 3 skills: A 4 // 3 = 1, B 5 // 3 = 1
    assert BudgetState(ctx, max_skill_uses=1).capacity(3, starts, "level:1") == (2, "skills")
    # never-together a1+a2 with pair cap 2: A has 5 admissible pairs, 5 * 2 // 3 = 3 (< 4 sets);
    # B 10 * 2 // 3 = 6 (< 10 sets)
    ctx2 = two_groups(Constraints(k=3, never_together=(("a1", "a2"),)))
    assert BudgetState(ctx2, max_pair_uses=2).capacity(3, starts, "level:1") == (9, "pairs")
    # only starts in A: B's sets cannot be reached
    assert BudgetState(ctx).capacity(3, [0, 1], "level:1") == (4, "sets")


def test_capacity_counts_down_as_sets_are_picked():
    ctx = two_groups()
    st = BudgetState(ctx, max_pair_uses=1)
    st.add([0, 1, 2])  # uses A's pairs a1a2, a1a3, a2a3: 3 of its 6 left -> 1 set
    assert st.capacity(3, range(9), "level:1") == (1 + 3, "pairs")
    st = BudgetState(ctx)
    st.add([4, 5, 6])  # one of B's 10 sets taken
    assert st.capacity(3, range(9), "level:1") == (4 + 9, "sets")


def _max_packing(sets, k, max_pair_uses, max_skill_uses):
    """Largest number of distinct sets with every pair and skill under its cap (depth-first)."""
    best = 0

    def go(i, n, pairs, skills):
        nonlocal best
        best = max(best, n)
        if n + len(sets) - i <= best:
            return
        for j in range(i, len(sets)):
            s = sets[j]
            ps = list(itertools.combinations(sorted(s), 2))
            if max_pair_uses is not None and any(pairs.get(p, 0) >= max_pair_uses for p in ps):
                continue
            if max_skill_uses is not None and any(skills.get(x, 0) >= max_skill_uses for x in s):
                continue
            for p in ps:
                pairs[p] = pairs.get(p, 0) + 1
            for x in s:
                skills[x] = skills.get(x, 0) + 1
            go(j + 1, n + 1, pairs, skills)
            for p in ps:
                pairs[p] -= 1
            for x in s:
                skills[x] -= 1

    go(0, 0, {}, {})
    return best


@pytest.mark.parametrize("seed", range(6))
def test_capacity_bounds_the_best_packing_and_the_greedy_stops_within_it(seed):
    rng = np.random.default_rng(seed)
    ctx = small_ctx(seed, n_leaves=7, height=3)
    pair_cap = int(rng.integers(1, 3))
    skill_cap = [None, 2][int(rng.integers(0, 2))]
    sets = sorted({S for _, S in all_candidates(ctx, 3, "level:1")}, key=sorted)
    truth = _max_packing(sets, 3, pair_cap, skill_cap)
    room, _ = BudgetState(ctx, max_pair_uses=pair_cap, max_skill_uses=skill_cap).capacity(3, range(7), "level:1")
    assert truth <= room
    calls = []
    run = select_combinations(ctx, 3, scope="level:1", budget=10_000, max_pair_uses=pair_cap,
                              max_skill_uses=skill_cap, progress=lambda d, t: calls.append((d, t)))
    n = len(run.combinations)
    assert n <= truth
    assert calls and calls[-1] == (n, n)  # the bar ends full
    assert all(t <= room for _, t in calls)  # and counted against what can exist, not 10,000
    assert run.shortfall and f"selected {n} of the 10000" in run.shortfall[0]
    assert f"at most {room:,} can exist here" in run.shortfall[0]


def test_a_budget_far_above_what_exists_keeps_the_binding_cap_in_the_warning():
    ctx = two_groups()
    calls = []
    run = select_combinations(ctx, 3, scope="level:1", budget=100_000, max_pair_uses=1,
                              progress=lambda d, t: calls.append((d, t)))
    # K4 holds one triangle with no shared edge, K5 two: 3 sets, and the bound is 5
    assert len(run.combinations) == 3
    assert calls[0] == (1, 5) and calls[-1] == (3, 3)
    msg = run.shortfall[0]
    assert msg.startswith("selected 3 of the 100000 combinations asked for (k = 3, scope level:1): at most 5 can "
                          "exist here (uses left to admissible pairs); every further admissible set would break a cap (")
    assert "pair(s) are at --max-pair-uses 1" in msg
    # a budget inside the bound is not cut: the no-cap search finds all 14 sets of the clusters
    assert len(select_combinations(ctx, 3, scope="level:1", budget=14, max_pair_uses=None).combinations) == 14


def test_the_cli_bar_follows_a_total_that_shrinks(capsys):
    from steps_engine.cli.progress import StageProgress

    bar = StageProgress()
    bar("combinations", 1, 100_000)
    bar("combinations", 1094, 1094)
    bar.close()
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1] == "steps: combinations 100% (1,094 of 1,094)"


# ---------------------------------------------------------------- same picks as before
# The evaluation before the speed-ups (no dead starts, no last-value bounds, every Lawler set
# ordered, numpy pair checks, group candidates in loops, no capacity stop), verbatim.
def _old_call(self, x):
    st = self.state
    if st.max_skill_uses is not None and st.uses[x] >= st.max_skill_uses:
        return None
    self.evaluations += 1
    got = self._exact(x) if self.exact else "beam"
    if got == "beam":
        got = self._beam(x)
    if got is not None:
        got = (got[0] + st.start_credit(x), got[1])
    return got


def _old_exact(self, x):
    st = self.state
    sel = st.selectable
    if st.okpair is not None:
        sel = sel.copy()
        sel[st.ctx.flat.leaf_node[~st.okpair[x]]] = False
    screened = 0
    for value, positions in _dp_sets(st.ctx, x, self.k, self.scope, st.value, sel):
        if frozenset(positions) in st.seen:
            continue
        if st.pair_ok(positions):
            return value, positions
        screened += 1
        if screened >= B._PULL:
            return "beam"
    return None


def _old_pair_ok(self, positions):
    if self.okpair is None:
        return True
    p = np.asarray(positions, np.int64)
    return bool(self.okpair[np.ix_(p, p)][np.triu_indices(len(p), 1)].all())


def _old_candidate(self, r):
    st, flat, xs = self.state, self.flat, self.groups[r]
    B.K.knapsack_all_starts(flat.pre, flat.tin, flat.tout, flat.child_ptr, flat.child_idx, st.value,
                            st.selectable, r, self.m, self.f, self.P, self.cnt, self.out)
    self.ev.evaluations += 1
    vals = self.out[flat.leaf_node[xs], self.m].copy()
    mode = B.start_mode(st.count_start, st.scope)
    if mode == "path":
        vals += st.dcum[flat.leaf_node[xs]] - st.dcum[r]
    elif mode == "leaf":
        vals += st.value[flat.leaf_node[xs]]
    if st.max_skill_uses is not None:
        vals[st.uses[xs] >= st.max_skill_uses] = -np.inf
    checked = {}
    rank = np.array([self.order[int(x)] for x in xs])
    while True:
        if not np.isfinite(vals).any():
            return None
        keys = np.round(vals, 12)
        i = int(np.lexsort((rank, -keys))[0])
        x = int(xs[i])
        if x in checked:
            return checked[x]
        got = self.ev(x)
        if got is None:
            vals[i] = -np.inf
            continue
        checked[x] = (got[0], x, got[1])
        if B._key(got[0]) == keys[i]:
            return checked[x]
        vals[i] = got[0]


def _old_best(self):
    best = None
    for c in self.cand.values():
        if c is not None and (best is None or (B._key(c[0]), -self.order[c[1]]) > (B._key(best[0]), -self.order[best[1]])):
            best = c
    return best


def _old_update(self, positions, nodes):
    flat = self.flat
    touched = np.concatenate([nodes, flat.leaf_node[np.asarray(positions, np.int64)]])
    t = flat.tin[touched]
    for r in self.groups:
        if ((flat.tin[r] <= t) & (t < flat.tout[r])).any():
            self.cand[r] = self._candidate(r)


def _digest(run) -> str:
    blob = "".join(json.dumps(c.to_json(), sort_keys=True) + "\n" for c in run.combinations)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _demo_ctx():
    from steps_engine.demo import DEMO_PATH, demo_mapping
    from steps_engine.taxonomy.build import build_taxonomy

    tax = build_taxonomy(DEMO_PATH, demo_mapping(), height=4, name_rows=0)
    return prepare(tax.tree, tax.graph, Constraints(k=3))


def _ism_ctx():
    from steps_engine.data.ingest import FieldMapping
    from steps_engine.taxonomy.build import build_taxonomy

    path = DATA / "instruct_skillmix" / "ism_sda_k2_1000.json"
    if not path.exists():
        pytest.skip(f"{path} not available")
    tax = build_taxonomy(path, FieldMapping("skills_joined_str", ", "), height=4, name_rows=0)
    return prepare(tax.tree, tax.graph, Constraints(k=3))


# feasible budgets where the pair caps already bind (demo level:1 k = 3: 1,094 exist; ISM
# level:2 k = 4: more than 600; ISM level:1 k = 3: 9,995), the studio's beam 100 and the CLI's default beam, and local
CASES = {
    "demo": (_demo_ctx, [dict(k=3, scope="level:1", budget=700, beam=100), dict(k=4, scope="level:1", budget=150),
                         dict(k=3, scope="level:2", budget=250), dict(k=3, scope="local", budget=300)]),
    "instruct_skillmix": (_ism_ctx, [dict(k=4, scope="level:2", budget=600), dict(k=3, scope="local", budget=1500),
                                     dict(k=3, scope="level:1", budget=2500, beam=100)]),  # the studio's settings
}


def _patch_old(m):
    """Put the previous evaluation (above) in place of the current one."""
    m.setattr(B._Evaluator, "__call__", _old_call)
    m.setattr(B._Evaluator, "_exact", _old_exact)
    m.setattr(B.BudgetState, "pair_ok", _old_pair_ok)
    m.setattr(B.BudgetState, "capacity", lambda self, *a, **kw: (math.inf, "sets"))
    m.setattr(B._Groups, "_candidate", _old_candidate)
    m.setattr(B._Groups, "best", _old_best)
    m.setattr(B._Groups, "update", _old_update)
    m.setattr(B._Groups, "_set", lambda self, gi: self.cand.__setitem__(int(self.roots[gi]),
                                                                      self._candidate(int(self.roots[gi]))))


@pytest.mark.parametrize("name", list(CASES))
def test_a_feasible_budget_picks_byte_identical_combinations_to_the_previous_search(name, monkeypatch):
    make, cases = CASES[name]
    ctx = make()
    new = []
    for kw in cases:
        run = select_combinations(ctx, **kw)
        assert len(run.combinations) == kw["budget"] and not run.shortfall  # feasible
        new.append(_digest(run))
    with monkeypatch.context() as m:
        _patch_old(m)
        old = [_digest(select_combinations(ctx, **kw)) for kw in cases]
    assert new == old


@pytest.mark.parametrize("seed", range(12))
def test_small_random_taxonomies_with_ties_pick_what_the_previous_search_picked(seed, monkeypatch):
    """The numba search loop (`_exact_kernels.group_candidate`) against the Python one above,
    on terms from {0.5, 1, 2} (many equal values, so every tie-break counts), pair and skill
    caps that bind, and every budget up to what exists."""
    rng = np.random.default_rng(seed)
    tree = random_tree(rng, int(rng.integers(8, 16)), int(rng.integers(3, 5)))
    term = rng.choice([0.5, 1.0, 2.0], tree.n_nodes)
    term[0] = 0.0
    ctx = prepare(tree, None, Constraints(k=3), term=term)
    kw = dict(k=int(rng.integers(2, 5)), scope=["level:1", "global"][seed % 2], budget=10_000,
              max_pair_uses=int(rng.integers(1, 3)), max_skill_uses=[None, 4][int(rng.integers(0, 2))],
              leaf_discount=[0.6, 1.0][seed % 3 == 0], reuse_discount=[0.97, 1.0][seed % 4 == 0])
    new = select_combinations(ctx, **kw)
    with monkeypatch.context() as m:
        _patch_old(m)
        old = select_combinations(ctx, **kw)
    assert len(new.combinations) > 0
    assert _digest(new) == _digest(old)

"""The dataset mode's exact search in numba (`selection._exact_kernels`): the single-start
kernel returns what the Python enumeration and screening it replaced return (same set, same
value to the bit, same status) and, screening without limit, the best admissible untaken set
by brute force; the taken-set table answers like a Python set; the two roundings the group
loop needs agree with numpy's and Python's."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from steps_engine.selection import _exact_kernels as EK
from steps_engine.selection.budget import BudgetState, _SeenTable
from steps_engine.selection.search import Constraints, _dp_chosen, _seed, parse_scope, prepare, scope_depths
from test_selection import random_tree


def _case(seed, n_leaves, height, k, level, forced, caps, n_seen, coarse):
    """A random tree and dataset state: node values (coarse: from {0.5, 1, 2}, so many sets tie),
    some leaves unselectable, symmetric pair caps, some k-sets taken, maybe a must-include."""
    rng = np.random.default_rng(seed)
    tree = random_tree(rng, n_leaves, height)
    term = rng.choice([0.5, 1.0, 2.0], tree.n_nodes) if coarse else rng.random(tree.n_nodes)
    term[0] = 0.0
    names = [f"s{i}" for i in range(n_leaves)]
    cons = Constraints(k=k, must_include=(names[int(rng.integers(n_leaves))],) if forced else ())
    ctx = prepare(tree, None, cons, term=term)
    flat = ctx.flat
    value = term * rng.choice([1.0, 0.97, 0.97 ** 2], tree.n_nodes)
    selectable = np.zeros(flat.n_nodes, bool)
    selectable[flat.leaf_node[rng.random(flat.n_leaves) < 0.85]] = True
    okpair = None
    if caps:
        okpair = rng.random((flat.n_leaves, flat.n_leaves)) < 0.75
        okpair = np.triu(okpair, 1)
        okpair = okpair | okpair.T | np.eye(flat.n_leaves, dtype=bool)
    all_sets = [frozenset(c) for c in itertools.combinations(range(flat.n_leaves), k)]
    seen = {all_sets[i] for i in rng.permutation(len(all_sets))[:n_seen]}
    return ctx, value, selectable, okpair, seen, parse_scope(f"level:{level}")


def _python_first_unseen(ctx, x, k, scope, value, selectable, okpair, seen, pull):
    """The exact search as it was in Python (budget._Evaluator._exact before the kernel)."""
    sel = selectable.copy()
    if okpair is not None:
        sel[ctx.flat.leaf_node[~okpair[x]]] = False
    screened = 0
    for v, chosen in _dp_chosen(ctx, x, k, scope, value, sel):
        members = [x, *chosen]
        if frozenset(members) in seen:
            continue
        if okpair is None or all(okpair[a, b] for a, b in itertools.combinations(members, 2)):
            return EK.FOUND, v, chosen
        screened += 1
        if screened >= pull:
            return EK.SCREENED_OUT, None, None
    return EK.NONE_LEFT, None, None


def _kernel_first_unseen(ctx, x, k, scope, value, selectable, okpair, seen, pull):
    flat = ctx.flat
    _, cap = scope_depths(flat, x, scope, k)
    root = int(flat.anc[x, cap])
    seed = _seed(ctx, x, root)
    if seed is None:
        return EK.NONE_LEFT, None, None
    table = _SeenTable(ctx.keys, k, (s for s in seen if len(s) == k))
    chosen = np.empty(k - 1, np.int64)
    status, v = EK.exact_first_unseen(
        flat.pre, flat.tin, flat.tout, flat.depth, flat.child_ptr, flat.child_idx, flat.parent, flat.leaf_node,
        flat.leaf_pos, flat.leaf_lo, flat.leaf_hi, flat.height, value, selectable,
        okpair if okpair is not None else np.ones((1, 1), bool), okpair is not None, x, root, k - 1,
        np.array(seed[1:], np.int64), ctx.keys, table.h, table.m, table.used, pull, chosen)
    if status != EK.FOUND:
        return status, None, None
    return status, v, chosen.tolist()


case_args = dict(seed=st.integers(0, 10**6), n_leaves=st.integers(3, 10), height=st.integers(2, 4),
                 k=st.integers(2, 4), level=st.integers(0, 2), forced=st.booleans(), caps=st.booleans(),
                 n_seen=st.integers(0, 40), coarse=st.booleans(), pull=st.sampled_from([1, 2, 5, 64]))


@settings(max_examples=150, deadline=None)
@given(**case_args)
def test_the_kernel_returns_what_the_python_search_returned(seed, n_leaves, height, k, level, forced, caps, n_seen,
                                                            coarse, pull):
    if k >= n_leaves:
        return
    ctx, value, selectable, okpair, seen, scope = _case(seed, n_leaves, height, k, level, forced, caps, n_seen, coarse)
    for x in range(ctx.flat.n_leaves):
        want = _python_first_unseen(ctx, x, k, scope, value, selectable, okpair, seen, pull)
        got = _kernel_first_unseen(ctx, x, k, scope, value, selectable, okpair, seen, pull)
        assert got == want, (x, got, want)  # the value to the bit, ties broken alike


def _brute_best(ctx, x, k, scope, value, selectable, okpair, seen):
    """max over every (k-1)-set Y of selectable leaves under x's scope root, holding the
    must-include leaves, untaken with x and with every pair admissible, of the value of the
    nodes Y covers off x's root path."""
    flat = ctx.flat
    _, cap = scope_depths(flat, x, scope, k)
    root = int(flat.anc[x, cap])
    path = set(flat.anc[x][flat.anc[x] >= 0].tolist())
    forced = set(ctx.forced.tolist()) - {x}
    pool = [p for p in range(flat.leaf_lo[root], flat.leaf_hi[root]) if p != x and selectable[flat.leaf_node[p]]]
    best = None
    for Y in itertools.combinations(pool, k - 1):
        members = (x, *Y)
        if not forced <= set(Y) or frozenset(members) in seen:
            continue
        if okpair is not None and not all(okpair[a, b] for a, b in itertools.combinations(members, 2)):
            continue
        cover = {int(a) for p in Y for a in flat.anc[p] if a >= 0} - path
        v = sum(value[a] for a in cover)
        best = v if best is None else max(best, v)
    return best


@settings(max_examples=100, deadline=None)
@given(**{key: s for key, s in case_args.items() if key != "pull"})
def test_screening_without_limit_finds_the_brute_force_best(seed, n_leaves, height, k, level, forced, caps, n_seen,
                                                            coarse):
    if k >= n_leaves:
        return
    ctx, value, selectable, okpair, seen, scope = _case(seed, n_leaves, height, k, level, forced, caps, n_seen, coarse)
    for x in range(ctx.flat.n_leaves):
        status, v, chosen = _kernel_first_unseen(ctx, x, k, scope, value, selectable, okpair, seen, 10**6)
        best = _brute_best(ctx, x, k, scope, value, selectable, okpair, seen)
        if best is None:
            assert status == EK.NONE_LEFT
            continue
        assert status == EK.FOUND and v == pytest.approx(best, abs=1e-12)
        members = frozenset([x, *chosen])
        assert members not in seen and len(members) == k
        assert okpair is None or all(okpair[a, b] for a, b in itertools.combinations(sorted(members), 2))


@settings(max_examples=60, deadline=None)
@given(sets=st.lists(st.frozensets(st.integers(0, 29), min_size=3, max_size=3), max_size=120),
       probes=st.lists(st.frozensets(st.integers(0, 29), min_size=3, max_size=3), max_size=40))
def test_the_taken_table_answers_like_a_set(sets, probes):
    keys = np.random.default_rng(1).integers(1, 2**63 - 1, 30, dtype=np.int64).astype(np.uint64)
    table = _SeenTable(keys, 3, sets)  # 120 sets grow it from 64 slots to 256
    assert table.n == len(set(sets))
    for s in list(sets) + list(probes):
        members = np.array(sorted(s), np.int64)
        assert EK.seen_find(table.h, table.m, table.used, np.uint64(EK.set_hash(keys, members)), members) == (s in set(sets))


def test_the_state_rebuilds_its_tables_when_seen_changes_outside_add():
    tree = random_tree(np.random.default_rng(3), 6, 3)
    ctx = prepare(tree, None, Constraints(k=3), term=np.r_[0.0, np.ones(tree.n_nodes - 1)])
    state = BudgetState(ctx)
    state.add([0, 1, 2])
    assert state.seen_table(3).n == 1
    state.add([0, 1, 3])
    assert state.seen_table(3).n == 2 and state.seen_table(2).n == 0
    state.seen.add(frozenset([3, 4, 5]))  # not through add()
    table = state.seen_table(3)
    members = np.array([3, 4, 5], np.int64)
    assert table.n == 3 and EK.seen_find(table.h, table.m, table.used, np.uint64(EK.set_hash(ctx.keys, members)), members)


# values next to a rounding boundary at 12 decimals: (n + 1/2) / 10^12 and its neighbours
boundary = st.builds(lambda n, d: float(np.nextafter((n + 0.5) / 1e12, np.inf if d > 0 else -np.inf)) if d else
                     (n + 0.5) / 1e12, st.integers(0, 10**15), st.integers(-1, 1))


@settings(max_examples=500, deadline=None)
@given(v=st.one_of(st.floats(0, 1e3), boundary))
def test_the_kernel_roundings_are_numpys_and_pythons(v):
    assert EK.np_key(v) == np.round(np.array([v]), 12)[0]
    py = EK.py_key(v)
    assert np.isnan(py) or py == round(v, 12)  # NaN: the group loop lets Python round it

"""Numba kernels behind the dataset mode's exact search (`selection.budget`): one start's
best k-set that is not taken and breaks no pair cap, by Lawler's enumeration of the
tree knapsack's distinct optima, and the table of taken sets it looks them up in.

The enumeration is `search._dp_chosen` followed by `budget._Evaluator`'s screening, moved
here whole (same heap order, same tie-breaks, the same knapsack arithmetic), so the first
admissible set is the one the Python loop returned. Each of Lawler's solves differs from
the start's base knapsack only at a few forced or banned leaves, so it recomputes only the
nodes on their root paths (`_knapsack_node`, the very recurrence of `knapsack`) and then
puts them back. Callers validate inputs; these functions trust them.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from steps_engine.selection._kernels import _knapsack_node, backtrack_into, knapsack

NEG = -np.inf
NONE_LEFT, FOUND, SCREENED_OUT = 0, 1, 2  # exact_first_unseen's status


# ---------------------------------------------------------------- table of taken sets
@nb.njit(cache=True)
def set_hash(keys, members):
    """Order-free 64-bit hash of a set of leaf positions (sum of their random keys, wrapping)."""
    h = np.uint64(0)
    for p in members:
        h += keys[p]
    return h


@nb.njit(cache=True)
def seen_find(tab_h, tab_m, tab_used, h, members):
    """Is the sorted set `members` in the open-addressing table? (hash h = set_hash)."""
    mask = tab_h.shape[0] - 1
    i = np.int64(h & np.uint64(mask))
    w = members.shape[0]
    while tab_used[i]:
        if tab_h[i] == h:
            same = True
            for j in range(w):
                if tab_m[i, j] != members[j]:
                    same = False
                    break
            if same:
                return True
        i = (i + 1) & mask
    return False


@nb.njit(cache=True)
def seen_insert(tab_h, tab_m, tab_used, keys, members):
    """Add the sorted set `members`; False if it was there already. The caller keeps the
    table at most half full (capacity a power of two)."""
    h = set_hash(keys, members)
    if seen_find(tab_h, tab_m, tab_used, h, members):
        return False
    mask = tab_h.shape[0] - 1
    i = np.int64(h & np.uint64(mask))
    while tab_used[i]:
        i = (i + 1) & mask
    tab_used[i] = True
    tab_h[i] = h
    tab_m[i, :] = members
    return True


# ---------------------------------------------------------------- Lawler's enumeration
@nb.njit(cache=True)
def _sorted_with(chosen, x, out):
    """out = the sorted set chosen + {x} (chosen sorted, x not in it)."""
    m = chosen.shape[0]
    j = 0
    placed = False
    for i in range(m):
        if not placed and x < chosen[i]:
            out[j] = x
            j += 1
            placed = True
        out[j] = chosen[i]
        j += 1
    if not placed:
        out[j] = x


@nb.njit(cache=True)
def _recompute(nodes, n, depth, lo, hi, child_ptr, child_idx, value, selectable, forced, m, f, P, cnt):
    """Re-run the knapsack recurrence on nodes[:n] (closed under parents up to the root, depths
    lo..hi), deepest first, so every node after its children."""
    for d in range(hi, lo - 1, -1):
        for i in range(n):
            a = nodes[i]
            if depth[a] == d:
                _knapsack_node(a, child_ptr, child_idx, value, selectable, forced, m, f, P, cnt)


@nb.njit(cache=True)
def _solve(inc, ninc, exc, nexc, root, m, tin, depth, child_ptr, child_idx, parent, leaf_node, node_pos, height,
           val, base_sel, sel, force, status, f, P, cnt, cur, ncur, wstamp, wstat, mark, stamp, path, bt, stack_a,
           stack_j, chosen):
    """`search._DPSolver.solve`: the best m-set that holds the leaves inc[:ninc] and avoids
    exc[:nexc]; writes it (sorted positions) to `chosen` and returns its value, or NEG when
    there is none. f/P/cnt hold the knapsack for the leaves the previous call banned or
    forced (node ids cur[:ncur[0]], `status` 1 banned, 2 forced; sel / force follow); only
    the root paths of the leaves whose status changes are recomputed, and the new bans and
    forced leaves are left in place for the next call."""
    for i in range(ninc):
        if not base_sel[leaf_node[inc[i]]]:
            return NEG
    for i in range(nexc + ninc):
        a = leaf_node[exc[i]] if i < nexc else leaf_node[inc[i - nexc]]
        wstamp[a] = stamp
        wstat[a] = 1 if i < nexc else 2
    n = 0  # root paths of the changed leaves, each node once
    deepest = depth[root]
    for i in range(ncur[0] + nexc + ninc):
        if i < ncur[0]:
            a = cur[i]
        else:
            j = i - ncur[0]
            a = leaf_node[exc[j]] if j < nexc else leaf_node[inc[j - nexc]]
        w = wstat[a] if wstamp[a] == stamp else 0
        if w == status[a]:
            continue
        status[a] = w
        sel[a] = base_sel[a] and w != 1
        force[a] = w == 2
        deepest = max(deepest, depth[a])
        while a >= 0 and tin[a] >= tin[root] and mark[a] != stamp:
            mark[a] = stamp
            path[n] = a
            n += 1
            a = parent[a]
    for i in range(nexc + ninc):
        cur[i] = leaf_node[exc[i]] if i < nexc else leaf_node[inc[i - nexc]]
    ncur[0] = nexc + ninc
    _recompute(path, n, depth, depth[root], deepest, child_ptr, child_idx, val, sel, force, m, f, P, cnt)
    best = f[root, m]
    if best != NEG:
        k = backtrack_into(child_ptr, child_idx, root, m, f, P, bt, stack_a, stack_j)
        for i in range(k):
            chosen[i] = node_pos[bt[i]]
        chosen[:k].sort()
    return best


@nb.njit(cache=True)
def _heap_less(e_val, i, j):
    """Does entry i pop before entry j? (larger value first; ties: pushed first)."""
    if e_val[i] != e_val[j]:
        return e_val[i] > e_val[j]
    return i < j


@nb.njit(cache=True)
def _heap_push(heap, nh, e_val, e):
    heap[nh] = e
    i = nh
    while i > 0:
        q = (i - 1) // 2
        if not _heap_less(e_val, heap[i], heap[q]):
            break
        heap[i], heap[q] = heap[q], heap[i]
        i = q


@nb.njit(cache=True)
def _heap_pop(heap, nh, e_val):
    top = heap[0]
    nh -= 1
    heap[0] = heap[nh]
    i = 0
    while True:
        l = 2 * i + 1
        if l >= nh:
            break
        w = l
        if l + 1 < nh and _heap_less(e_val, heap[l + 1], heap[l]):
            w = l + 1
        if not _heap_less(e_val, heap[w], heap[i]):
            break
        heap[i], heap[w] = heap[w], heap[i]
        i = w
    return top


@nb.njit(cache=True)
def _workspace(N, m, height):
    """Arrays one exact search needs, reusable by the next (stamps only grow; `_first_unseen` resets the rest)."""
    stack = (m + 1) * (height + 2)
    nodes = (np.empty(N), np.zeros(N, np.bool_), np.zeros(N, np.bool_), np.zeros(N, np.bool_), np.zeros(N, np.int8),
             np.empty((N, m + 1)), np.empty((N, m + 1)), np.zeros(N, np.int64), np.empty(N + m, np.int64),
             np.zeros(1, np.int64), np.zeros(N, np.int64), np.zeros(N, np.int8), np.zeros(N, np.int64),
             np.empty(N, np.int64), np.zeros(1, np.int64))
    small = (np.empty(m + 1, np.int64), np.empty(m, np.int64), np.empty(N, np.int64), np.empty(m, np.int64),
             np.empty(m, np.int64), np.empty(stack, np.int64), np.empty(stack, np.int64))
    return nodes, small


@nb.njit(cache=True)
def _first_unseen(ws, pre, tin, tout, depth, child_ptr, child_idx, parent, leaf_node, node_pos, leaf_lo, leaf_hi,
                  height, value, selectable, okpair, use_pairs, x, root, m, forced, keys, tab_h, tab_m, tab_used, pull,
                  chosen_out):
    """`exact_first_unseen` in a workspace from `_workspace`."""
    val, base_sel, sel, force, status, f, P, cnt, cur, ncur, wstamp, wstat, mark, path, ctr = ws[0]
    members, bt, exc, inc, sol, stack_a, stack_j = ws[1]
    for i in range(ncur[0]):  # the previous search's bans and forced leaves
        status[cur[i]] = 0
        force[cur[i]] = False
    ncur[0] = 0
    for ii in range(tin[root], tout[root]):
        a = pre[ii]
        val[a] = value[a]
        base_sel[a] = selectable[a]
    a = leaf_node[x]
    while a >= 0:
        val[a] = 0.0
        a = parent[a]
    base_sel[leaf_node[x]] = False
    if use_pairs:
        for p in range(leaf_lo[root], leaf_hi[root]):
            if not okpair[x, p]:
                base_sel[leaf_node[p]] = False
    for ii in range(tin[root], tout[root]):
        sel[pre[ii]] = base_sel[pre[ii]]
    knapsack(pre, tin, tout, child_ptr, child_idx, val, sel, force, root, m, f, P, cnt)

    nf = forced.shape[0]
    cap = 64
    e_val = np.empty(cap)
    e_inc = np.empty((cap, m), np.int64)  # forced leaves of the entry's part
    e_ninc = np.empty(cap, np.int64)
    e_up = np.empty(cap, np.int64)  # banned leaves: e_ban plus those of entry e_up (-1: none)
    e_ban = np.empty(cap, np.int64)
    e_ch = np.empty((cap, m), np.int64)  # the part's optimum, sorted
    heap = np.empty(cap, np.int64)

    ctr[0] += 1
    best = _solve(forced, nf, exc, 0, root, m, tin, depth, child_ptr, child_idx, parent, leaf_node, node_pos, height,
                  val, base_sel, sel, force, status, f, P, cnt, cur, ncur, wstamp, wstat, mark, ctr[0], path, bt,
                  stack_a, stack_j, sol)
    if best == NEG:
        return NONE_LEFT, 0.0
    n_e = 1
    e_val[0] = best
    e_inc[0, :nf] = forced
    e_ninc[0] = nf
    e_up[0] = -1
    e_ban[0] = -1
    e_ch[0, :] = sol
    heap[0] = 0
    nh = 1
    screened = 0
    while nh > 0:
        e = _heap_pop(heap, nh, e_val)
        nh -= 1
        ch = e_ch[e]
        _sorted_with(ch, x, members)
        if not seen_find(tab_h, tab_m, tab_used, set_hash(keys, members), members):
            ok = True
            if use_pairs:  # the pairs of [x, *ch] in `BudgetState.pair_ok`'s order
                for i in range(-1, m):
                    a = x if i < 0 else ch[i]
                    for j in range(i + 1, m):
                        if not okpair[a, ch[j]]:
                            ok = False
                            break
                    if not ok:
                        break
            if ok:
                chosen_out[:] = ch
                return FOUND, e_val[e]
            screened += 1
            if screened >= pull:
                return SCREENED_OUT, 0.0
        # the part's sub-parts: for the i-th free member y, force the free ones before it, ban y
        nexc = 0
        u = e
        while u >= 0 and e_ban[u] >= 0:
            exc[nexc] = e_ban[u]
            nexc += 1
            u = e_up[u]
        ninc0 = e_ninc[e]
        ninc = ninc0
        inc[:ninc0] = e_inc[e, :ninc0]
        for ci in range(m):
            y = ch[ci]
            free = True
            for j in range(ninc0):
                if e_inc[e, j] == y:
                    free = False
                    break
            if not free:
                continue
            exc[nexc] = y
            ctr[0] += 1
            v = _solve(inc, ninc, exc, nexc + 1, root, m, tin, depth, child_ptr, child_idx, parent, leaf_node,
                       node_pos, height, val, base_sel, sel, force, status, f, P, cnt, cur, ncur, wstamp, wstat, mark,
                       ctr[0], path, bt, stack_a, stack_j, sol)
            if v != NEG:
                if n_e == cap:
                    cap *= 2
                    e_val = _grow1(e_val, cap)
                    e_ninc = _grow1(e_ninc, cap)
                    e_up = _grow1(e_up, cap)
                    e_ban = _grow1(e_ban, cap)
                    heap = _grow1(heap, cap)
                    e_inc = _grow2(e_inc, cap)
                    e_ch = _grow2(e_ch, cap)
                e_val[n_e] = v
                e_inc[n_e, :ninc] = inc[:ninc]
                e_ninc[n_e] = ninc
                e_up[n_e] = e
                e_ban[n_e] = y
                e_ch[n_e, :] = sol
                _heap_push(heap, nh, e_val, n_e)
                nh += 1
                n_e += 1
            inc[ninc] = y  # forced in the later sub-parts
            ninc += 1
    return NONE_LEFT, 0.0


@nb.njit(cache=True)
def exact_first_unseen(pre, tin, tout, depth, child_ptr, child_idx, parent, leaf_node, node_pos, leaf_lo, leaf_hi, height,
                       value, selectable, okpair, use_pairs, x, root, m, forced, keys, tab_h, tab_m, tab_used, pull,
                       chosen_out):
    """Start x's distinct best m-sets under `root` in non-increasing value (Lawler's k-best
    partitioning of the knapsack with x's root path worth 0, x and, with use_pairs, every
    leaf p with not okpair[x, p] unselectable; `forced` in every set), screened in that order:
    a set whose members (x included) are in the taken table is skipped, the first with every
    pair admissible (okpair) is returned. Returns (status, value): FOUND with the set in
    chosen_out (sorted), SCREENED_OUT after `pull` inadmissible untaken sets, NONE_LEFT when
    the enumeration ends first."""
    ws = _workspace(parent.shape[0], m, height)
    return _first_unseen(ws, pre, tin, tout, depth, child_ptr, child_idx, parent, leaf_node, node_pos, leaf_lo,
                         leaf_hi, height, value, selectable, okpair, use_pairs, x, root, m, forced, keys, tab_h, tab_m,
                         tab_used, pull, chosen_out)


# ---------------------------------------------------------------- one group's candidate
LOOP_DONE, LOOP_BEAM, LOOP_KEY = 0, 1, 2  # group_candidate's status


@nb.njit(cache=True)
def np_key(v):
    """np.round(v, 12) (numpy: multiply by 10^12, round half to even, divide)."""
    return np.rint(v * 1e12) / 1e12


@nb.njit(cache=True)
def py_key(v):
    """Python's round(v, 12), or NaN where it may differ from np_key. Python rounds v's exact
    value, numpy the product y = fl(v * 10^12); rounding is monotone and the half-integers near
    y are doubles, so both pick the same integer unless y is itself a half-integer."""
    y = v * 1e12
    r = np.rint(y)
    if not abs(y) < 2.0 ** 52 or abs(y - r) == 0.5:
        return np.nan
    return r / 1e12


@nb.njit(cache=True)
def group_candidate(pre, tin, tout, depth, child_ptr, child_idx, parent, leaf_node, node_pos, leaf_lo, leaf_hi,
                    height, value, dcum, selectable, okpair, use_pairs, m, keys, tab_h, tab_m, tab_used, pull, root,
                    xs, rank, vals, mode, uses, max_skill_uses, dead, last, checked, c_val, c_pos, c_ord, evals):
    """`budget._Groups._candidate`'s search loop for the starts xs under `root` (rank = their
    order), from the bounds `vals`: the live start with the largest np_key(bound) (ties: lower
    rank) is searched exactly (`_first_unseen`, plus its start credit: mode 1 the path below
    root, 2 its leaf); the candidate is the first whose value's key equals its bound's, or a
    start already searched when it comes out on top. Updates dead[x], last[x] (NaN: none) and
    checked / c_val / c_pos (x first) / c_ord (False: not ordered yet) per start index, and
    evals[0] (searches run). Returns (LOOP_DONE, i or -1 for none, 0); (LOOP_BEAM, i, 0)
    when start i screened out `pull` sets (the caller runs the beam and carries on); or
    (LOOP_KEY, i, value) when Python's rounding of the value is not certain here."""
    ws = _workspace(parent.shape[0], m, height)
    chosen = np.empty(m, np.int64)
    no_forced = np.empty(0, np.int64)
    n = xs.shape[0]
    while True:
        i = -1
        best = NEG
        for j in range(n):
            if vals[j] == NEG:
                continue
            kj = np_key(vals[j])
            if i < 0 or kj > best or (kj == best and rank[j] < rank[i]):
                i = j
                best = kj
        if i < 0:
            return LOOP_DONE, -1, 0.0
        if checked[i]:
            return LOOP_DONE, i, 0.0
        x = xs[i]
        if dead[x] or (max_skill_uses >= 0 and uses[x] >= max_skill_uses):
            dead[x] = True
            vals[i] = NEG
            continue
        evals[0] += 1
        status, v = _first_unseen(ws, pre, tin, tout, depth, child_ptr, child_idx, parent, leaf_node, node_pos,
                                  leaf_lo, leaf_hi, height, value, selectable, okpair, use_pairs, x, root, m,
                                  no_forced, keys, tab_h, tab_m, tab_used, pull, chosen)
        if status == NONE_LEFT:
            dead[x] = True
            vals[i] = NEG
            continue
        if status == SCREENED_OUT:
            return LOOP_BEAM, i, 0.0
        leaf = leaf_node[x]
        credit = 0.0
        if mode == 1:
            credit = dcum[leaf] - dcum[root]
        elif mode == 2:
            credit = value[leaf]
        got = v + credit
        checked[i] = True
        c_val[i] = got
        c_pos[i, 0] = x
        c_pos[i, 1:] = chosen
        c_ord[i] = False
        last[x] = got
        pk = py_key(got)
        if np.isnan(pk):
            return LOOP_KEY, i, got
        if pk == best:
            return LOOP_DONE, i, 0.0
        vals[i] = got


@nb.njit(cache=True)
def _grow1(a, cap):
    out = np.empty(cap, a.dtype)
    out[: a.shape[0]] = a
    return out


@nb.njit(cache=True)
def _grow2(a, cap):
    out = np.empty((cap, a.shape[1]), a.dtype)
    out[: a.shape[0]] = a
    return out

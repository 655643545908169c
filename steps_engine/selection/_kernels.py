"""Numba kernels behind `steps_engine.selection.search`: beam search and the tree knapsack.

Both work on leaf *positions* (leaves numbered in DFS preorder, so every subtree's leaves
are one contiguous range) and on the flat tree arrays of `selection.FlatTree`.
Callers validate inputs; these functions trust them.
"""

from __future__ import annotations

import numba as nb
import numpy as np

NEG = -np.inf


@nb.njit(cache=True)
def _worse(hs, hb, hp, i, j):
    """Is heap entry i ranked below entry j? (score desc, then parent rank, then leaf)."""
    if hs[i] != hs[j]:
        return hs[i] < hs[j]
    if hb[i] != hb[j]:
        return hb[i] > hb[j]
    return hp[i] > hp[j]


@nb.njit(cache=True)
def _sift_down(hs, hb, hp, n, i):
    while True:
        l = 2 * i + 1
        if l >= n:
            return
        w = l
        r = l + 1
        if r < n and _worse(hs, hb, hp, r, l):
            w = r
        if not _worse(hs, hb, hp, w, i):
            return
        hs[i], hs[w] = hs[w], hs[i]
        hb[i], hb[w] = hb[w], hb[i]
        hp[i], hp[w] = hp[w], hp[i]
        i = w


@nb.njit(cache=True)
def _sift_up(hs, hb, hp, i):
    while i > 0:
        q = (i - 1) // 2
        if not _worse(hs, hb, hp, i, q):
            return
        hs[i], hs[q] = hs[q], hs[i]
        hb[i], hb[q] = hb[q], hb[i]
        hp[i], hp[q] = hp[q], hp[i]
        i = q


@nb.njit(cache=True)
def beam_search(
    anc, leaf_node, parent, cum, bound_cum, sorted_ptr, sorted_leaves, allowed, okpair, use_pairs, keys,
    seed, init_score, k, scope_depth, cap, beam,
):
    """Beam search for k-sets that start with `seed` (start leaf first, then forced leaves).

    The member added as number t (t = len(seed) .. k-1) is searched under the start's
    ancestor at depth scope_depth[t]; a state with no admissible candidate there climbs
    one level at a time, never above depth `cap`. A candidate's gain is
    cum[leaf] - cum[deepest covered ancestor] (terms are >= 0, so the covered part of a
    root path is a prefix), at most cum[leaf] - cum[scope node]: scanning a node's leaves
    by decreasing cum (sorted_leaves[sorted_ptr[a]:sorted_ptr[a+1]]) stops as soon as that
    bound cannot enter the current top list. `bound_cum` is the cum of the undiscounted
    terms (the sort key); `cum` may be that of smaller (discounted) node values, since
    cum[leaf] - cum[x] <= bound_cum[leaf] - bound_cum[a] still bounds every candidate.
    States are de-duplicated as sets
    (order-free 64-bit hash). Returns (members [n, k], scores [n]) best first; n = 0 if
    no admissible k-set exists.
    """
    L = leaf_node.shape[0]
    N = parent.shape[0]
    s = seed[0]
    n0 = seed.shape[0]
    members = np.empty((1, k), np.int64)
    members[0, :n0] = seed
    scores = np.full(1, init_score)
    hashes = np.zeros(1, np.uint64)
    for i in range(n0):
        hashes[0] += keys[seed[i]]
    nstates = 1
    mark = np.zeros(L, np.int64)
    cov = np.zeros(N, np.int64)
    stamp = 0
    cap_m = beam * max(k - n0, 1)
    hs = np.empty(cap_m)
    hb = np.empty(cap_m, np.int64)
    hp = np.empty(cap_m, np.int64)
    for size in range(n0, k):
        # A set of this size arises from at most (size + 1 - n0) parent states, so the
        # best beam * (size + 1 - n0) candidates hold the best `beam` distinct sets.
        m = beam * (size + 1 - n0)
        nh = 0
        for b in range(nstates):
            stamp += 1
            for i in range(size):
                p = members[b, i]
                mark[p] = stamp
                x = leaf_node[p]
                while x >= 0 and cov[x] != stamp:
                    cov[x] = stamp
                    x = parent[x]
            d = scope_depth[size]
            while True:
                a = anc[s, d]
                base = scores[b] - bound_cum[a]
                found = False
                for q in range(sorted_ptr[a], sorted_ptr[a + 1]):
                    p = sorted_leaves[q]
                    if not allowed[p] or mark[p] == stamp:
                        continue
                    if use_pairs:
                        ok = True
                        for i in range(size):
                            if not okpair[p, members[b, i]]:
                                ok = False
                                break
                        if not ok:
                            continue
                    found = True
                    leaf = leaf_node[p]
                    if nh == m and base + bound_cum[leaf] < hs[0]:
                        break  # later leaves here have smaller bounds
                    x = leaf
                    while cov[x] != stamp:
                        x = parent[x]
                    sc = scores[b] + (cum[leaf] - cum[x])
                    if nh < m:
                        hs[nh] = sc
                        hb[nh] = b
                        hp[nh] = p
                        _sift_up(hs, hb, hp, nh)
                        nh += 1
                    elif sc > hs[0] or (sc == hs[0] and (b < hb[0] or (b == hb[0] and p < hp[0]))):
                        hs[0] = sc
                        hb[0] = b
                        hp[0] = p
                        _sift_down(hs, hb, hp, nh, 0)
                if found or d <= cap:
                    break
                d -= 1
        if nh == 0:
            return members[:0], scores[:0]
        # best first: score desc, then parent rank, then leaf position
        key2 = hb[:nh] * L + hp[:nh]
        o1 = np.argsort(key2, kind="mergesort")
        order = o1[np.argsort(-hs[:nh][o1], kind="mergesort")]
        new_members = np.empty((beam, k), np.int64)
        new_scores = np.empty(beam)
        new_hashes = np.empty(beam, np.uint64)
        ns = 0
        for o in order:
            b = hb[o]
            h = hashes[b] + keys[hp[o]]
            dup = False
            for j in range(ns):
                if new_hashes[j] == h:
                    dup = True
                    break
            if dup:
                continue
            new_members[ns, :size] = members[b, :size]
            new_members[ns, size] = hp[o]
            new_scores[ns] = hs[o]
            new_hashes[ns] = h
            ns += 1
            if ns == beam:
                break
        members = new_members[:ns]
        scores = new_scores[:ns]
        hashes = new_hashes[:ns]
        nstates = ns
    return members, scores


@nb.njit(cache=True)
def _knapsack_node(a, child_ptr, child_idx, value, selectable, forced, m, f, P, cnt):
    """f[a], cnt[a] and P of a's children from the children's f and cnt: one node of `knapsack`
    (the running merge lives in P itself, so no array is allocated)."""
    for j in range(m + 1):
        f[a, j] = NEG
    if child_ptr[a] == child_ptr[a + 1]:
        if not forced[a]:
            f[a, 0] = 0.0
        if selectable[a] and m >= 1:
            f[a, 1] = value[a]
            cnt[a] = 1
        else:
            cnt[a] = 0
        return
    prev = -1  # the previous child: its P row is the merge so far ([0, -inf, ...] before the first)
    na = 0
    for ci in range(child_ptr[a], child_ptr[a + 1]):
        c = child_idx[ci]
        for j in range(m + 1):
            P[c, j] = NEG
        for j1 in range(min(na, m) + 1):
            acc = P[prev, j1] if prev >= 0 else (0.0 if j1 == 0 else NEG)
            if acc == NEG:
                continue
            for j2 in range(min(cnt[c], m - j1) + 1):
                v = f[c, j2]
                if v == NEG:
                    continue
                if acc + v > P[c, j1 + j2]:
                    P[c, j1 + j2] = acc + v
        na = min(na + cnt[c], m)
        prev = c
    cnt[a] = na
    f[a, 0] = P[prev, 0]
    for j in range(1, m + 1):
        if P[prev, j] != NEG:
            f[a, j] = P[prev, j] + value[a]


@nb.njit(cache=True)
def knapsack(pre, tin, tout, child_ptr, child_idx, value, selectable, forced, root, m, f, P, cnt):
    """Tree knapsack over subtree(root): f[a, j] = best covered value inside subtree(a)
    with exactly j selected leaves (-inf if impossible). A node is covered iff j >= 1.
    P[c] is the running max-plus merge of a's children up to and including child c.
    Returns f[root, m]. O(subtree x m^2)."""
    for ii in range(tout[root] - 1, tin[root] - 1, -1):
        _knapsack_node(pre[ii], child_ptr, child_idx, value, selectable, forced, m, f, P, cnt)
    return f[root, m]


@nb.njit(cache=True)
def knapsack_backtrack(child_ptr, child_idx, root, m, f, P, out, height):
    """Leaves chosen by the optimum `knapsack` left in f/P; writes nodes to out, returns count."""
    size = (m + 1) * (height + 2)  # pushes: nodes on the chosen leaves' paths
    return backtrack_into(child_ptr, child_idx, root, m, f, P, out, np.empty(size, np.int64), np.empty(size, np.int64))


@nb.njit(cache=True)
def backtrack_into(child_ptr, child_idx, root, m, f, P, out, stack_a, stack_j):
    """`knapsack_backtrack` with its two stacks given ((m + 1) * (height + 2) entries each)."""
    stack_a[0] = root
    stack_j[0] = m
    top = 1
    n = 0
    while top > 0:
        top -= 1
        a = stack_a[top]
        j = stack_j[top]
        if j == 0:
            continue
        if child_ptr[a] == child_ptr[a + 1]:
            out[n] = a
            n += 1
            continue
        cur = j
        for ci in range(child_ptr[a + 1] - 1, child_ptr[a] - 1, -1):
            c = child_idx[ci]
            target = P[c, cur]
            for j1 in range(cur + 1):
                if ci > child_ptr[a]:
                    prev = P[child_idx[ci - 1], j1]
                else:  # before the first child: [0, -inf, ...]
                    prev = 0.0 if j1 == 0 else NEG
                v = f[c, cur - j1]
                if prev == NEG or v == NEG:
                    continue
                if prev + v == target:
                    if cur - j1 > 0:
                        stack_a[top] = c
                        stack_j[top] = cur - j1
                        top += 1
                    cur = j1
                    break
    return n


@nb.njit(cache=True)
def _maxplus(a, b, m):
    out = np.full(m + 1, NEG)
    for i in range(m + 1):
        if a[i] == NEG:
            continue
        for j in range(m + 1 - i):
            if b[j] == NEG:
                continue
            if a[i] + b[j] > out[i + j]:
                out[i + j] = a[i] + b[j]
    return out


@nb.njit(cache=True)
def knapsack_all_starts(pre, tin, tout, child_ptr, child_idx, value, selectable, root, m, f, P, cnt, out):
    """For every leaf x under `root` at once: the best value of m selectable leaves under root
    other than x, with the nodes on x's root path worth 0 (the per-start `knapsack` of each
    start). Bottom-up `knapsack`, then top-down: out[a, j] = best value with j leaves outside
    subtree(a) (inside subtree(root)) when a's ancestors are worth 0; for a child c of a it
    is out[a] max-plus the product of f over c's siblings (prefix and suffix products).
    Writes out[leaf, m] for the leaves (-inf: no admissible set). O(subtree x m^2)."""
    forced = np.zeros(value.shape[0], np.bool_)
    knapsack(pre, tin, tout, child_ptr, child_idx, value, selectable, forced, root, m, f, P, cnt)
    out[root, :] = NEG
    out[root, 0] = 0.0
    for ii in range(tin[root], tout[root]):
        a = pre[ii]
        lo, hi = child_ptr[a], child_ptr[a + 1]
        d = hi - lo
        if d == 0:
            continue
        pref = np.full((d + 1, m + 1), NEG)
        suf = np.full((d + 1, m + 1), NEG)
        pref[0, 0] = 0.0
        suf[d, 0] = 0.0
        for i in range(d):
            pref[i + 1] = _maxplus(pref[i], f[child_idx[lo + i]], m)
        for i in range(d - 1, -1, -1):
            suf[i] = _maxplus(suf[i + 1], f[child_idx[lo + i]], m)
        for i in range(d):
            c = child_idx[lo + i]
            out[c] = _maxplus(out[a], _maxplus(pref[i], suf[i + 1], m), m)

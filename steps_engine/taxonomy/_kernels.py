"""Numba kernels of the greedy builder: `partition` (merge) and `refine` (leaf moves).

`merge_kernel` is Li & Pan's greedy merge over adjacent units sharing a parent, from a
priority queue of pair deltas (formula in `partition.py`); `refine_kernel` moves single
skills between sibling leaf clusters (formula in `refine.py`). Callers validate inputs.
"""

from __future__ import annotations

import heapq
import math

import numpy as np
from numba import njit

_EPS = 1e-12


@njit(cache=True)
def _group_cost(v, w, pvol, vol_graph):
    if w <= 0.0 or v <= 0.0:
        return 0.0
    return (2.0 * w / vol_graph) * math.log2(v / pvol)


@njit(cache=True)
def _find(group, i):
    r = i
    while group[r] != r:
        r = group[r]
    while group[i] != r:  # path compression
        nxt = group[i]
        group[i] = r
        i = nxt
    return r


@njit(cache=True)
def _pair_delta(a, k, w, vol, win, cost, pv, vol_graph):
    # cost[u] == _group_cost(vol[u], win[u], pv, vol_graph), kept up to date by the caller
    return _group_cost(vol[a] + vol[k], win[a] + win[k] + w, pv, vol_graph) - cost[a] - cost[k]


# Adjacency of the merge: each unit's neighbours in one segment of a shared pool, in the
# order a dict would iterate them (insertion order; an update keeps its place, a deletion
# leaves a hole, a new neighbour goes to the end). Slot i holds the neighbour nb[i] (-1 once
# deleted), the pair's weight wt[i] and mirror[i], the slot of the same pair in the
# neighbour's segment, so merging b into a touches b's slots and never searches.


@njit(cache=True)
def _slack(live):
    return live + (live >> 1) + 1  # segment capacity: most additions fit in place


@njit(cache=True)
def _adj_build(n, eu, ev, ew):
    live = np.zeros(n, dtype=np.int64)
    for k in range(eu.shape[0]):
        live[eu[k]] += 1
        live[ev[k]] += 1
    cap = np.empty(n, dtype=np.int64)
    start = np.empty(n, dtype=np.int64)
    top = 0
    for i in range(n):
        cap[i] = _slack(live[i])
        start[i] = top
        top += cap[i]
    size = top + top // 4 + 16
    nb = np.full(size, -1, dtype=np.int64)
    wt = np.zeros(size)
    mirror = np.full(size, -1, dtype=np.int64)
    used = np.zeros(n, dtype=np.int64)
    for k in range(eu.shape[0]):
        a = eu[k]
        b = ev[k]
        sa = start[a] + used[a]
        sb = start[b] + used[b]
        used[a] += 1
        used[b] += 1
        nb[sa] = b
        nb[sb] = a
        wt[sa] = ew[k]
        wt[sb] = ew[k]
        mirror[sa] = sb
        mirror[sb] = sa
    return nb, wt, mirror, start, used, cap, live, top


@njit(cache=True)
def _adj_move(u, new_cap, nb, wt, mirror, start, used, cap, top):
    """Copy u's live slots, in order, to a segment of new_cap slots at `top`; returns the new top."""
    j = top
    for s in range(start[u], start[u] + used[u]):
        if nb[s] >= 0:
            nb[j] = nb[s]
            wt[j] = wt[s]
            mirror[j] = mirror[s]
            mirror[mirror[s]] = j
            nb[s] = -1
            j += 1
    start[u] = top
    used[u] = j - top
    cap[u] = new_cap
    return top + new_cap


@njit(cache=True)
def _adj_compact(n, room, nb, wt, mirror, start, used, cap, live):
    """All live slots into a fresh pool, every segment with slack, `room` free slots at the end."""
    top = 0
    for u in range(n):
        top += _slack(live[u]) if live[u] > 0 else 0
    size = top + max(room, top // 4) + 16
    nb2 = np.full(size, -1, dtype=np.int64)
    wt2 = np.zeros(size)
    mirror2 = np.full(size, -1, dtype=np.int64)
    new_of = np.full(nb.shape[0], -1, dtype=np.int64)
    j = 0
    for u in range(n):
        s0 = start[u]
        start[u] = j
        for s in range(s0, s0 + used[u]):
            if nb[s] >= 0:
                new_of[s] = j
                nb2[j] = nb[s]
                wt2[j] = wt[s]
                mirror2[j] = mirror[s]
                j += 1
        used[u] = live[u]
        cap[u] = _slack(live[u]) if live[u] > 0 else 0
        j = start[u] + cap[u]
    for i in range(j):
        if nb2[i] >= 0:
            mirror2[i] = new_of[mirror2[i]]
    return nb2, wt2, mirror2, j


@njit(cache=True)
def _adj_weight(a, b, nb, wt, start, used):
    """Weight between units a and b (0 if they are not adjacent): scans the shorter segment."""
    if used[b] < used[a]:
        a, b = b, a
    for s in range(start[a], start[a] + used[a]):
        if nb[s] == b:
            return wt[s]
    return 0.0


@njit(cache=True)
def _push_best(heap, a, nb, wt, start, used, vol, win, cost, stamp, pv, vol_graph, n_best, best_d, best_k):
    """Push the n_best most negative pair deltas of unit a (all negative ones if n_best < 0).

    A pair is skipped without its logarithm when a lower bound of its delta already fails:
    log2((V_a + V_k) / pv) >= log2(V_a / pv), so delta >= (2 W / vol) log2(V_a / pv) - cost[a]
    - cost[k] with W the merged group's inner weight; the margin covers rounding, so exactly
    the pairs the full evaluation would keep are kept, in the same order.
    """
    m = 0
    cap = best_d.shape[0]
    va = vol[a]
    la = math.log2(va / pv) if va > 0.0 else 0.0
    ca = cost[a]
    wa = win[a]
    for s in range(start[a], start[a] + used[a]):
        k = nb[s]
        if k < 0:
            continue
        w = wt[s]
        thr = best_d[m - 1] if (n_best >= 0 and m == cap) else -_EPS
        w_all = wa + win[k] + w
        if va > 0.0 and w_all > 0.0:
            lb = (2.0 * w_all / vol_graph) * la - ca - cost[k]
            if lb - thr > 1e-13 * (abs(lb) + abs(ca) + abs(cost[k])) + 1e-300:
                continue
        dk = _pair_delta(a, k, w, vol, win, cost, pv, vol_graph)
        if dk >= -_EPS:
            continue
        if n_best < 0:
            if a < k:
                heapq.heappush(heap, (dk, a, k, stamp[a], stamp[k]))
            else:
                heapq.heappush(heap, (dk, k, a, stamp[k], stamp[a]))
            continue
        if m == cap and dk >= best_d[m - 1]:
            continue
        j = m if m < cap else cap - 1
        while j > 0 and best_d[j - 1] > dk:  # insertion into the sorted best list
            best_d[j] = best_d[j - 1]
            best_k[j] = best_k[j - 1]
            j -= 1
        best_d[j] = dk
        best_k[j] = k
        if m < cap:
            m += 1
    for j in range(m):
        k = best_k[j]
        if a < k:
            heapq.heappush(heap, (best_d[j], a, k, stamp[a], stamp[k]))
        else:
            heapq.heappush(heap, (best_d[j], k, a, stamp[k], stamp[a]))


@njit(cache=True)
def merge_kernel(n, eu, ev, ew, unit_vol, unit_pvol, vol_graph, fresh):
    """Greedy merge of adjacent units sharing a parent. Returns (group of unit, total delta).

    Edges must be distinct unordered pairs without self-loops (`merge_units` ensures it);
    their order is the order in which each unit sees its neighbours (ties among equal
    deltas go to the earlier one). Exact greedy when fresh < 0: every pair of the merged
    unit is re-queued after a merge. Otherwise (lazy greedy) each unit keeps its `fresh`
    best pairs queued; an entry made stale by a merge is re-evaluated when it reaches the
    top, and a unit whose queued pair stopped paying re-queues its best pairs. A merge costs
    O(neighbours of both units): the absorbed unit's slots are moved or added up through
    their mirrors, and the survivor's pairs (all of which changed) are re-evaluated.
    """
    nb, wt, mirror, start, used, cap, live, top = _adj_build(n, eu, ev, ew)
    mark = np.full(n, -1, dtype=np.int64)  # slot of each neighbour in the survivor's segment
    vol = unit_vol.copy()
    win = np.zeros(n)
    cost = np.zeros(n)  # _group_cost of each unit as it stands (0 while win == 0)
    stamp = np.zeros(n, dtype=np.int64)
    group = np.arange(n)
    best_d = np.empty(max(fresh, 1))
    best_k = np.empty(max(fresh, 1), dtype=np.int64)

    heap = [(0.0, 0, 0, 0, 0)]
    heap.pop()
    for a in range(n):
        if fresh < 0:
            for s in range(start[a], start[a] + used[a]):
                b = nb[s]
                if a < b:
                    d = _group_cost(vol[a] + vol[b], wt[s], unit_pvol[a], vol_graph)
                    if d < -_EPS:
                        heap.append((d, a, b, 0, 0))
        else:
            _push_best(heap, a, nb, wt, start, used, vol, win, cost, stamp, unit_pvol[a], vol_graph, fresh, best_d, best_k)
    heapq.heapify(heap)

    total = 0.0
    while len(heap) > 0:
        d, a, b, sa, sb = heapq.heappop(heap)
        ra = _find(group, a)
        rb = _find(group, b)
        if ra == rb:
            continue
        if ra != a or rb != b or stamp[a] != sa or stamp[b] != sb:
            if fresh < 0:
                continue  # exact mode: a fresh entry for this pair was queued already
            pv = unit_pvol[ra]
            nd = _pair_delta(ra, rb, _adj_weight(ra, rb, nb, wt, start, used), vol, win, cost, pv, vol_graph)
            if nd < -_EPS:
                if ra < rb:
                    heapq.heappush(heap, (nd, ra, rb, stamp[ra], stamp[rb]))
                else:
                    heapq.heappush(heap, (nd, rb, ra, stamp[rb], stamp[ra]))
            else:  # the side that did not change lost a queued pair: re-queue its best
                if ra == a and stamp[a] == sa:
                    _push_best(heap, a, nb, wt, start, used, vol, win, cost, stamp, pv, vol_graph, fresh, best_d, best_k)
                if rb == b and stamp[b] == sb:
                    _push_best(heap, b, nb, wt, start, used, vol, win, cost, stamp, pv, vol_graph, fresh, best_d, best_k)
            continue
        # keep the unit with more neighbours, absorb the other
        if live[a] < live[b]:
            a, b = b, a
        # room for this merge: a may gain live[b] slots, each neighbour of b one
        need = 2 * (live[a] + live[b]) + 2
        for t in range(start[b], start[b] + used[b]):
            k = nb[t]
            if k >= 0 and used[k] == cap[k]:
                need += 2 * live[k] + 2
        if top + need > nb.shape[0]:
            nb, wt, mirror, top = _adj_compact(n, 2 * need, nb, wt, mirror, start, used, cap, live)
        if used[a] + live[b] > cap[a]:
            top = _adj_move(a, 2 * (live[a] + live[b]), nb, wt, mirror, start, used, cap, top)
        for s in range(start[a], start[a] + used[a]):
            if nb[s] >= 0:
                mark[nb[s]] = s
        s_ab = mark[b]
        w_ab = wt[s_ab]
        total += d
        vol[a] += vol[b]
        win[a] += win[b] + w_ab
        cost[a] = _group_cost(vol[a], win[a], unit_pvol[a], vol_graph)
        group[b] = a
        stamp[a] += 1
        nb[s_ab] = -1  # a loses b
        live[a] -= 1
        mark[b] = -1
        for t in range(start[b], start[b] + used[b]):
            k = nb[t]
            if k < 0 or k == a:
                continue
            w = wt[t]
            q = mirror[t]  # b's slot in k's segment: k loses b
            nb[q] = -1
            live[k] -= 1
            s = mark[k]
            if s >= 0:  # already a neighbour of a: add up in place, in both segments
                x = wt[s] + w
                wt[s] = x
                wt[mirror[s]] = x
            else:  # a new neighbour: at the end of both segments
                x = 0.0 + w
                if used[k] == cap[k]:
                    top = _adj_move(k, 2 * live[k] + 2, nb, wt, mirror, start, used, cap, top)
                s = start[a] + used[a]
                used[a] += 1
                live[a] += 1
                qk = start[k] + used[k]
                used[k] += 1
                live[k] += 1
                nb[s] = k
                wt[s] = x
                mirror[s] = qk
                nb[qk] = a
                wt[qk] = x
                mirror[qk] = s
                mark[k] = s
        for t in range(start[b], start[b] + used[b]):
            nb[t] = -1
        used[b] = 0
        live[b] = 0
        for s in range(start[a], start[a] + used[a]):
            if nb[s] >= 0:
                mark[nb[s]] = -1
        _push_best(heap, a, nb, wt, start, used, vol, win, cost, stamp, unit_pvol[a], vol_graph, fresh, best_d, best_k)
    for i in range(n):
        group[i] = _find(group, i)
    return group, total


@njit(cache=True)
def _cluster_f(v, g, pvol, vol_graph):
    # contribution of a leaf-parent cluster, up to constants: its own term plus its leaves'
    if v <= 0.0:
        return 0.0
    return (-(g / vol_graph) * math.log2(v / pvol)) + (v / vol_graph) * math.log2(v)


@njit(cache=True)
def _best_move(s, dv, a, exclude_own, indptr, indices, data, skill_node, parent, leaf_parent, vol, cut, vol_graph, scratch, touched):
    """Best sibling cluster for skill s leaving cluster a: (delta, cluster, w to it, w to a).
    cluster is -1 when no move lowers H^T (or, with exclude_own, when s has no sibling
    neighbour). `scratch` (zeros, one per tree node) and `touched` are work space."""
    p = parent[a]
    n_touched = 0
    for k in range(indptr[s], indptr[s + 1]):
        t = indices[k]
        if t == s:
            continue
        c = parent[skill_node[t]]
        if c == a or (leaf_parent[c] and parent[c] == p):
            if scratch[c] == 0.0:
                touched[n_touched] = c
                n_touched += 1
            scratch[c] += data[k]
    w_a = scratch[a]
    pv = vol[p]
    change_a = _cluster_f(vol[a] - dv, cut[a] - dv + 2.0 * w_a, pv, vol_graph) - _cluster_f(vol[a], cut[a], pv, vol_graph)
    best, best_c, best_w = np.inf if exclude_own else -1e-12, -1, 0.0
    for i in range(n_touched):
        c = touched[i]
        w_c = scratch[c]
        scratch[c] = 0.0
        if c == a:
            continue
        delta = change_a + _cluster_f(vol[c] + dv, cut[c] + dv - 2.0 * w_c, pv, vol_graph) - _cluster_f(vol[c], cut[c], pv, vol_graph)
        if delta < best or (delta == best and best_c >= 0 and c < best_c):
            best, best_c, best_w = delta, c, w_c
    return best, best_c, best_w, w_a


@njit(cache=True)
def _apply_move(leaf, dv, a, c, w_a, w_c, parent, vol, cut):
    vol[a] -= dv
    cut[a] += -dv + 2.0 * w_a
    vol[c] += dv
    cut[c] += dv - 2.0 * w_c
    parent[leaf] = c


@njit(cache=True)
def refine_kernel(indptr, indices, data, deg, skill_node, parent, leaf_parent, vol, cut, vol_graph, max_passes):
    """Local search over leaf placements: single-skill moves to a better sibling cluster, and
    dissolving a whole cluster into its neighbours when that lowers H^T in total."""
    n_skills = skill_node.shape[0]
    scratch = np.zeros(parent.shape[0])
    touched = np.empty(parent.shape[0], dtype=np.int64)
    moved_total = 0
    for _ in range(max_passes):
        moved = 0
        for s in range(n_skills):
            dv = deg[s]
            leaf = skill_node[s]
            a = parent[leaf]
            if dv <= 0.0 or not leaf_parent[a]:
                continue
            best, c, w_c, w_a = _best_move(s, dv, a, False, indptr, indices, data, skill_node, parent, leaf_parent, vol, cut, vol_graph, scratch, touched)
            if c >= 0:
                _apply_move(leaf, dv, a, c, w_a, w_c, parent, vol, cut)
                moved += 1
        if moved == 0:
            # dissolve pass: try emptying each cluster into its sibling clusters
            n_nodes = parent.shape[0]
            cluster_of = np.full(n_skills, -1, dtype=np.int64)
            for s in range(n_skills):
                cluster_of[s] = parent[skill_node[s]]
            order = np.argsort(cluster_of, kind="mergesort")
            received = np.zeros(n_nodes, dtype=np.bool_)
            i = 0
            while i < n_skills:
                a = cluster_of[order[i]]
                j = i
                while j < n_skills and cluster_of[order[j]] == a:
                    j += 1
                if a >= 0 and leaf_parent[a] and not received[a] and vol[a] > 0.0:
                    members = order[i:j]
                    total = 0.0
                    done = 0
                    targets = np.empty(j - i, dtype=np.int64)
                    ws = np.empty((j - i, 2))
                    ok = True
                    for m in members:
                        dv = deg[m]
                        if dv <= 0.0:
                            ok = False
                            break
                        best, c, w_c, w_a = _best_move(m, dv, a, True, indptr, indices, data, skill_node, parent, leaf_parent, vol, cut, vol_graph, scratch, touched)
                        if c < 0:
                            ok = False
                            break
                        _apply_move(skill_node[m], dv, a, c, w_a, w_c, parent, vol, cut)
                        targets[done] = c
                        ws[done, 0] = w_a
                        ws[done, 1] = w_c
                        done += 1
                        total += best
                    if ok and total < -1e-12:
                        for k in range(done):
                            received[targets[k]] = True
                        moved += done
                    else:  # undo in reverse order
                        for k in range(done - 1, -1, -1):
                            m = members[k]
                            dv = deg[m]
                            c = targets[k]
                            vol[c] -= dv
                            cut[c] -= dv - 2.0 * ws[k, 1]
                            vol[a] += dv
                            cut[a] -= -dv + 2.0 * ws[k, 0]
                            parent[skill_node[m]] = a
                i = j
        moved_total += moved
        if moved == 0:
            break
    return moved_total

"""Numba kernels behind `steps_engine.taxonomy.multilevel`.

All of them use the edge form of structural entropy (see `multilevel.py`): an edge of weight w
whose lowest common ancestor is tree node b costs 2 w log2 vol(b). Grouping units (children of
a common parent P, log2 vol(P) = lp) into communities b costs, relative to leaving them apart,

    cost(b) = 2 W_b (log2 V_b - lp)      (W_b: weight inside b between different units)

so a community's state is (V, W) and moving a unit changes two communities only.
Callers validate inputs; these functions trust them.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def cost(w, v, lp):
    if w <= 0.0 or v <= 0.0:
        return 0.0
    return 2.0 * w * (math.log2(v) - lp)


@njit(cache=True)
def _shuffle(order, state):
    """Fisher-Yates with a 64-bit LCG; returns the new state (deterministic per seed)."""
    for i in range(order.shape[0] - 1, 0, -1):
        state = (state * 6364136223846793005 + 1442695040888963407) & 0x7FFFFFFFFFFFFFFF
        j = (state >> 30) % (i + 1)
        order[i], order[j] = order[j], order[i]
    return state


ORDER_BLOCK = 64  # nodes: visiting order is random over blocks of consecutive ids and inside each


@njit(cache=True)
def _block_shuffle(order, state, block):
    """A random permutation of 0..n-1 made of whole blocks of `block` consecutive ids, each
    block's ids shuffled too: random enough for the local moves, and a block's rows of the
    CSR are adjacent in memory. Returns the new state."""
    n = order.shape[0]
    n_blocks = (n + block - 1) // block
    blocks = np.arange(n_blocks)
    state = _shuffle(blocks, state)
    pos = 0
    for b in blocks:
        lo = b * block
        hi = min(n, lo + block)
        for v in range(lo, hi):
            order[pos + v - lo] = v
        state = _shuffle(order[pos : pos + hi - lo], state)
        pos += hi - lo
    return state


@njit(cache=True)
def _grouped(lab, n_labels):
    """Counting sort by label: members[start[x] : start[x + 1]] are the indices i with
    lab[i] == x, ascending."""
    n = lab.shape[0]
    start = np.zeros(n_labels + 1, np.int64)
    for v in range(n):
        start[lab[v] + 1] += 1
    for x in range(n_labels):
        start[x + 1] += start[x]
    members = np.empty(n, np.int64)
    fill = start[:-1].copy()
    for v in range(n):
        members[fill[lab[v]]] = v
        fill[lab[v]] += 1
    return start, members


@njit(cache=True)
def _group_by_scope(order, scope):
    """Stable counting sort of `order` by scope[order]: a random order within each parent
    scope, scopes one after another (units of one scope touch only each other's state, so
    this keeps the working set to one scope at a time)."""
    if order.shape[0] == 0:
        return
    _, members = _grouped(scope[order], scope.max() + 1)
    order[:] = order[members]


@njit(cache=True)
def _neighbour_weights(ptr, idx, val, comm, v, acc, touched):
    """acc[c] += the weight from unit v to community c, for each community next to v; the
    communities are listed in touched[:nt] (first time seen) and nt is returned. The caller
    resets acc[c] to 0 for them."""
    nt = 0
    for k in range(ptr[v], ptr[v + 1]):
        c = comm[idx[k]]
        touched[nt] = c  # branch-free append: kept only when c is new
        nt += acc[c] == 0.0
        acc[c] += val[k]
    return nt


@njit(cache=True)
def leave_delta(w_a, v_a, cost_a, vol_u, self_u, k_a, lp):
    """Change of cost(A) when a unit (volume vol_u, inner weight self_u, weight k_a to the rest
    of A) leaves community A = (w_a, v_a), cost_a = cost(w_a, v_a)."""
    return cost(w_a - self_u - k_a, v_a - vol_u, lp) - cost_a


@njit(cache=True)
def join_delta(w_b, v_b, cost_b, vol_u, self_u, k_b, lp):
    """Change of cost(B) when the unit (weight k_b to B) joins community B = (w_b, v_b);
    (0, 0, 0) for an empty community. A move from A to B changes sum_b cost(b) by
    leave_delta + join_delta."""
    return cost(w_b + self_u + k_b, v_b + vol_u, lp) - cost_b


_LN2 = math.log(2.0)
_PRUNE_MARGIN = 1e-9  # relative: a candidate is skipped only when its bound is clearly worse


@njit(cache=True)
def join_bound(w_b, v_b, lv_b, vol_u, lv_u, self_u, k_b, lp):
    """A lower bound of join_delta that needs no logarithm (lv_b = log2 v_b, lv_u = log2 vol_u):
    with V = v_b + vol_u <= vol(parent), join_delta = 2 w_b (log2 V - log2 v_b)
    + 2 (self_u + k_b)(log2 V - lp), log2 V >= max(lv_b, lv_u) and
    log2 V - log2 v_b >= vol_u / (V ln 2)."""
    bound = 2.0 * (self_u + k_b) * (max(lv_b, lv_u) - lp)
    if w_b > 0.0:
        bound += 2.0 * w_b * vol_u / ((v_b + vol_u) * _LN2)
    return bound


@njit(cache=True)
def bound_exceeds(slack, w_b, v_b, lv_b, vol_u, lv_u, self_u, k_b, lp):
    """join_bound(...) > slack, decided without join_bound's division (both sides times
    v_b + vol_u > 0): the local moves' test for a candidate that cannot win."""
    rest = 2.0 * (self_u + k_b) * (max(lv_b, lv_u) - lp) - slack
    return rest * (v_b + vol_u) + 2.0 * max(w_b, 0.0) * vol_u / _LN2 > 0.0


@njit(cache=True)
def _log2_or_floor(v):
    return math.log2(v) if v > 0.0 else -1e300


# Community state, one row of 4 per community so that a candidate's reads share a cache line:
W, V, COST, LV = 0, 1, 2, 3  # inner weight, volume, cost(w, v, lp), log2 volume


@njit(cache=True)
def _state(w, v, lp_of):
    """Rows (w, v, cost, log2 v) for communities 0..n-1; lp_of[c] = log2 vol(parent) of c."""
    n = w.shape[0]
    st = np.empty((n, 4))
    for c in range(n):
        st[c, W] = w[c]
        st[c, V] = v[c]
        _refresh(c, st, lp_of[c])
    return st


@njit(cache=True)
def _best_join(touched, nt, acc, own, st, vol_u, self_u, lp, d_out, best):
    """The community among touched[:nt] (own excluded; acc[c] = the unit's weight to c) whose
    join, after leaving (d_out), changes the cost least, if below `best`: (change, community or
    -1, weight to it); ties go to the smaller label. Resets acc. A candidate whose `join_bound`
    already loses is not evaluated. st: the community state rows (W, V, COST, LV)."""
    best_c = -1
    best_k = 0.0
    lv_u = _log2_or_floor(vol_u)
    for i in range(nt):
        c = touched[i]
        k_c = acc[c]
        acc[c] = 0.0
        if c == own:
            continue
        w_c = st[c, W]
        v_c = st[c, V]
        cost_c = st[c, COST]
        slack = best - d_out + _PRUNE_MARGIN * (abs(best) + abs(d_out) + abs(cost_c))
        if bound_exceeds(slack, w_c, v_c, st[c, LV], vol_u, lv_u, self_u, k_c, lp):
            continue
        d = d_out + join_delta(w_c, v_c, cost_c, vol_u, self_u, k_c, lp)
        if d < best or (d == best and best_c >= 0 and c < best_c):
            best = d
            best_c = c
            best_k = k_c
    return best, best_c, best_k


@njit(cache=True)
def _refresh(c, st, lp):
    """Recompute community c's cost and log2 volume after its (w, v) changed."""
    st[c, COST] = cost(st[c, W], st[c, V], lp)
    st[c, LV] = _log2_or_floor(st[c, V])


@njit(cache=True)
def _move(st, a, b, vol_u, self_u, k_a, k_b, lp):
    """Unit (volume vol_u, inner weight self_u, weight k_a to the rest of a, k_b to b) from a to b."""
    st[a, V] -= vol_u
    st[a, W] -= self_u + k_a
    _refresh(a, st, lp)
    st[b, V] += vol_u
    st[b, W] += self_u + k_b
    _refresh(b, st, lp)


@njit(cache=True)
def _lp_of_communities(comm, lp):
    out = np.zeros(comm.shape[0])
    for v in range(comm.shape[0]):
        out[comm[v]] = lp[v]
    return out


@njit(cache=True)
def requeue_neighbours(ptr, idx, comm, v, c, queue, in_q, head, size):
    """After unit v joined community c: its neighbours outside c may now move, so those not
    queued join the circular queue (head, size). Returns the new size."""
    n = queue.shape[0]
    for k in range(ptr[v], ptr[v + 1]):
        t = idx[k]
        if not in_q[t] and comm[t] != c:
            queue[(head + size) % n] = t
            size += 1
            in_q[t] = True
    return size


@njit(cache=True)
def _local_moves(ptr, idx, val, nv, ns, lp, scope, comm, c_v, c_w, c_n, empty, n_empty, order, tol):
    """Leiden's fast local moving: a queue of nodes; each goes to the neighbouring (or an
    empty) community of its parent scope that lowers the cost most. `order` is grouped by
    scope and each scope's queue runs to the end before the next scope starts (units of
    different scopes share no edge, so this only keeps one scope's edges in cache).
    c_v / c_w: volume and inner weight of every community at the start (read only: the moves keep
    their own state rows); c_n: each community's size (updated), with `empty` its free labels.
    Returns (total change, moves, n_empty)."""
    n = nv.shape[0]
    acc = np.zeros(n)
    touched = np.empty(n + 1, np.int64)  # + 1: the branch-free append writes one past the end
    st = _state(c_w, c_v, _lp_of_communities(comm, lp))
    queue = np.empty(n, np.int64)
    in_q = np.zeros(n, np.bool_)
    total = 0.0
    moves = 0
    i0 = 0
    while i0 < n:
        s = scope[order[i0]]
        i1 = i0
        while i1 < n and scope[order[i1]] == s:
            queue[i1 - i0] = order[i1]
            in_q[order[i1]] = True
            i1 += 1
        head = 0
        size = i1 - i0
        i0 = i1
        while size > 0:
            v = queue[head]
            head = (head + 1) % n
            size -= 1
            in_q[v] = False
            a = comm[v]
            nt = _neighbour_weights(ptr, idx, val, comm, v, acc, touched)
            k_a = acc[a]
            d_out = leave_delta(st[a, W], st[a, V], st[a, COST], nv[v], ns[v], k_a, lp[v])
            best, best_c, best_k = _best_join(touched, nt, acc, a, st, nv[v], ns[v], lp[v], d_out, -tol)
            if c_n[a] > 1 and n_empty > 0:
                d = d_out + join_delta(0.0, 0.0, 0.0, nv[v], ns[v], 0.0, lp[v])
                if d < best:
                    best = d
                    best_c = -2
                    best_k = 0.0
            if best_c == -1:
                continue
            if best_c == -2:
                n_empty -= 1
                best_c = empty[n_empty]
            _move(st, a, best_c, nv[v], ns[v], k_a, best_k, lp[v])
            c_n[a] -= 1
            if c_n[a] == 0:
                st[a, W] = 0.0
                st[a, V] = 0.0
                _refresh(a, st, lp[v])
                empty[n_empty] = a
                n_empty += 1
            c_n[best_c] += 1
            comm[v] = best_c
            total += best
            moves += 1
            size = requeue_neighbours(ptr, idx, comm, v, best_c, queue, in_q, head, size)
    return total, moves, n_empty


@njit(cache=True)
def _dissolve(ptr, idx, val, nv, ns, lp, comm, c_v, c_w, c_n, tol):
    """Try emptying each community into its neighbours, member by member to the best other
    community; keep it when the total lowers the cost (single moves cannot see this: the
    first move out can cost more than the last one gains). Returns the total change."""
    n = nv.shape[0]
    order = np.argsort(comm, kind="mergesort")
    received = np.zeros(n, np.bool_)
    acc = np.zeros(n)
    touched = np.empty(n + 1, np.int64)  # + 1: the branch-free append writes one past the end
    undo_t = np.empty(n, np.int64)
    undo_k = np.empty((n, 2))
    st = _state(c_w, c_v, _lp_of_communities(comm, lp))
    total = 0.0
    i = 0
    while i < n:
        a = comm[order[i]]
        j = i
        while j < n and comm[order[j]] == a:
            j += 1
        if received[a] or j - i < 2:
            i = j
            continue
        change = 0.0
        done = 0
        ok = True
        for q in range(i, j):
            v = order[q]
            nt = _neighbour_weights(ptr, idx, val, comm, v, acc, touched)
            k_a = acc[a]
            d_out = leave_delta(st[a, W], st[a, V], st[a, COST], nv[v], ns[v], k_a, lp[v])
            best, best_c, best_k = _best_join(touched, nt, acc, a, st, nv[v], ns[v], lp[v], d_out, np.inf)
            if best_c < 0:
                ok = False
                break
            _move(st, a, best_c, nv[v], ns[v], k_a, best_k, lp[v])
            c_n[a] -= 1
            c_n[best_c] += 1
            comm[v] = best_c
            undo_t[done] = best_c
            undo_k[done, 0] = k_a
            undo_k[done, 1] = best_k
            done += 1
            change += best
        if ok and change < -tol:
            for q in range(done):
                received[undo_t[q]] = True
            st[a, W] = 0.0
            st[a, V] = 0.0
            _refresh(a, st, lp[order[i]])
            total += change
        else:
            for q in range(done - 1, -1, -1):
                v = order[i + q]
                c = undo_t[q]
                _move(st, c, a, nv[v], ns[v], undo_k[q, 1], undo_k[q, 0], lp[v])
                c_n[c] -= 1
                c_n[a] += 1
                comm[v] = a
        i = j
    return total


@njit(cache=True)
def _refine(ptr, idx, val, nv, ns, lp, comm, order, tol):
    """Leiden's refinement: inside each community, singletons merge greedily into the
    sub-community that lowers the cost most. Returns the sub-community of each node."""
    n = nv.shape[0]
    sub = np.arange(n)
    st = _state(ns, nv, lp)  # every node its own sub-community
    s_n = np.ones(n, np.int64)
    acc = np.zeros(n)
    touched = np.empty(n + 1, np.int64)  # + 1: the branch-free append writes one past the end
    for i in range(n):
        v = order[i]
        if s_n[sub[v]] != 1:
            continue
        nt = 0
        cv = comm[v]
        for k in range(ptr[v], ptr[v + 1]):  # branch-free: weight and append only inside v's community
            t = idx[k]
            inside = comm[t] == cv
            c = sub[t]
            touched[nt] = c
            nt += inside & (acc[c] == 0.0)
            acc[c] += val[k] * inside
        own = sub[v]
        d_out = -st[own, COST]  # v is a singleton: leaving it empties it
        _, best_c, best_k = _best_join(touched, nt, acc, own, st, nv[v], ns[v], lp[v], d_out, -tol)
        if best_c < 0:
            continue
        s_n[own] = 0
        st[best_c, V] += nv[v]
        st[best_c, W] += ns[v] + best_k
        s_n[best_c] += 1
        _refresh(best_c, st, lp[v])
        sub[v] = best_c
    return sub


@njit(cache=True)
def collapse(ptr, idx, val, keep, lab, n_new):
    """The CSR of the graph whose nodes are the labels: entry (lab[u], lab[v], w) for every
    entry (u, v, w) with keep[k] (all when `keep` is empty) and lab[u] != lab[v], duplicates
    summed. Built row by row (the members of one label, then the next) with one accumulator,
    so nothing is scattered over the output. Returns (ptr, idx, val, inner), inner[x] = the
    weight of the kept edges with both ends labelled x."""
    n = lab.shape[0]
    start, members = _grouped(lab, n_new)
    all_kept = keep.shape[0] == 0
    cap = 0
    for v in range(n):
        cap += ptr[v + 1] - ptr[v]
    out_ptr = np.zeros(n_new + 1, np.int64)
    out_idx = np.empty(cap, np.int32)
    out_val = np.empty(cap)
    inner = np.zeros(n_new)
    acc = np.zeros(n_new)
    seen = np.zeros(n_new, np.bool_)
    pos = 0
    for x in range(n_new):
        row = pos
        for q in range(start[x], start[x + 1]):
            v = members[q]
            for k in range(ptr[v], ptr[v + 1]):
                if not all_kept and not keep[k]:
                    continue
                t = lab[idx[k]]
                if t == x:
                    inner[x] += 0.5 * val[k]  # seen from both ends
                else:  # branch-free append of a new label
                    out_idx[pos] = t
                    pos += not seen[t]
                    seen[t] = True
                    acc[t] += val[k]
        for k in range(row, pos):
            t = out_idx[k]
            out_val[k] = acc[t]
            acc[t] = 0.0
            seen[t] = False
        out_ptr[x + 1] = pos
    return out_ptr, out_idx[:pos].copy(), out_val[:pos].copy(), inner


@njit(cache=True)
def _aggregate(ptr, idx, val, nv, ns, lab, n_new):
    """Collapse nodes with the same label: (ptr, idx, val, volume, self weight) of the new graph."""
    p2, i2, v2, inner = collapse(ptr, idx, val, np.zeros(0, np.bool_), lab, n_new)
    new_v = np.zeros(n_new)
    new_s = inner
    for v in range(lab.shape[0]):
        new_v[lab[v]] += nv[v]
        new_s[lab[v]] += ns[v]
    return p2, i2, v2, new_v, new_s


@njit(cache=True)
def _relabel(lab):
    """Labels -> 0..k-1 in order of first appearance; returns (new labels, k)."""
    n = lab.shape[0]
    mp = np.full(lab.max() + 1 if n else 1, -1, np.int64)
    out = np.empty(n, np.int64)
    k = 0
    for i in range(n):
        if mp[lab[i]] < 0:
            mp[lab[i]] = k
            k += 1
        out[i] = mp[lab[i]]
    return out, k


@njit(cache=True)
def leiden(ptr, idx, val, vol, lp, scope, init, seed, tol, max_rounds):
    """Minimise sum_b cost(b) over partitions of the units that refine `init`'s parent scopes.

    ptr/idx/val: symmetric CSR over units, only edges between units of one parent scope;
    vol: unit volumes; lp: log2 vol(parent) per unit; scope: the parent scope of each unit
    (labels 0..); init: starting community labels in
    0..n-1 (np.arange(n) for singletons). Local moves, refinement, aggregation, repeated
    (Traag et al. 2019) with this cost instead of modularity. Returns (community of each unit,
    total change of the cost, <= 0)."""
    n = vol.shape[0]
    state = (seed * 2654435761 + 12345) & 0x7FFFFFFFFFFFFFFF
    node_of = np.arange(n)  # aggregated node of each unit
    comm = init.copy()
    nv = vol.copy()
    ns = np.zeros(n)
    nlp = lp.copy()
    nscope = scope.copy()
    total = 0.0
    for _ in range(max_rounds):
        nn = nv.shape[0]
        c_v = np.zeros(nn)
        c_w = np.zeros(nn)
        c_n = np.zeros(nn, np.int64)
        for v in range(nn):
            c_v[comm[v]] += nv[v]
            c_w[comm[v]] += ns[v]
            c_n[comm[v]] += 1
        for v in range(nn):
            for k in range(ptr[v], ptr[v + 1]):
                if idx[k] > v and comm[idx[k]] == comm[v]:
                    c_w[comm[v]] += val[k]
        empty = np.empty(nn, np.int64)
        n_empty = 0
        for c in range(nn - 1, -1, -1):
            if c_n[c] == 0:
                empty[n_empty] = c
                n_empty += 1
        order = np.empty(nn, np.int64)
        state = _block_shuffle(order, state, ORDER_BLOCK)
        _group_by_scope(order, nscope)
        d, moves, n_empty = _local_moves(ptr, idx, val, nv, ns, nlp, nscope, comm, c_v, c_w, c_n, empty, n_empty, order, tol)
        total += d
        comm_c, n_comm = _relabel(comm)
        if n_comm == nn:
            break
        state = _block_shuffle(order, state, ORDER_BLOCK)
        _group_by_scope(order, nscope)
        sub = _refine(ptr, idx, val, nv, ns, nlp, comm_c, order, tol)
        sub_c, n_sub = _relabel(sub)
        if n_sub == nn:  # nothing merged inside communities: aggregate by the communities
            sub_c, n_sub = comm_c, n_comm
        new_comm = np.empty(n_sub, np.int64)
        new_lp = np.empty(n_sub)
        new_scope = np.empty(n_sub, np.int64)
        for v in range(nn):
            new_comm[sub_c[v]] = comm_c[v]
            new_lp[sub_c[v]] = nlp[v]
            new_scope[sub_c[v]] = nscope[v]
        ptr, idx, val, nv, ns = _aggregate(ptr, idx, val, nv, ns, sub_c, n_sub)
        for u in range(n):
            node_of[u] = sub_c[node_of[u]]
        comm = new_comm
        nlp = new_lp
        nscope = new_scope
    out = np.empty(n, np.int64)
    for u in range(n):
        out[u] = comm[node_of[u]]
    return out, total


@njit(cache=True)
def leiden_dissolve(ptr, idx, val, vol, lp, scope, init, seed, tol, max_rounds, passes):
    """`leiden`, then up to `passes` times: dissolve communities into their neighbours on the
    units and run `leiden` again from the result, while that lowers the cost."""
    comm, total = leiden(ptr, idx, val, vol, lp, scope, init, seed, tol, max_rounds)
    n = vol.shape[0]
    for p in range(passes):
        c_v = np.zeros(n)
        c_w = np.zeros(n)
        c_n = np.zeros(n, np.int64)
        for v in range(n):
            c_v[comm[v]] += vol[v]
            c_n[comm[v]] += 1
            for k in range(ptr[v], ptr[v + 1]):
                if idx[k] > v and comm[idx[k]] == comm[v]:
                    c_w[comm[v]] += val[k]
        d = _dissolve(ptr, idx, val, vol, np.zeros(n), lp, comm, c_v, c_w, c_n, tol)
        if d >= -tol:
            break
        total += d
        comm, d2 = leiden(ptr, idx, val, vol, lp, scope, comm, seed + p + 1, tol, max_rounds)
        total += d2
    return comm, total


@njit(cache=True)
def scope_csr(ptr, idx, val, members, a, b, local):
    """The CSR of the units members[a:b] with local ids 0..b-a-1 (their rows hold edges among
    them only); `local` is scratch of the full size."""
    cnt = 0
    for q in range(a, b):
        v = members[q]
        local[v] = q - a
        cnt += ptr[v + 1] - ptr[v]
    lptr = np.zeros(b - a + 1, np.int64)
    lidx = np.empty(cnt, np.int32)
    lval = np.empty(cnt)
    pos = 0
    for q in range(a, b):
        v = members[q]
        for k in range(ptr[v], ptr[v + 1]):
            lidx[pos] = local[idx[k]]
            lval[pos] = val[k]
            pos += 1
        lptr[q - a + 1] = pos
    return lptr, lidx, lval


@njit(cache=True)
def leiden_scoped(ptr, idx, val, vol, lp, scope, init, seed, tol, max_rounds, passes):
    """`leiden_dissolve` on each parent scope's units separately, each copied into a compact
    CSR with local ids, so one scope's state stays in cache (the CSR holds no edge between
    scopes, so the problems are independent). Community labels are unit ids, unique across
    scopes. Returns (community of each unit, total change of the cost)."""
    n = vol.shape[0]
    n_scope = 0
    for v in range(n):
        n_scope = max(n_scope, scope[v] + 1)
    if n_scope <= 1:
        return leiden_dissolve(ptr, idx, val, vol, lp, scope, init, seed, tol, max_rounds, passes)
    start, members = _grouped(scope, n_scope)
    local = np.empty(n, np.int64)
    out = np.empty(n, np.int64)
    total = 0.0
    for x in range(n_scope):
        a = start[x]
        b = start[x + 1]
        m = b - a
        if m == 0:
            continue
        linit = np.empty(m, np.int64)
        for q in range(a, b):
            linit[q - a] = init[members[q]]
        linit, _ = _relabel(linit)
        lptr, lidx, lval = scope_csr(ptr, idx, val, members, a, b, local)
        if lidx.shape[0] == 0:  # no edge: nothing can lower the cost, keep the start
            for q in range(a, b):
                out[members[q]] = members[a + linit[q - a]]
            continue
        lvol = np.empty(m)
        llp = np.empty(m)
        for q in range(a, b):
            lvol[q - a] = vol[members[q]]
            llp[q - a] = lp[members[q]]
        comm, d = leiden_dissolve(lptr, lidx, lval, lvol, llp, np.zeros(m, np.int64), linit, seed, tol, max_rounds, passes)
        total += d
        for q in range(a, b):
            out[members[q]] = members[a + comm[q - a]]
    return out, total


@njit(cache=True)
def compress_dp(parent, depth, w_in, vol, budget):
    """Keep at most `budget` internal nodes on every root-leaf path, minimising
    sum_b 2 W_b log2 vol(nearest kept ancestor-or-self of b).

    parent: internal nodes in topological order (root 0, parent[i] < i); w_in: W_b; vol:
    vol(b). Returns keep flags (root always kept) and the minimum."""
    n = parent.shape[0]
    dmax = 0
    for i in range(n):
        dmax = max(dmax, depth[i])
    s = np.zeros((n, budget + 1, dmax + 1))
    lv = np.empty(n)
    for i in range(n):
        lv[i] = math.log2(vol[i]) if vol[i] > 0 else 0.0
    path = np.empty(dmax + 1, np.int64)
    for i in range(n - 1, 0, -1):
        d = depth[i]
        x = i
        for t in range(d, -1, -1):
            path[t] = x
            x = parent[x]
        p = parent[i]
        for b in range(budget + 1):
            for a in range(d):
                f = 2.0 * w_in[i] * lv[path[a]] + s[i, b, a]
                if b >= 1:
                    f = min(f, 2.0 * w_in[i] * lv[i] + s[i, b - 1, d])
                s[p, b, a] += f
    keep = np.zeros(n, np.bool_)
    keep[0] = True
    best = 2.0 * w_in[0] * lv[0] + s[0, budget, 0]
    sb = np.empty(n, np.int64)
    sa = np.empty(n, np.int64)
    sb[0] = budget
    sa[0] = 0
    for i in range(1, n):
        p = parent[i]
        if keep[p]:
            b, a = sb[p] - 1 if p > 0 else budget, depth[p]
        else:
            b, a = sb[p], sa[p]
        sb[i] = b
        sa[i] = a
        if b >= 1:
            x = i
            for _ in range(depth[i] - a):
                x = parent[x]
            skip = 2.0 * w_in[i] * lv[x] + s[i, b, a]
            kept = 2.0 * w_in[i] * lv[i] + s[i, b - 1, depth[i]]
            keep[i] = kept < skip
    return keep, best


@njit(cache=True)
def edge_form(anc, vol_levels, src, w, elca):
    """sum_edges 2 w log2 vol(LCA): vol_levels[l, x] = volume of node x of level l."""
    total = 0.0
    for e in range(src.shape[0]):
        l = elca[e]
        total += w[e] * math.log2(vol_levels[l, anc[l, src[e]]])
    return 2.0 * total


@njit(cache=True)
def lca_weights(anc, src, w, elca, off, n_nodes):
    """W_b for every node b (numbered level by level from `off`): the weight of the edges whose
    LCA is b."""
    out = np.zeros(n_nodes)
    for e in range(src.shape[0]):
        l = elca[e]
        out[off[l] + anc[l, src[e]]] += w[e]
    return out


@njit(cache=True)
def split_lca(elca, src, dst, row, lo, hi, inserted):
    """After the level-(lo) row of the layers became `row` (each skill's new node there):
    edges whose LCA level is in [lo, hi] get lo when both ends share a node of `row`, hi
    otherwise. `inserted`: the row is a new level lo, so edges above lo move up one level
    first (hi is then lo + 1)."""
    for e in range(src.shape[0]):
        l = elca[e]
        if inserted and l >= lo:
            l += 1
            if l > hi:
                elca[e] = l
                continue
        if lo <= l <= hi:
            elca[e] = lo if row[src[e]] == row[dst[e]] else hi
@njit(cache=True)
def edge_lca_level(anc, src, dst):
    """Lowest level l with anc[l, u] == anc[l, v] for every edge (anc: levels x skills)."""
    m = src.shape[0]
    out = np.empty(m, np.int8)
    top = anc.shape[0] - 1
    for e in range(m):
        u = src[e]
        v = dst[e]
        lvl = top
        for l in range(1, top + 1):
            if anc[l, u] == anc[l, v]:
                lvl = l
                break
        out[e] = lvl
    return out


@njit(cache=True)
def adjacency(n, src, dst, w):
    """Symmetric CSR of the skill graph: (ptr, idx, val). Column indices are int32
    (n < 2**31): the local moves stream them, so they are a third of the memory traffic."""
    m = src.shape[0]
    ptr = np.zeros(n + 1, np.int64)
    for e in range(m):
        ptr[src[e] + 1] += 1
        ptr[dst[e] + 1] += 1
    for u in range(n):
        ptr[u + 1] += ptr[u]
    fill = ptr[:-1].copy()
    idx = np.empty(2 * m, np.int32)
    val = np.empty(2 * m)
    for e in range(m):
        idx[fill[src[e]]] = dst[e]
        val[fill[src[e]]] = w[e]
        fill[src[e]] += 1
        idx[fill[dst[e]]] = src[e]
        val[fill[dst[e]]] = w[e]
        fill[dst[e]] += 1
    return ptr, idx, val


@njit(cache=True)
def rows_within(anc_hi, ptr, idx, val):
    """The skill-level case of `level_csr` (j = 0): the entries whose ends share their level-hi
    node, copied row by row (no collapse: each skill is its own unit; duplicate pairs, if a
    graph had any, stay separate entries, which every kernel here adds up)."""
    n = ptr.shape[0] - 1
    out_ptr = np.zeros(n + 1, np.int64)
    out_idx = np.empty(idx.shape[0], np.int32)
    out_val = np.empty(idx.shape[0])
    pos = 0
    for u in range(n):
        h = anc_hi[u]
        for k in range(ptr[u], ptr[u + 1]):
            if anc_hi[idx[k]] == h:
                out_idx[pos] = idx[k]
                out_val[pos] = val[k]
                pos += 1
        out_ptr[u + 1] = pos
    return out_ptr, out_idx[:pos].copy(), out_val[:pos].copy()


@njit(cache=True)
def level_csr(anc_j, n, anc_hi, ptr, idx, val):
    """CSR over level-j nodes (anc_j: each skill's level-j node) of the skill graph's edges
    (ptr/idx/val: `adjacency`) whose ends share their level-hi node (anc_hi) but not their
    level-j node, i.e. whose LCA level is in [j + 1, hi]; duplicates summed."""
    keep = np.empty(idx.shape[0], np.bool_)
    for u in range(ptr.shape[0] - 1):
        h = anc_hi[u]
        for k in range(ptr[u], ptr[u + 1]):
            keep[k] = anc_hi[idx[k]] == h
    p2, i2, v2, _ = collapse(ptr, idx, val, keep, anc_j, n)
    return p2, i2, v2

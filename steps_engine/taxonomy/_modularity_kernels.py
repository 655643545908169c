"""Numba kernels for the multilevel builder's top-down start: Louvain on modularity.

Structural entropy grouped bottom up (`_multilevel_kernels`) builds coarse levels out of the
fine ones; on sparse graphs the fine 2-level optimum is tiny clusters and the levels above them
inherit their mistakes. Modularity's null model favours coarse communities, so splitting the
graph top down by it (communities, then communities inside each, as recursive Leiden does)
gives a different start, which the builder then refines by the exact structural-entropy moves.

Modularity of a partition of one scope's units (volume d_u: degree inside the scope, m2: the
scope's total) is sum_c [in_c / m2 - (V_c / m2)^2]; moving u into community c (u removed
first) gains, times m2 / 2, k_uc - d_u V_c / m2 (Blondel et al. 2008).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from steps_engine.taxonomy._multilevel_kernels import (
    ORDER_BLOCK,
    _aggregate,
    _block_shuffle,
    _grouped,
    _neighbour_weights,
    _relabel,
    requeue_neighbours,
    scope_csr,
)

_TOL = 1e-12  # relative to m2: smaller gains are treated as none
MAX_VISITS = 4  # a round's queue stops after MAX_VISITS * n visits: inside dense, nearly random
# planted subgroups it otherwise keeps re-queueing (2.6x the time of that level at 50,000 skills,
# entropy within 0.006 bits either way on six cells of docs/taxonomy_shapes.md)


@njit(cache=True)
def _local_moves(ptr, idx, val, nv, m2, comm, tot, order, tol):
    """Queue of units in `order`; each moves to the neighbouring community with the largest
    modularity gain (strictly more than staying, by tol), for at most MAX_VISITS * n visits.
    Returns the number of moves."""
    n = nv.shape[0]
    acc = np.zeros(n)
    touched = np.empty(n + 1, np.int64)  # + 1: the branch-free append writes one past the end
    queue = order.copy()
    in_q = np.ones(n, np.bool_)
    head = 0
    size = n
    moves = 0
    pops = 0
    while size > 0 and pops < MAX_VISITS * n:
        pops += 1
        v = queue[head]
        head = (head + 1) % n
        size -= 1
        in_q[v] = False
        a = comm[v]
        nt = _neighbour_weights(ptr, idx, val, comm, v, acc, touched)
        d_v = nv[v]
        tot[a] -= d_v
        best_c = a
        best = acc[a] - d_v * tot[a] / m2
        for i in range(nt):
            c = touched[i]
            gain = acc[c] - d_v * tot[c] / m2
            acc[c] = 0.0
            if c != a and gain > best + tol:
                best = gain
                best_c = c
        acc[a] = 0.0
        tot[best_c] += d_v
        if best_c == a:
            continue
        comm[v] = best_c
        moves += 1
        size = requeue_neighbours(ptr, idx, comm, v, best_c, queue, in_q, head, size)
    return moves


@njit(cache=True)
def _louvain_pass(ptr, idx, val, nv0, m2, init, state, max_rounds, tol):
    """Local moves from `init` (labels 0..n-1), aggregation, repeated. Returns (labels,
    moves, state)."""
    n = nv0.shape[0]
    node_of = np.arange(n)
    nv = nv0.copy()
    ns = np.zeros(n)
    comm = init.copy()
    total_moves = 0
    for _ in range(max_rounds):
        nn = nv.shape[0]
        tot = np.zeros(nn)
        for v in range(nn):
            tot[comm[v]] += nv[v]
        order = np.arange(nn)
        state = _block_shuffle(order, state, ORDER_BLOCK)
        moves = _local_moves(ptr, idx, val, nv, m2, comm, tot, order, tol)
        total_moves += moves
        comm_c, n_comm = _relabel(comm)
        if n_comm == nn:
            break
        ptr, idx, val, nv, ns = _aggregate(ptr, idx, val, nv, ns, comm_c, n_comm)
        for u in range(n):
            node_of[u] = comm_c[node_of[u]]
        comm = np.arange(n_comm)
        if moves == 0:
            break
    return node_of, total_moves, state


@njit(cache=True)
def louvain(ptr, idx, val, seed, max_rounds, iterations):
    """Modularity communities of a graph (symmetric CSR, no self entries): local moves,
    aggregation, repeated (Louvain); then `iterations - 1` more times from the result, while
    nodes still move. Returns each node's community, 0..k-1."""
    n = ptr.shape[0] - 1
    nv = np.zeros(n)
    for v in range(n):
        for k in range(ptr[v], ptr[v + 1]):
            nv[v] += val[k]
    m2 = nv.sum()
    comm = np.arange(n)
    if m2 <= 0.0:
        return comm
    state = (seed * 2654435761 + 12345) & 0x7FFFFFFFFFFFFFFF
    for _ in range(iterations):
        comm, moves, state = _louvain_pass(ptr, idx, val, nv, m2, comm, state, max_rounds, _TOL * m2)
        if moves == 0:
            break
    return _relabel(comm)[0]


@njit(cache=True)
def louvain_scoped(ptr, idx, val, scope, seed, max_rounds, iterations):
    """`louvain` inside each scope separately (the CSR holds no edge between scopes; degrees
    count only the scope's own edges, as on its induced subgraph). Community labels are unit
    ids, unique across scopes."""
    n = scope.shape[0]
    n_scope = 0
    for v in range(n):
        n_scope = max(n_scope, scope[v] + 1)
    if n_scope <= 1:  # one scope: its CSR is the whole one, no copy
        return louvain(ptr, idx, val, seed, max_rounds, iterations)
    start, members = _grouped(scope, n_scope)
    local = np.empty(n, np.int64)
    out = np.empty(n, np.int64)
    for x in range(n_scope):
        a = start[x]
        b = start[x + 1]
        if b - a == 0:
            continue
        lptr, lidx, lval = scope_csr(ptr, idx, val, members, a, b, local)
        comm = louvain(lptr, lidx, lval, seed, max_rounds, iterations)
        for q in range(a, b):
            out[members[q]] = members[a + comm[q - a]]
    return out

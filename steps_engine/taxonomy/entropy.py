"""Structural entropy of a weighted graph under an encoding tree (Li & Pan, 2016).

For a graph G with weighted degrees d_v and vol(G) = sum_v d_v, and an encoding tree T
whose tree node a holds the skill set T_a:

    vol(a) = sum_{v in T_a} d_v
    g_a    = total weight of edges with exactly one end in T_a
    H^T(G) = - sum_{a != root} (g_a / vol(G)) * log2( vol(a) / vol(parent(a)) )

A leaf {v} has g = vol = d_v. The one-dimensional entropy is the tree root -> leaves:

    H^1(G) = - sum_v (d_v / vol(G)) * log2( d_v / vol(G) )

Terms with vol(a) = 0 (isolated skills, empty clusters) are 0, the limit of x log x.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from steps_engine.taxonomy.graph import SkillGraph
from steps_engine.taxonomy.tree import EncodingTree

__all__ = ["NodeTerms", "node_terms", "structural_entropy", "one_dim_entropy", "lca"]


@dataclass
class NodeTerms:
    volume: np.ndarray  # vol(a) per tree node
    cut: np.ndarray  # g_a per tree node
    term: np.ndarray  # -(g_a/vol(G)) log2(vol(a)/vol(parent(a))); 0 at the root
    vol_graph: float

    @property
    def entropy(self) -> float:
        return float(self.term.sum())


def _skill_degrees(graph: SkillGraph, tree: EncodingTree) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Degrees indexed by tree skill, and the graph's edges mapped to tree leaves."""
    if tree.skills == graph.skills:
        to_tree = np.arange(graph.n_skills)
    else:
        pos = {s: i for i, s in enumerate(tree.skills)}
        to_tree = np.array([pos.get(s, -1) for s in graph.skills], dtype=np.int64)
    deg_graph = graph.degrees()
    deg = np.zeros(len(tree.skills))
    known = to_tree >= 0
    deg[to_tree[known]] = deg_graph[known]
    leaf = tree.leaf_of_skill()
    a = to_tree[graph.src]
    b = to_tree[graph.dst]
    ok = (a >= 0) & (b >= 0)
    ok[ok] &= (leaf[a[ok]] >= 0) & (leaf[b[ok]] >= 0)
    return deg, np.stack([leaf[a[ok]], leaf[b[ok]]]), graph.weight[ok]


def lca(tree: EncodingTree, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Lowest common ancestor of tree nodes u[i], v[i], vectorised over pairs."""
    depth = tree.depth()
    parent = tree.parent
    u = np.array(u, dtype=np.int64, copy=True)
    v = np.array(v, dtype=np.int64, copy=True)
    swap = depth[u] < depth[v]
    u[swap], v[swap] = v[swap], u[swap].copy()
    while True:  # lift u to v's depth
        deeper = depth[u] > depth[v]
        if not deeper.any():
            break
        u[deeper] = parent[u[deeper]]
    while True:
        differ = u != v
        if not differ.any():
            return u
        u[differ] = parent[u[differ]]
        v[differ] = parent[v[differ]]


def node_terms(graph: SkillGraph, tree: EncodingTree) -> NodeTerms:
    """vol(a), g_a and the entropy term of every tree node."""
    deg, (eu, ev), w = _skill_degrees(graph, tree)
    n = tree.n_nodes
    leaf_deg = np.zeros(n)
    leaves = tree.leaves()
    leaf_deg[leaves] = deg[tree.leaf_skill[leaves]]
    volume = tree.subtree_sum(leaf_deg)
    # An edge is inside T_a for every a on the path from LCA(u, v) to the root.
    inner_at = np.bincount(lca(tree, eu, ev), weights=w, minlength=n) if w.size else np.zeros(n)
    inner = tree.subtree_sum(inner_at)
    cut = np.maximum(volume - 2.0 * inner, 0.0)
    vol_graph = float(volume[0])
    term = np.zeros(n)
    if vol_graph > 0:
        par_vol = volume[tree.parent[1:]]
        vol_a = volume[1:]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = -(cut[1:] / vol_graph) * np.log2(vol_a / par_vol)
        term[1:] = np.where(vol_a > 0, t, 0.0)
    return NodeTerms(volume=volume, cut=cut, term=term, vol_graph=vol_graph)


def structural_entropy(graph: SkillGraph, tree: EncodingTree) -> float:
    """H^T(G) in bits."""
    return node_terms(graph, tree).entropy


def one_dim_entropy(graph: SkillGraph) -> float:
    """H^1(G) in bits."""
    d = graph.degrees()
    vol = d.sum()
    if vol <= 0:
        return 0.0
    p = d[d > 0] / vol
    return float(-(p * np.log2(p)).sum())

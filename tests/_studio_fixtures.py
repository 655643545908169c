"""Tiny hand-made graph + tree shared by the studio tests (edits, workspace, plotting)."""

from __future__ import annotations

import numpy as np

from pathlib import Path

from steps_engine.taxonomy.graph import SkillGraph
from steps_engine.taxonomy.tree import EncodingTree

SKILLS = ["a", "b", "c", "d", "e", "f"]


def two_triangles() -> SkillGraph:
    # triangles a-b-c and d-e-f (weight 1 each edge), bridged by c-d with weight 0.1
    edges = [(0, 1, 1.0), (0, 2, 1.0), (1, 2, 1.0), (3, 4, 1.0), (3, 5, 1.0), (4, 5, 1.0), (2, 3, 0.1)]
    src = np.array([e[0] for e in edges])
    dst = np.array([e[1] for e in edges])
    w = np.array([e[2] for e in edges])
    return SkillGraph(SKILLS, np.array([5, 4, 3, 3, 2, 1]), 10, src, dst, w, cooc=np.array([2, 2, 2, 2, 2, 2, 1]))


def two_cluster_tree() -> EncodingTree:
    # root(n0) -> C1(n1){a,b,c}, C2(n2){d,e,f}
    parent = [-1, 0, 0, 1, 1, 1, 2, 2, 2]
    leaf = [-1, -1, -1, 0, 1, 2, 3, 4, 5]
    ids = ["n0", "n1", "n2", "la", "lb", "lc", "ld", "le", "lf"]
    labels = ["root", "C1", "C2", "a", "b", "c", "d", "e", "f"]
    return EncodingTree.from_parents(parent, leaf, SKILLS, ids, labels)


def brute_entropy(graph: SkillGraph, tree: EncodingTree) -> float:
    """Structural entropy straight from the definition (independent of entropy.py)."""
    import math

    deg = {s: 0.0 for s in graph.skills}
    for a, b, w in zip(graph.src, graph.dst, graph.weight):
        deg[graph.skills[a]] += w
        deg[graph.skills[b]] += w
    in_tree = set(tree.members(0))
    vol_g = sum(deg[s] for s in in_tree)
    total = 0.0
    for node in range(1, tree.n_nodes):
        inside = set(tree.members(node))
        vol = sum(deg[s] for s in inside)
        pvol = sum(deg[s] for s in tree.members(int(tree.parent[node])))
        # edges leaving the node: every edge with one end inside (the other end anywhere,
        # including skills excluded from the tree)
        g = sum(
            w
            for a, b, w in zip(graph.src, graph.dst, graph.weight)
            if (graph.skills[a] in inside) != (graph.skills[b] in inside)
        )
        if vol > 0:
            total += -(g / vol_g) * math.log2(vol / pvol)
    return total


def demo_file(tmp: Path) -> Path:
    """The bundled demo; a planted stand-in of the same shape while it is absent."""
    import json

    from steps_engine.studio.state import demo_path

    if demo_path().is_file():
        return demo_path()
    from steps_engine.data.synthetic import planted_skill_rows

    names, batches = planted_skill_rows(60, 600, n_top=4, n_sub=4, seed=3)
    path = tmp / "demo.jsonl"
    with open(path, "w") as fh:
        k = 0
        for rows in batches:
            for row in rows:
                k += 1
                rec = {"id": f"demo-{k:04d}", "instruction": f"task {k}", "output": "ok", "skills": [names[i] for i in row]}
                fh.write(json.dumps(rec) + "\n")
    return path

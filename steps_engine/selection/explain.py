"""Why a combination was picked: its step gains, where it sits in the tree, its pairs.

    why = explain_combination(ctx, combo)   # dict, JSON-ready

steps        one row per skill after the start: the chain-rule gain H(y_t | x, y_1..y_{t-1}) it added
lca_path     labels (ids when unlabelled) from the root down to the combination's LCA
skill_paths  each skill's path below the LCA, down to the skill's leaf parent
pairs        every pair: co-occurrence count in the data (0 = never seen together) and, when a
             similarity matrix is set, the pair's cosine similarity
"""

from __future__ import annotations

import itertools

from steps_engine.selection.search import Combination, SelectionContext, _lca_of, chain_gains

__all__ = ["explain_combination"]


def explain_combination(ctx: SelectionContext, combo: Combination | dict) -> dict:
    skills = list(combo.skills if isinstance(combo, Combination) else combo["skills"])
    pos = [ctx.position(s) for s in skills]
    flat, tree = ctx.flat, ctx.tree
    name = lambda a: tree.labels[a] or tree.ids[a]  # noqa: E731
    lca = _lca_of(flat, pos)
    d_lca = int(flat.depth[lca])
    lca_path = [name(int(a)) for a in flat.anc[pos[0], : d_lca + 1]]
    skill_paths = {}
    for s, p in zip(skills, pos):
        leaf_depth = int(flat.depth[flat.leaf_node[p]])
        skill_paths[s] = [name(int(a)) for a in flat.anc[p, d_lca + 1: leaf_depth]]
    gains = chain_gains(flat, pos)
    pairs = []
    for (a, pa), (b, pb) in itertools.combinations(zip(skills, pos), 2):
        row = {"a": a, "b": b, "cooccurrence": int(ctx.cooc[pa, pb])}
        if ctx.sim is not None:
            row["similarity"] = float(ctx.sim[pa, pb])
        pairs.append(row)
    return {
        "start": skills[0],
        "steps": [{"skill": s, "step_gain": g} for s, g in zip(skills[1:], gains)],
        "gain": float(sum(gains)),
        "lca": tree.ids[lca],
        "lca_path": lca_path,
        "skill_paths": skill_paths,
        "pairs": pairs,
    }

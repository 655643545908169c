"""Cluster names: where each label came from, whether it is still true, and names by meaning.

Every internal node's label has a record in `tree.meta["names"][node_id]`:
{"by": "keywords" | "llm" | "meaning" | "hand", "label", "members" (a signature of the
member set when named), "description"?, "central"?, "stale"?}. After an edit,
`refresh_names` recomputes keyword names whose members changed, marks LLM and meaning
names whose members changed as stale (kept, never silently wrong), and keeps hand-written
labels; a label that differs from its record was typed by the curator and becomes "hand".
Keyword names themselves come from `keyword_names` (c-TF-IDF).

`name_nodes` names by meaning: for an internal node, the centroid is the frequency-weighted mean of its member skills'
unit embeddings (weights = skill counts; uniform when every member count is 0); its label
is the `top` members closest (cosine) to that centroid, most central first, joined by
`sep`. Leaves keep their skill name. Labels are a starting point the studio lets curators edit.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Sequence

import numpy as np

from steps_engine.semantic.embeddings.base import normalize_rows
from steps_engine.taxonomy.tree import EncodingTree

__all__ = ["NAMES_KEY", "name_nodes", "signatures", "name_records", "set_names", "name_by_keywords", "refresh_names", "name_status"]

NAMES_KEY = "names"
_BY = ("keywords", "llm", "meaning", "hand")


def signatures(tree: EncodingTree) -> list[str]:
    """A short signature of each node's member-skill set (order-free: a wrapping sum and
    a count of per-skill 64-bit hashes, summed up the tree)."""
    h = np.array(
        [int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "little") for s in tree.skills],
        dtype=np.uint64,
    )
    acc = np.zeros(tree.n_nodes, dtype=np.uint64)
    cnt = np.zeros(tree.n_nodes, dtype=np.int64)
    leaves = tree.leaves()
    acc[leaves] = h[tree.leaf_skill[leaves]]
    cnt[leaves] = 1
    with np.errstate(over="ignore"):
        for i in range(tree.n_nodes - 1, 0, -1):
            p = tree.parent[i]
            acc[p] += acc[i]
            cnt[p] += cnt[i]
    return [f"{int(c)}:{int(a):016x}" for a, c in zip(acc, cnt)]


def name_records(tree: EncodingTree) -> dict[str, dict]:
    return dict(tree.meta.get(NAMES_KEY) or {})


def _with(tree: EncodingTree, labels: list[str], records: dict[str, dict]) -> EncodingTree:
    meta = dict(tree.meta)
    meta[NAMES_KEY] = records
    return dataclasses.replace(tree, labels=labels, meta=meta, _cache={})


def set_names(tree: EncodingTree, labels: dict[str, str], by: str, descriptions: dict[str, str] | None = None) -> EncodingTree:
    """A copy of `tree` with these labels (node id -> label) recorded as named `by`."""
    if by not in _BY:
        raise ValueError(f"by must be one of {', '.join(_BY)}, got {by!r}")
    sig = signatures(tree)
    lab = list(tree.labels)
    rec = name_records(tree)
    for node_id, label in labels.items():
        i = tree.node_index(node_id)
        lab[i] = str(label).strip()
        r = {"by": by, "label": lab[i], "members": sig[i]}
        if descriptions and descriptions.get(node_id):
            r["description"] = str(descriptions[node_id])
        rec[node_id] = r
    return _with(tree, lab, rec)


def name_by_keywords(tree: EncodingTree, graph, corpus, only: set[int] | None = None) -> EncodingTree:
    """Keyword names (see `keyword_names`) for every internal node, or for `only` these indices."""
    from steps_engine.taxonomy.keyword_names import keyword_names

    names = keyword_names(tree, graph, corpus)
    sig = signatures(tree)
    lab = list(tree.labels)
    rec = name_records(tree)
    ch = tree.children()
    root = rec.get(tree.ids[0])
    if only is None and (root is None or root.get("by") != "hand"):
        lab[0] = "All skills"
        rec[tree.ids[0]] = {"by": "keywords", "label": lab[0], "members": sig[0]}
    for i, kn in names.items():
        if only is not None and i not in only:
            continue
        name = kn.name
        if only is not None:  # an unchanged sibling may hold this name already
            taken = {lab[c] for c in ch[int(tree.parent[i])] if c != i and c not in only}
            if name in taken:
                name = f"{name} ({kn.central[0]})" if kn.central and f"{name} ({kn.central[0]})" not in taken else f"{name} ({tree.ids[i]})"
        lab[i] = name
        rec[tree.ids[i]] = {"by": "keywords", "label": name, "members": sig[i], "central": kn.central}
    return _with(tree, lab, rec)


def refresh_names(tree: EncodingTree, graph, corpus) -> EncodingTree:
    """After an edit: keyword names of changed clusters recomputed, other automatic names of
    changed clusters marked stale, hand-written labels kept (see the module docstring)."""
    sig = signatures(tree)
    rec = name_records(tree)
    legacy = None
    redo: set[int] = set()
    lab = list(tree.labels)
    for i in np.flatnonzero(tree.leaf_skill < 0):
        i = int(i)
        if i == 0:
            continue
        r = rec.get(tree.ids[i])
        if r is None:
            if legacy is None and graph is not None:
                legacy = tree.default_labels(_counts(tree, graph))
            if not lab[i] or (legacy is not None and lab[i] == legacy[i]):
                redo.add(i)
            else:
                rec[tree.ids[i]] = {"by": "hand", "label": lab[i], "members": sig[i]}
        elif lab[i] != r.get("label"):
            rec[tree.ids[i]] = {"by": "hand", "label": lab[i], "members": sig[i]}
        elif r.get("by") != "hand" and r.get("members") != sig[i]:
            if r.get("by") == "keywords":
                redo.add(i)
            else:
                rec[tree.ids[i]] = {**r, "stale": True}
    live = set(tree.ids)
    rec = {k: v for k, v in rec.items() if k in live}
    out = _with(tree, lab, rec)
    return name_by_keywords(out, graph, corpus, only=redo) if redo else out


def name_status(tree: EncodingTree) -> dict[str, str]:
    """node id -> "keywords" | "llm" | "meaning" | "hand" | "stale" | "unknown" (internal nodes)."""
    rec = name_records(tree)
    out = {}
    for i in np.flatnonzero(tree.leaf_skill < 0):
        r = rec.get(tree.ids[i])
        out[tree.ids[i]] = "unknown" if r is None else ("stale" if r.get("stale") else str(r.get("by", "unknown")))
    return out


def _counts(tree: EncodingTree, graph) -> np.ndarray:
    pos = {s: i for i, s in enumerate(graph.skills)}
    return np.array([graph.counts[pos[s]] if s in pos else 0 for s in tree.skills], dtype=np.float64)


def name_nodes(
    tree: EncodingTree,
    embeddings: np.ndarray,
    counts: Sequence[int] | np.ndarray | None = None,
    top: int = 3,
    sep: str = " / ",
) -> list[str]:
    """One label per tree node, aligned to node index. `embeddings` and `counts` have one
    entry per `tree.skills` entry, in that order (counts None = all equal)."""
    if top < 1:
        raise ValueError(f"top must be >= 1, got {top}")
    n_sk = len(tree.skills)
    embeddings = np.asarray(embeddings)
    if embeddings.ndim != 2 or embeddings.shape[0] != n_sk:
        raise ValueError(f"embeddings must have shape [{n_sk}, dim] (one row per tree skill), got {embeddings.shape}")
    w = np.ones(n_sk) if counts is None else np.asarray(counts, dtype=np.float64)
    if w.shape != (n_sk,):
        raise ValueError(f"counts must have one entry per tree skill ({n_sk}), got shape {w.shape}")
    if np.any(w < 0):
        raise ValueError("counts must be >= 0")
    u = normalize_rows(embeddings).astype(np.float64)
    n = tree.n_nodes
    ls = tree.leaf_skill
    # Bottom-up sums of weighted vectors, plain vectors and weights per node.
    wsum = np.zeros((n, u.shape[1]))
    usum = np.zeros((n, u.shape[1]))
    wtot = np.zeros(n)
    leaves = np.flatnonzero(ls >= 0)
    wsum[leaves] = u[ls[leaves]] * w[ls[leaves], None]
    usum[leaves] = u[ls[leaves]]
    wtot[leaves] = w[ls[leaves]]
    for i in range(n - 1, 0, -1):
        p = tree.parent[i]
        wsum[p] += wsum[i]
        usum[p] += usum[i]
        wtot[p] += wtot[i]
    centroid = np.where(wtot[:, None] > 0, wsum, usum)
    # Members of every node: each leaf's skill goes to all its ancestors.
    members: list[list[int]] = [[] for _ in range(n)]
    for leaf in leaves:
        a = tree.parent[leaf]
        while a >= 0:
            members[a].append(int(ls[leaf]))
            a = tree.parent[a]
    labels = []
    for i in range(n):
        if ls[i] >= 0:
            labels.append(tree.skills[ls[i]])
            continue
        m = np.asarray(members[i], dtype=np.int64)
        if m.size == 0:
            labels.append(tree.labels[i] if i < len(tree.labels) else "")
            continue
        sim = u[m] @ centroid[i]
        order = np.lexsort((np.asarray([tree.skills[j] for j in m]), -w[m], -np.round(sim, 9)))
        labels.append(sep.join(tree.skills[j] for j in m[order[:top]]))
    return labels

"""Curator edits of a taxonomy, as plain functions on `EncodingTree`, plus an undo/redo log.

Every edit returns a new tree (the input is never changed). Nodes are named by their
stable string ids, never by index (indices change when a tree is rebuilt).

    rename_cluster(tree, node_id, label)
    relabel_clusters(tree, {node_id: label})        # many names at once (e.g. suggested ones)
    move_skills(tree, skills, target_id)
    merge_clusters(tree, target_id, source_id)      # source's children join target
    split_cluster(tree, graph, node_id)             # re-partition members by entropy
    exclude_skill(tree, skills)
    create_cluster(tree, parent_id, label)

`Edit` is the serialisable form ({"op", "args"}); `apply_edit(tree, graph, edit)` runs one
and reports the structural entropy before -> after. `EditLog` keeps the sequence of trees
for undo/redo; `steps_engine.curation.workspace` persists it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from steps_engine.taxonomy.entropy import structural_entropy
from steps_engine.taxonomy.graph import SkillGraph
from steps_engine.taxonomy.tree import EncodingTree

__all__ = [
    "OPS",
    "Edit",
    "EditResult",
    "EditLog",
    "apply_edit",
    "rename_cluster",
    "relabel_clusters",
    "move_skills",
    "merge_clusters",
    "split_cluster",
    "exclude_skill",
    "create_cluster",
]

OPS = ("rename", "relabel", "move", "merge", "split", "exclude", "create")


# ---- helpers ---------------------------------------------------------------
def _index(tree: EncodingTree, node_id: str, arg: str = "node_id") -> int:
    try:
        return tree.node_index(str(node_id))
    except KeyError:
        raise ValueError(f"{arg}: no node with id {node_id!r}") from None


def _cluster(tree: EncodingTree, node_id: str, arg: str = "node_id") -> int:
    i = _index(tree, node_id, arg)
    if tree.leaf_skill[i] >= 0:
        raise ValueError(f"{arg}: {node_id!r} is a skill leaf, not a cluster")
    return i


def _skill_leaves(tree: EncodingTree, skills: list[str], arg: str = "skills") -> list[int]:
    if isinstance(skills, str):
        skills = [skills]
    pos = {s: i for i, s in enumerate(tree.skills)}
    leaf = tree.leaf_of_skill()
    out = []
    for s in skills:
        k = pos.get(s, -1)
        if k < 0 or leaf[k] < 0:
            raise ValueError(f"{arg}: skill {s!r} is not in the taxonomy")
        out.append(int(leaf[k]))
    if not out:
        raise ValueError(f"{arg}: no skills given")
    return out


def _fresh_ids(tree: EncodingTree, n: int, prefix: str = "u") -> list[str]:
    taken = set(tree.ids)
    out, k = [], 1
    while len(out) < n:
        cand = f"{prefix}{k}"
        if cand not in taken:
            out.append(cand)
            taken.add(cand)
        k += 1
    return out


def _is_ancestor(tree: EncodingTree, a: int, b: int) -> bool:
    """True when a is b or an ancestor of b."""
    while b >= 0:
        if b == a:
            return True
        b = int(tree.parent[b])
    return False


def _rebuild(
    tree: EncodingTree,
    parent: list[int],
    leaf_skill: list[int],
    ids: list[str],
    labels: list[str],
    keep: list[bool] | None = None,
    meta: dict | None = None,
) -> EncodingTree:
    """New tree from node lists (indices into these lists), dropping nodes with keep=False."""
    n = len(parent)
    keep = keep if keep is not None else [True] * n
    new_of_old = np.cumsum(keep) - 1
    par, ls, nid, lab = [], [], [], []
    for i in range(n):
        if not keep[i]:
            continue
        p = parent[i]
        if p >= 0 and not keep[p]:
            raise AssertionError("a kept node lost its parent")  # internal invariant
        par.append(int(new_of_old[p]) if p >= 0 else -1)
        ls.append(leaf_skill[i])
        nid.append(ids[i])
        lab.append(labels[i])
    return EncodingTree.from_parents(par, ls, tree.skills, nid, lab, dict(meta if meta is not None else tree.meta))


def _lists(tree: EncodingTree) -> tuple[list[int], list[int], list[str], list[str]]:
    return tree.parent.tolist(), tree.leaf_skill.tolist(), list(tree.ids), list(tree.labels)


# ---- the edits -------------------------------------------------------------
def rename_cluster(tree: EncodingTree, node_id: str, label: str) -> EncodingTree:
    """Give cluster `node_id` a new label."""
    i = _cluster(tree, node_id)
    label = str(label).strip()
    if not label:
        raise ValueError("label must be non-empty")
    parent, ls, ids, labels = _lists(tree)
    labels[i] = label
    return _rebuild(tree, parent, ls, ids, labels)


def relabel_clusters(
    tree: EncodingTree, labels: dict[str, str], by: str = "hand", descriptions: dict[str, str] | None = None
) -> EncodingTree:
    """Rename several clusters in one edit; `labels` maps node ids to new labels, recorded
    as written `by` "hand", "keywords", "llm" or "meaning" (see `taxonomy.naming`)."""
    from steps_engine.taxonomy.naming import set_names

    if not labels:
        raise ValueError("labels: no clusters given")
    clean = {}
    for node_id, label in labels.items():
        _cluster(tree, node_id, "labels")
        label = str(label).strip()
        if not label:
            raise ValueError(f"labels: empty label for {node_id!r}")
        clean[str(node_id)] = label
    return set_names(tree, clean, by, descriptions)


def move_skills(tree: EncodingTree, skills: list[str], target_id: str) -> EncodingTree:
    """Re-attach the leaves of `skills` directly under cluster `target_id`."""
    t = _cluster(tree, target_id, "target_id")
    leaves = _skill_leaves(tree, skills)
    parent, ls, ids, labels = _lists(tree)
    for leaf in leaves:
        parent[leaf] = t
    return _rebuild(tree, parent, ls, ids, labels)


def merge_clusters(tree: EncodingTree, target_id: str, source_id: str) -> EncodingTree:
    """Move every child of `source_id` under `target_id` and delete `source_id`."""
    t = _cluster(tree, target_id, "target_id")
    s = _cluster(tree, source_id, "source_id")
    if s == 0:
        raise ValueError("source_id: the root cannot be merged away")
    if _is_ancestor(tree, s, t):
        raise ValueError(f"source_id: {source_id!r} contains {target_id!r}; merge the other way round")
    parent, ls, ids, labels = _lists(tree)
    for c in tree.children()[s]:
        parent[c] = t
    keep = [True] * tree.n_nodes
    keep[s] = False
    return _rebuild(tree, parent, ls, ids, labels, keep)


def exclude_skill(tree: EncodingTree, skills: list[str] | str) -> EncodingTree:
    """Remove skills from the taxonomy (they stay in `tree.skills`, listed in meta['excluded'])."""
    leaves = _skill_leaves(tree, skills)
    parent, ls, ids, labels = _lists(tree)
    keep = [True] * tree.n_nodes
    for leaf in leaves:
        keep[leaf] = False
    meta = dict(tree.meta)
    meta["excluded"] = sorted(set(meta.get("excluded", [])) | {tree.skills[ls[x]] for x in leaves})
    return _rebuild(tree, parent, ls, ids, labels, keep, meta)


def create_cluster(tree: EncodingTree, parent_id: str, label: str, node_id: str | None = None) -> EncodingTree:
    """Add an empty cluster under `parent_id` (fill it with `move_skills`)."""
    p = _cluster(tree, parent_id, "parent_id")
    label = str(label).strip()
    if not label:
        raise ValueError("label must be non-empty")
    node_id = node_id or _fresh_ids(tree, 1)[0]
    if node_id in set(tree.ids):
        raise ValueError(f"node_id: {node_id!r} is already used")
    parent, ls, ids, labels = _lists(tree)
    parent.append(p)
    ls.append(-1)
    ids.append(node_id)
    labels.append(label)
    return _rebuild(tree, parent, ls, ids, labels)


def split_cluster(
    tree: EncodingTree, graph: SkillGraph, node_id: str, groups: list[list[str]] | None = None, ids: list[str] | None = None
) -> EncodingTree:
    """Split cluster `node_id`. Without `groups`: re-partition its members by structural
    entropy (the merge operator, `partition.split_node`), replacing its inner structure.
    With `groups` (lists of member skills, e.g. a curator's lasso): each group becomes a new
    child cluster of `node_id` (ids from `ids`, else fresh), the other members stay where
    they are, and sub-clusters left empty are removed."""
    from steps_engine.taxonomy.partition import split_node

    i = _cluster(tree, node_id)
    members = tree.members(i)
    if len(members) < 2:
        raise ValueError(f"node_id: {node_id!r} has {len(members)} skill(s); nothing to split")
    if not groups:
        out = split_node(graph, tree, i)
        if _inner_clusters(out, out.node_index(node_id)) == _inner_clusters(tree, i):
            raise ValueError(f"node_id: {node_id!r} is already split the way the merge operator splits it; "
                             "nothing would change")
        return out
    inside = set(members)
    groups = [[str(s) for s in g] for g in groups if g]
    flat = [s for g in groups for s in g]
    if len(set(flat)) != len(flat):
        raise ValueError("groups: a skill is in more than one group")
    outside = [s for s in flat if s not in inside]
    if outside:
        raise ValueError(f"groups: skill {outside[0]!r} is not in cluster {node_id!r}")
    if len(flat) == len(members) and len(groups) == 1:
        raise ValueError("groups: one group holding every member is no split; leave some skills out or give two groups")
    new_ids = list(ids) if ids else _fresh_ids(tree, len(groups))
    if len(new_ids) != len(groups) or set(new_ids) & set(tree.ids):
        raise ValueError("ids: one unused id per group is needed")
    parent, ls, nid, labels = _lists(tree)
    for g, gid in zip(groups, new_ids):
        k = len(parent)
        parent.append(i)
        ls.append(-1)
        nid.append(gid)
        labels.append("")
        for leaf in _skill_leaves(tree, g, "groups"):
            parent[leaf] = k
    # drop internal descendants of node i that hold no skill any more
    n = len(parent)
    has = [ls[x] >= 0 for x in range(n)]
    order = sorted(range(n), key=lambda x: -_depth_of(parent, x))
    for x in order:
        if has[x] and parent[x] >= 0:
            has[parent[x]] = True
    keep = [has[x] or x == i or not _below(parent, x, i) for x in range(n)]
    return _rebuild(tree, parent, ls, nid, labels, keep)


def _inner_clusters(tree: EncodingTree, i: int) -> list[tuple[str, ...]]:
    """The clusters strictly inside node i as sorted member tuples (ids and labels aside)."""
    ch = tree.children()
    out, stack = [], list(ch[i])
    while stack:
        x = stack.pop()
        if tree.leaf_skill[x] < 0:
            out.append(tuple(sorted(tree.members(x))))
            stack.extend(ch[x])
    return sorted(out)


def _depth_of(parent: list[int], x: int) -> int:
    d = 0
    while parent[x] >= 0:
        x = parent[x]
        d += 1
    return d


def _below(parent: list[int], x: int, a: int) -> bool:
    """True when x is a strict descendant of a."""
    x = parent[x]
    while x >= 0:
        if x == a:
            return True
        x = parent[x]
    return False


# ---- serialisable edits ----------------------------------------------------
@dataclass
class Edit:
    op: str
    args: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"op must be one of {', '.join(OPS)}, got {self.op!r}")

    def to_json(self) -> dict:
        return {"op": self.op, "args": dict(self.args)}

    @classmethod
    def from_json(cls, data: dict) -> "Edit":
        return cls(str(data["op"]), dict(data.get("args", {})))

    def describe(self, tree: EncodingTree | None = None) -> str:
        """One line; with the tree the edit applies to, clusters are named 'label' (id)."""
        a = self.args

        def c(node_id) -> str:
            if tree is not None:
                try:
                    return f"'{tree.labels[tree.node_index(str(node_id))]}' ({node_id})"
                except KeyError:
                    pass
            return str(node_id)

        if self.op == "rename":
            return f"rename {c(a['node_id'])} to {a['label']!r}"
        if self.op == "relabel":
            by = a.get("by", "hand")
            return f"rename {len(a['labels'])} cluster(s)" + ("" if by == "hand" else f" (names by {by})")
        if self.op == "move":
            sk = a["skills"]
            return f"move {len(sk)} skill(s) to {c(a['target_id'])}" if len(sk) > 3 else f"move {', '.join(sk)} to {c(a['target_id'])}"
        if self.op == "merge":
            return f"merge {c(a['source_id'])} into {c(a['target_id'])}"
        if self.op == "split":
            if a.get("groups"):
                return f"split {c(a['node_id'])} into {len(a['groups'])} chosen group(s)"
            return f"split {c(a['node_id'])} by entropy"
        if self.op == "exclude":
            sk = a["skills"]
            return f"exclude {len(sk)} skill(s)" if len(sk) > 3 else f"exclude {', '.join(sk)}"
        return f"create cluster {a.get('node_id', '?')} {a['label']!r} under {c(a['parent_id'])}"


@dataclass
class EditResult:
    tree: EncodingTree
    edit: Edit  # with generated ids filled in, so replaying it gives the same tree
    entropy_before: float
    entropy_after: float

    @property
    def delta(self) -> float:
        return self.entropy_after - self.entropy_before


def apply_edit(
    tree: EncodingTree,
    graph: SkillGraph,
    edit: Edit,
    entropy_before: float | None = None,
    namer: Callable[[EncodingTree], EncodingTree] | None = None,
) -> EditResult:
    """Run one edit; ValueError (naming the argument) when it does not apply to this tree.
    Nothing is stored: this is also the what-if preview of an edit's entropy cost.
    `namer(new_tree)` refreshes cluster names afterwards (`naming.refresh_names`)."""
    a = dict(edit.args)
    try:
        if edit.op == "rename":
            new = rename_cluster(tree, a["node_id"], a["label"])
        elif edit.op == "relabel":
            a["labels"] = {str(k): str(v) for k, v in dict(a["labels"]).items()}
            new = relabel_clusters(tree, a["labels"], a.get("by", "hand"), a.get("descriptions"))
        elif edit.op == "move":
            a["skills"] = [a["skills"]] if isinstance(a["skills"], str) else list(a["skills"])
            new = move_skills(tree, a["skills"], a["target_id"])
        elif edit.op == "merge":
            new = merge_clusters(tree, a["target_id"], a["source_id"])
        elif edit.op == "split":
            if a.get("groups"):
                a["groups"] = [list(g) for g in a["groups"]]
                a["ids"] = a.get("ids") or _fresh_ids(tree, len([g for g in a["groups"] if g]))
            new = split_cluster(tree, graph, a["node_id"], a.get("groups"), a.get("ids"))  # deterministic replays
        elif edit.op == "exclude":
            a["skills"] = [a["skills"]] if isinstance(a["skills"], str) else list(a["skills"])
            new = exclude_skill(tree, a["skills"])
        else:
            a["node_id"] = a.get("node_id") or _fresh_ids(tree, 1)[0]
            new = create_cluster(tree, a["parent_id"], a["label"], a["node_id"])
    except KeyError as e:
        raise ValueError(f"edit {edit.op!r} is missing argument {e.args[0]!r}") from None
    if new.to_json() == tree.to_json():  # e.g. a second split by entropy, a rename to the same label
        raise ValueError(f"{Edit(edit.op, a).describe(tree)} leaves the taxonomy as it is: nothing to apply")
    before = structural_entropy(graph, tree) if entropy_before is None else entropy_before
    after = structural_entropy(graph, new)
    if namer is not None:
        new = namer(new)
    return EditResult(new, Edit(edit.op, a), before, after)


class EditLog:
    """Linear edit history with undo/redo.

    `records[k]` describes the edit that turns tree k into tree k+1; `position` is the index
    of the current tree. Trees may be supplied lazily through `loader(k)` (the workspace
    reads snapshots from disk) and are kept in memory once seen.
    """

    def __init__(
        self,
        graph: SkillGraph,
        base: EncodingTree | None,
        records: list[dict] | None = None,
        position: int | None = None,
        loader: Callable[[int], EncodingTree] | None = None,
    ) -> None:
        self.graph = graph
        self.records: list[dict] = list(records or [])
        self.position = len(self.records) if position is None else int(position)
        if not 0 <= self.position <= len(self.records):
            raise ValueError(f"position must be in 0..{len(self.records)}, got {self.position}")
        self._trees: dict[int, EncodingTree] = {} if base is None else {0: base}
        self._loader = loader
        self.namer: Callable[[EncodingTree], EncodingTree] | None = None  # refreshes names after an edit

    def tree_at(self, k: int) -> EncodingTree:
        if k not in self._trees:
            if self._loader is None:
                raise ValueError(f"tree {k} is not available")
            self._trees[k] = self._loader(k)
        return self._trees[k]

    @property
    def current(self) -> EncodingTree:
        return self.tree_at(self.position)

    @property
    def can_undo(self) -> bool:
        return self.position > 0

    @property
    def can_redo(self) -> bool:
        return self.position < len(self.records)

    def apply(self, edit: Edit) -> EditResult:
        """Apply after the current position; any redo tail is discarded."""
        before = self.records[self.position - 1]["entropy_after"] if self.position else None
        current = self.current
        res = apply_edit(current, self.graph, edit, before, self.namer)
        del self.records[self.position :]
        for k in [k for k in self._trees if k > self.position]:
            del self._trees[k]
        self.records.append(
            {
                "seq": self.position + 1,
                **res.edit.to_json(),
                "description": res.edit.describe(current),
                "entropy_before": res.entropy_before,
                "entropy_after": res.entropy_after,
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
        )
        self.position += 1
        self._trees[self.position] = res.tree
        return res

    def undo(self) -> EncodingTree:
        if not self.can_undo:
            raise ValueError("nothing to undo")
        self.position -= 1
        return self.current

    def redo(self) -> EncodingTree:
        if not self.can_redo:
            raise ValueError("nothing to redo")
        self.position += 1
        return self.current

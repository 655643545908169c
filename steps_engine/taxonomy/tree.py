"""The encoding tree (skill taxonomy) as flat arrays.

Nodes are indexed 0..N-1 in topological order: the root is 0 and parent[i] < i for every
other node. Leaves carry exactly one skill (`leaf_skill[i]` = skill index, -1 for internal
nodes). Every node has a stable string id and a label (leaves: their skill name).

JSON (`taxonomy.json`, format "steps-taxonomy/1"): an internal node is
{"id", "label", "children": [...]} and a leaf is {"id", "skill"}; extra keys
(members, volume, cut, term) are informative and ignored when reading.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from steps_engine._atomic import write_json

__all__ = ["EncodingTree", "FORMAT"]

FORMAT = "steps-taxonomy/1"


@dataclass
class EncodingTree:
    parent: np.ndarray  # int64 [N]; parent[0] == -1
    leaf_skill: np.ndarray  # int64 [N]; skill index for leaves, -1 for internal nodes
    skills: list[str]  # skill names, indexed by leaf_skill
    ids: list[str]
    labels: list[str]
    meta: dict = field(default_factory=dict)  # height, weighting, entropies (file header)
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    # ---- construction -------------------------------------------------
    @classmethod
    def from_parents(
        cls,
        parent: list[int] | np.ndarray,
        leaf_skill: list[int] | np.ndarray,
        skills: list[str],
        ids: list[str] | None = None,
        labels: list[str] | None = None,
        meta: dict | None = None,
    ) -> "EncodingTree":
        """Build from any parent array with a single root (parent -1); nodes are reordered
        breadth-first (children in their original index order) so that parent[i] < i."""
        parent = np.asarray(parent, dtype=np.int64)
        leaf_skill = np.asarray(leaf_skill, dtype=np.int64)
        n = parent.shape[0]
        roots = np.flatnonzero(parent < 0)
        if roots.shape[0] != 1:
            raise ValueError(f"tree must have exactly one root, got {roots.shape[0]}")
        children: list[list[int]] = [[] for _ in range(n)]
        for i in range(n):
            if parent[i] >= 0:
                children[parent[i]].append(i)
        order = [int(roots[0])]
        head = 0
        while head < len(order):
            order.extend(children[order[head]])
            head += 1
        if len(order) != n:
            raise ValueError("parent array has a cycle or unreachable nodes")
        new_of_old = np.empty(n, dtype=np.int64)
        new_of_old[order] = np.arange(n)
        old = np.asarray(order)
        new_parent = np.where(parent[old] >= 0, new_of_old[np.maximum(parent[old], 0)], -1)
        ids = [f"n{i}" for i in range(n)] if ids is None else [ids[o] for o in order]
        ls = leaf_skill[old]
        if labels is None:
            labels = ["" if ls[i] < 0 else skills[ls[i]] for i in range(n)]
        else:
            labels = [labels[o] for o in order]
        tree = cls(new_parent, ls, list(skills), ids, labels, dict(meta or {}))
        tree.validate()
        return tree

    def validate(self) -> None:
        n = self.n_nodes
        if self.parent[0] != -1 or np.any(self.parent[1:] >= np.arange(1, n)) or np.any(self.parent[1:] < 0):
            raise ValueError("nodes must be in topological order with the root at 0")
        is_leaf = self.leaf_skill >= 0
        has_child = np.zeros(n, dtype=bool)
        has_child[self.parent[1:]] = True
        if np.any(is_leaf & has_child):
            raise ValueError("a skill leaf has children")
        leaf_skills = self.leaf_skill[is_leaf]
        if np.unique(leaf_skills).shape[0] != leaf_skills.shape[0]:
            uniq, counts = np.unique(leaf_skills, return_counts=True)
            raise ValueError(f"skill {self.skills[int(uniq[counts > 1][0])]!r} appears in more than one leaf")
        if len(set(self.ids)) != n:
            raise ValueError("node ids are not unique")

    # ---- structure ----------------------------------------------------
    @property
    def n_nodes(self) -> int:
        return int(self.parent.shape[0])

    def children(self) -> list[list[int]]:
        if "children" not in self._cache:
            ch: list[list[int]] = [[] for _ in range(self.n_nodes)]
            for i in range(1, self.n_nodes):
                ch[self.parent[i]].append(i)
            self._cache["children"] = ch
        return self._cache["children"]

    def depth(self) -> np.ndarray:
        if "depth" not in self._cache:
            d = np.zeros(self.n_nodes, dtype=np.int64)
            for i in range(1, self.n_nodes):
                d[i] = d[self.parent[i]] + 1
            self._cache["depth"] = d
        return self._cache["depth"]

    @property
    def height(self) -> int:
        return int(self.depth().max()) if self.n_nodes else 0

    def leaves(self) -> np.ndarray:
        return np.flatnonzero(self.leaf_skill >= 0)

    def leaf_of_skill(self) -> np.ndarray:
        """node index of each skill's leaf (-1 for skills not in the tree)."""
        if "leaf_of_skill" not in self._cache:
            out = np.full(len(self.skills), -1, dtype=np.int64)
            leaves = self.leaves()
            out[self.leaf_skill[leaves]] = leaves
            self._cache["leaf_of_skill"] = out
        return self._cache["leaf_of_skill"]

    def subtree_sum(self, values: np.ndarray) -> np.ndarray:
        """Sum `values` (one per node) over each node's subtree."""
        out = np.array(values, dtype=np.float64, copy=True)
        for i in range(self.n_nodes - 1, 0, -1):
            out[self.parent[i]] += out[i]
        return out

    def member_counts(self) -> np.ndarray:
        return self.subtree_sum((self.leaf_skill >= 0).astype(np.float64)).astype(np.int64)

    def members(self, node: int) -> list[str]:
        """Skill names under a node, in tree order."""
        out, stack = [], [node]
        ch = self.children()
        while stack:
            a = stack.pop()
            if self.leaf_skill[a] >= 0:
                out.append(self.skills[self.leaf_skill[a]])
            stack.extend(reversed(ch[a]))
        return out

    def path_to_root(self, node: int) -> list[int]:
        path = [node]
        while self.parent[path[-1]] >= 0:
            path.append(int(self.parent[path[-1]]))
        return path

    def node_index(self, node_id: str) -> int:
        if "id_index" not in self._cache:
            self._cache["id_index"] = {s: i for i, s in enumerate(self.ids)}
        return self._cache["id_index"][node_id]

    def invalidate(self) -> None:
        self._cache.clear()

    # ---- labels -------------------------------------------------------
    def default_labels(self, skill_counts: np.ndarray, top: int = 3) -> list[str]:
        """Internal nodes: their `top` most frequent member skills joined by ' / '."""
        ch = self.children()
        best: list[list[tuple[int, str]]] = [[] for _ in range(self.n_nodes)]
        for i in range(self.n_nodes - 1, -1, -1):
            if self.leaf_skill[i] >= 0:
                s = self.leaf_skill[i]
                best[i] = [(-int(skill_counts[s]), self.skills[s])]
            else:
                merged = sorted(x for c in ch[i] for x in best[c])[:top]
                best[i] = merged
        return [
            self.skills[self.leaf_skill[i]] if self.leaf_skill[i] >= 0 else " / ".join(s for _, s in best[i])
            for i in range(self.n_nodes)
        ]

    # ---- JSON ---------------------------------------------------------
    def to_json(self, node_info: dict[str, np.ndarray] | None = None) -> dict:
        """Nested JSON. `node_info` maps extra field names to per-node arrays."""
        ch = self.children()
        info = node_info or {}

        def node(i: int) -> dict:
            if self.leaf_skill[i] >= 0:
                d = {"id": self.ids[i], "skill": self.skills[self.leaf_skill[i]]}
            else:
                d = {"id": self.ids[i], "label": self.labels[i]}
            for key, arr in info.items():
                v = arr[i]
                d[key] = v.item() if hasattr(v, "item") else v
            if self.leaf_skill[i] < 0:
                d["children"] = [node(c) for c in ch[i]]
            return d

        import sys

        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 10 * self.height + 1000))
        try:
            root = node(0)
        finally:
            sys.setrecursionlimit(limit)
        return {"format": FORMAT, **self.meta, "root": root}

    @classmethod
    def from_json(cls, data: dict, skills: list[str] | None = None) -> "EncodingTree":
        """Read nested JSON. `skills` fixes the skill index order (e.g. a graph's skills);
        skills found only in the tree are appended."""
        if not isinstance(data, dict):
            raise ValueError(f"taxonomy JSON must be an object, got {type(data).__name__}")
        if data.get("format", FORMAT) != FORMAT:
            raise ValueError(f"unknown taxonomy format {data.get('format')!r}, expected {FORMAT!r}")
        if "root" not in data:
            raise ValueError("taxonomy JSON has no 'root'")
        skills = list(skills or [])
        index = {s: i for i, s in enumerate(skills)}
        parent, leaf_skill, ids, labels = [], [], [], []
        stack = [(data["root"], -1)]
        while stack:
            nd, par = stack.pop()
            _check_node(nd, ids[par] if par >= 0 else None)
            i = len(parent)
            parent.append(par)
            ids.append(str(nd["id"]))
            if "skill" in nd:
                s = nd["skill"]
                if s not in index:
                    index[s] = len(skills)
                    skills.append(s)
                leaf_skill.append(index[s])
                labels.append(s)
            else:
                leaf_skill.append(-1)
                labels.append(str(nd.get("label", "")))
                for c in reversed(nd.get("children", [])):
                    stack.append((c, i))
        meta = {k: v for k, v in data.items() if k not in ("format", "root")}
        # DFS preorder with reversed pushes keeps children in file order; from_parents
        # then re-lays them breadth-first, preserving sibling order.
        return cls.from_parents(parent, leaf_skill, skills, ids, labels, meta)

    def check_skills(self, skills: list[str]) -> None:
        """Raise ValueError unless the leaves hold exactly `skills` (e.g. graph.csv's), apart
        from skills listed in meta["excluded"] (removed from the tree by a studio edit)."""
        leaves = {self.skills[s] for s in self.leaf_skill[self.leaf_skill >= 0]}
        known = set(skills)
        extra = sorted(leaves - known)
        if extra:
            raise ValueError(f"leaf skill {extra[0]!r} is not in the graph ({len(extra)} such skill(s))")
        missing = sorted(known - leaves - set(self.meta.get("excluded", [])))
        if missing:
            raise ValueError(f"skill {missing[0]!r} of the graph has no leaf in the tree ({len(missing)} such skill(s))")

    def save(self, path: str | Path, node_info: dict[str, np.ndarray] | None = None) -> None:
        write_json(path, self.to_json(node_info))

    @classmethod
    def load(cls, path: str | Path, skills: list[str] | None = None) -> "EncodingTree":
        with open(path, encoding="utf-8") as fh:
            return cls.from_json(json.load(fh), skills)


def _check_node(nd, parent_id: str | None) -> None:
    """One node of the nested JSON: an object with an id; a leaf holds one skill name and no children."""
    where = "root" if parent_id is None else f"a child of node {parent_id!r}"
    if not isinstance(nd, dict):
        raise ValueError(f"{where} is not an object (got {type(nd).__name__})")
    if "id" not in nd:
        raise ValueError(f"{where} has no 'id'")
    if "skill" in nd:
        if not isinstance(nd["skill"], str) or not nd["skill"]:
            raise ValueError(f"node {nd['id']!r}: 'skill' must be a non-empty string, got {nd['skill']!r}")
        if nd.get("children"):
            raise ValueError(f"node {nd['id']!r}: a skill leaf ({nd['skill']!r}) has children")
    elif not isinstance(nd.get("children", []), list):
        raise ValueError(f"node {nd['id']!r}: 'children' must be a list, got {type(nd['children']).__name__}")

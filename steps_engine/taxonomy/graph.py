"""The skill co-occurrence graph: counts -> weighted undirected graph.

A `SkillGraph` is plain arrays: skill names, per-skill row counts n_i, and one entry per
undirected edge (src < dst) with its co-occurrence count c_ij and weight w_ij.

Weightings (N = rows that carry at least one skill):
  steps  w = (c_ij + 2) / ((n_i + 1)(n_j + 1))          (the STEPS paper's)
  count  w = c_ij
  ppmi   w = max(0, log2(c_ij N / (n_i n_j)))
  npmi   w = max(0, pmi / -log2(c_ij / N))
Edges whose weight is 0 are dropped; skills left without edges stay as isolated nodes.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from steps_engine._atomic import atomic_open

__all__ = ["SkillGraph", "WEIGHTINGS", "build_graph", "read_graph", "write_graph"]

WEIGHTINGS = ("steps", "count", "ppmi", "npmi")


@dataclass
class SkillGraph:
    skills: list[str]
    counts: np.ndarray  # int64 [n]: rows containing each skill
    n_rows: int  # rows with at least one skill
    src: np.ndarray  # int64 [m], src < dst
    dst: np.ndarray  # int64 [m]
    weight: np.ndarray  # float64 [m] > 0
    cooc: np.ndarray | None = None  # int64 [m] co-occurrence counts, when known
    weighting: str = "steps"
    _index: dict[str, int] | None = field(default=None, repr=False, compare=False)

    @property
    def n_skills(self) -> int:
        return len(self.skills)

    @property
    def n_edges(self) -> int:
        return int(self.src.shape[0])

    def index(self, skill: str) -> int:
        if self._index is None:
            self._index = {s: i for i, s in enumerate(self.skills)}
        return self._index[skill]

    def degrees(self) -> np.ndarray:
        """Weighted degree d_v (no self-loops)."""
        d = np.bincount(self.src, weights=self.weight, minlength=self.n_skills)
        d += np.bincount(self.dst, weights=self.weight, minlength=self.n_skills)
        return d

    def volume(self) -> float:
        return float(2.0 * self.weight.sum())

    def adjacency(self):
        """Symmetric scipy.sparse CSR matrix of weights."""
        import scipy.sparse as sp

        n = self.n_skills
        rows = np.concatenate([self.src, self.dst])
        cols = np.concatenate([self.dst, self.src])
        vals = np.concatenate([self.weight, self.weight])
        return sp.csr_matrix((vals, (rows, cols)), shape=(n, n))

    def to_networkx(self):
        import networkx as nx

        g = nx.Graph()
        g.add_nodes_from(self.skills)
        g.add_weighted_edges_from(
            (self.skills[a], self.skills[b], float(w)) for a, b, w in zip(self.src, self.dst, self.weight)
        )
        return g


def edge_weights(
    weighting: str, cooc: np.ndarray, n_i: np.ndarray, n_j: np.ndarray, n_rows: int
) -> np.ndarray:
    """Weight of each edge from its co-occurrence count and the two skill counts."""
    c = cooc.astype(np.float64)
    ni = n_i.astype(np.float64)
    nj = n_j.astype(np.float64)
    if weighting == "steps":
        return (c + 2.0) / ((ni + 1.0) * (nj + 1.0))
    if weighting == "count":
        return c
    if weighting in ("ppmi", "npmi"):
        n = float(max(n_rows, 1))
        pmi = np.log2(c * n / (ni * nj))
        if weighting == "ppmi":
            return np.maximum(pmi, 0.0)
        p_ij = c / n
        with np.errstate(divide="ignore", invalid="ignore"):
            npmi = np.where(p_ij < 1.0, pmi / -np.log2(p_ij), 1.0)
        return np.maximum(npmi, 0.0)
    raise ValueError(f"weighting must be one of {', '.join(WEIGHTINGS)}, got {weighting!r}")


def build_graph(
    skills: list[str],
    counts: np.ndarray,
    n_rows: int,
    pair_src: np.ndarray,
    pair_dst: np.ndarray,
    pair_count: np.ndarray,
    weighting: str = "steps",
    min_count: int = 1,
) -> tuple[SkillGraph, dict]:
    """Build a weighted graph from skill counts and pair counts.

    Skills with count < min_count are dropped, and so are pairs with c_ij < min_count.
    Returns the graph (skills sorted by name, for determinism) and a pruning report.
    """
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {', '.join(WEIGHTINGS)}, got {weighting!r}")
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    counts = np.asarray(counts, dtype=np.int64)
    keep = counts >= min_count
    order = sorted((s, i) for i, s in enumerate(skills) if keep[i])
    new_index = np.full(len(skills), -1, dtype=np.int64)
    for new, (_, old) in enumerate(order):
        new_index[old] = new
    kept_skills = [s for s, _ in order]
    kept_counts = counts[[old for _, old in order]] if order else np.zeros(0, np.int64)

    a = new_index[np.asarray(pair_src, dtype=np.int64)]
    b = new_index[np.asarray(pair_dst, dtype=np.int64)]
    c = np.asarray(pair_count, dtype=np.int64)
    ok = (a >= 0) & (b >= 0) & (c >= min_count) & (a != b)
    a, b, c = a[ok], b[ok], c[ok]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    order_e = np.lexsort((hi, lo))
    lo, hi, c = lo[order_e], hi[order_e], c[order_e]
    w = edge_weights(weighting, c, kept_counts[lo], kept_counts[hi], n_rows)
    nz = w > 0
    graph = SkillGraph(
        skills=kept_skills,
        counts=kept_counts,
        n_rows=int(n_rows),
        src=lo[nz],
        dst=hi[nz],
        weight=w[nz].astype(np.float64),
        cooc=c[nz],
        weighting=weighting,
    )
    report = {
        "skills_dropped_min_count": int((~keep).sum()),
        "pairs_dropped_min_count": int((np.asarray(pair_count) < min_count).sum()),
        "edges_zero_weight": int((~nz).sum()),
        "isolated_skills": int((graph.degrees() == 0).sum()) if graph.n_skills else 0,
    }
    return graph, report


def write_graph(graph: SkillGraph, directory: str | Path) -> None:
    """Write `graph.csv` (source,target,weight[,count]) and `skills.csv` (skill,count)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)

    def write_edges(fh):
        w = csv.writer(fh, lineterminator="\n")
        has_count = graph.cooc is not None
        w.writerow(["source", "target", "weight"] + (["count"] if has_count else []))
        names = graph.skills
        for k in range(graph.n_edges):
            row = [names[graph.src[k]], names[graph.dst[k]], repr(float(graph.weight[k]))]
            if has_count:
                row.append(int(graph.cooc[k]))
            w.writerow(row)

    def write_skills(fh):
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["skill", "count"])
        for s, c in zip(graph.skills, graph.counts):
            w.writerow([s, int(c)])

    with atomic_open(directory / "graph.csv", newline="") as fh:
        write_edges(fh)
    with atomic_open(directory / "skills.csv", newline="") as fh:
        write_skills(fh)


def read_graph(directory: str | Path) -> SkillGraph:
    """Read `graph.csv` (+ `skills.csv` when present, for isolated skills and counts)."""
    import pandas as pd

    directory = Path(directory)
    edges = pd.read_csv(directory / "graph.csv", dtype={"source": str, "target": str}, keep_default_na=False)
    skills_path = directory / "skills.csv"
    if skills_path.exists():
        sk = pd.read_csv(skills_path, dtype={"skill": str}, keep_default_na=False)
        skills = list(sk["skill"])
        counts = sk["count"].to_numpy(np.int64)
    else:
        skills = sorted(set(edges["source"]) | set(edges["target"]))
        counts = np.zeros(len(skills), np.int64)
    index = {s: i for i, s in enumerate(skills)}
    extra = sorted((set(edges["source"]) | set(edges["target"])) - index.keys())
    for s in extra:
        index[s] = len(skills)
        skills.append(s)
    if extra:
        counts = np.concatenate([counts, np.zeros(len(extra), np.int64)])
    a = edges["source"].map(index).to_numpy(np.int64)
    b = edges["target"].map(index).to_numpy(np.int64)
    cooc = edges["count"].to_numpy(np.int64) if "count" in edges.columns else None
    return SkillGraph(
        skills=skills,
        counts=counts,
        n_rows=0,
        src=np.minimum(a, b),
        dst=np.maximum(a, b),
        weight=edges["weight"].to_numpy(np.float64),
        cooc=cooc,
    )

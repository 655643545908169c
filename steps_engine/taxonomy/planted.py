"""The weighted skill graph of the planted generator (`steps_engine.data.synthetic`)."""

from __future__ import annotations

from steps_engine.data.synthetic import planted_counts
from steps_engine.taxonomy.graph import SkillGraph, build_graph

__all__ = ["planted_graph"]


def planted_graph(n_skills: int, n_rows: int, weighting: str = "steps", seed: int = 0, **kw) -> SkillGraph:
    """Count skills and pairs of `planted_skill_rows` and build the weighted graph."""
    names, counts, rows, src, dst, cnt = planted_counts(n_skills, n_rows, seed=seed, **kw)
    graph, _ = build_graph(names, counts, rows, src, dst, cnt, weighting)
    return graph

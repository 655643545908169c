"""Effect of `blend_semantic_edges` (the `--semantic-weight` mix) on entropy and clusters.

For each dataset and semantic weight a: build the co-occurrence graph, blend in kNN
(k = 10) semantic edges, build the height-4 encoding tree on the blended graph, and report
  H_blend   structural entropy of the blended graph under its tree
  H_cooc    structural entropy of the ORIGINAL co-occurrence graph under that tree
            (how much co-occurrence structure the semantic tree gives up)
  H1_cooc   one-dimensional entropy of the co-occurrence graph (upper reference)
  clusters  number of top-level clusters
  sem_in    mean cosine similarity of skill pairs inside the same top-level cluster
  sem_all   mean cosine similarity of all skill pairs (baseline for sem_in)
  sem_leaf  the same inside bottom clusters (skills sharing a parent node)
  nn_same   share of skills whose most similar skill (by meaning) sits in the same bottom cluster
  isolated  skills with no edge at all
Prints a markdown table.

    .venv/bin/python benchmarks/bench_semantic_edges.py
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import numpy as np

from steps_engine.selection.coherence import similarity_matrix
from steps_engine.semantic.vocabulary import skill_texts
from steps_engine.semantic.embeddings import get_embedder
from steps_engine.taxonomy.entropy import node_terms, one_dim_entropy
from steps_engine.data.ingest import FieldMapping
from steps_engine.taxonomy.build import ingest_graph
from steps_engine.taxonomy.partition import build_tree
from steps_engine.taxonomy.semantic_edges import blend_semantic_edges

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
DATASETS = [
    ("demo (587 rows)", ROOT / "assets" / "demo" / "demo.jsonl", FieldMapping("skills")),
    ("Instruct-SkillMix k=2 (1,000 rows, random pairs)", SHARED / "instruct_skillmix" / "ism_sda_k2_1000.json",
     FieldMapping("skills_joined_str", skills_sep=", ")),
]
WEIGHTS = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0)


def top_clusters(tree) -> np.ndarray:
    """Top-level cluster index (child of the root) of every tree skill."""
    out = np.full(len(tree.skills), -1)
    for c, node in enumerate(tree.children()[0]):
        for s in tree.members(node):
            out[tree.skills.index(s)] = c
    return out


def bottom_clusters(tree) -> np.ndarray:
    """Parent node of every tree skill's leaf."""
    return tree.parent[tree.leaf_of_skill()]


def main() -> None:
    emb = get_embedder()
    rows = []
    for name, path, mapping in DATASETS:
        if not path.exists():
            print(f"skip {name}: {path} missing")
            continue
        graph, _, _ = ingest_graph(path, mapping, weighting="steps")
        vecs = emb.encode(skill_texts(graph.skills))
        sim = similarity_matrix(vecs)
        iu = np.triu_indices(graph.n_skills, 1)
        for a in WEIGHTS:
            t0 = time.perf_counter()
            g = blend_semantic_edges(graph, vecs, k=10, semantic_weight=a)
            tree = build_tree(g, height=4)
            dt = time.perf_counter() - t0
            order = [tree.skills.index(s) for s in graph.skills]
            cl = top_clusters(tree)[order]
            same = (cl[iu[0]] == cl[iu[1]]) & (cl[iu[0]] >= 0)
            bc = bottom_clusters(tree)[order]
            same_b = bc[iu[0]] == bc[iu[1]]
            s2 = sim.copy()
            np.fill_diagonal(s2, -np.inf)
            nn_same = float(np.mean(bc[s2.argmax(1)] == bc))
            rows.append((name, a, node_terms(g, tree).entropy, node_terms(graph, tree).entropy,
                         one_dim_entropy(graph), len(tree.children()[0]), float(sim[iu][same].mean()),
                         float(sim[iu].mean()), float(sim[iu][same_b].mean()), nn_same,
                         int((g.degrees() == 0).sum()), g.n_edges, dt))
            print(rows[-1], flush=True)
    print()
    print(f"Semantic edge blend (k = 10, all-MiniLM-L6-v2, 'steps' weighting, height 4); "
          f"{platform.machine()} CPU x{os.cpu_count()}, {time.strftime('%Y-%m-%d')}")
    print()
    print("| data | semantic weight | edges | H_blend | H_cooc (original graph, new tree) | H1_cooc "
          "| top clusters | sem_in | sem_all | sem_leaf | nn_same | isolated | time (s) |")
    print("|---" * 13 + "|")
    for name, a, hb, hc, h1, nc, si, sa, sl, nn, iso, m, dt in rows:
        print(f"| {name} | {a} | {m} | {hb:.3f} | {hc:.3f} | {h1:.3f} | {nc} | {si:.3f} | {sa:.3f} "
              f"| {sl:.3f} | {nn:.2f} | {iso} | {dt:.1f} |")


if __name__ == "__main__":
    main()

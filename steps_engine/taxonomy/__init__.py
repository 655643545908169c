"""Stage 3, taxonomy: skill counts in, a hierarchical skill taxonomy out.

Takes co-occurrence counts (or records, through `data`); gives the weighted skill graph
(`graph`, optional semantic edges in `semantic_edges`), the encoding tree (`tree`), built by
minimising structural entropy (`multilevel`, the default: Leiden-style moves and an exact
height DP; `partition` + `refine`, the greedy merge builder; the formula itself is in
`entropy`), cluster names (`naming`) and taxonomy folders (`build`: build, save, load).
"""

from steps_engine.taxonomy.build import BUILDERS, Taxonomy, build_taxonomy, ingest_graph, load_taxonomy, save_taxonomy, taxonomy_from_graph
from steps_engine.taxonomy.entropy import NodeTerms, node_terms, one_dim_entropy, structural_entropy
from steps_engine.taxonomy.graph import WEIGHTINGS, SkillGraph, build_graph, read_graph, write_graph
from steps_engine.taxonomy.multilevel import build_tree_multilevel
from steps_engine.taxonomy.partition import build_tree, split_node
from steps_engine.taxonomy.planted import planted_graph
from steps_engine.taxonomy.tree import EncodingTree

__all__ = [
    "BUILDERS",
    "WEIGHTINGS",
    "EncodingTree",
    "NodeTerms",
    "SkillGraph",
    "Taxonomy",
    "build_graph",
    "build_taxonomy",
    "build_tree",
    "build_tree_multilevel",
    "ingest_graph",
    "load_taxonomy",
    "node_terms",
    "one_dim_entropy",
    "planted_graph",
    "read_graph",
    "save_taxonomy",
    "split_node",
    "structural_entropy",
    "taxonomy_from_graph",
    "write_graph",
]

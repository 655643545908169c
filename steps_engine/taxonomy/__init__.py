"""Stage 3, taxonomy: skill counts in, a hierarchical skill taxonomy out.

Takes co-occurrence counts (or records, through `data`); gives the weighted skill graph
(`graph`, optional semantic edges in `semantic_edges`), the encoding tree (`tree`), built by
minimising structural entropy (`multilevel`, the default: Leiden-style moves and an exact
height DP; `partition` + `refine`, the greedy merge builder; the formula itself is in
`entropy`), cluster names (`naming`: provenance and staleness; `keyword_names`: c-TF-IDF;
`llm_names`: an LLM namer) and taxonomy folders (`build`: build, save, load).
"""

from steps_engine.taxonomy.build import BUILDERS, Taxonomy, build_taxonomy, ingest_graph, load_taxonomy, save_taxonomy, taxonomy_from_graph
from steps_engine.taxonomy.entropy import NodeTerms, node_terms, one_dim_entropy, structural_entropy
from steps_engine.taxonomy.graph import WEIGHTINGS, SkillGraph, build_graph, read_graph, write_graph
from steps_engine.taxonomy.keyword_names import NameCorpus, keyword_names
from steps_engine.taxonomy.multilevel import build_tree_multilevel
from steps_engine.taxonomy.naming import name_by_keywords, refresh_names
from steps_engine.taxonomy.partition import build_tree, split_node
from steps_engine.taxonomy.planted import planted_graph
from steps_engine.taxonomy.tree import EncodingTree

__all__ = [
    "BUILDERS",
    "WEIGHTINGS",
    "EncodingTree",
    "NameCorpus",
    "NodeTerms",
    "SkillGraph",
    "Taxonomy",
    "build_graph",
    "build_taxonomy",
    "build_tree",
    "build_tree_multilevel",
    "ingest_graph",
    "keyword_names",
    "load_taxonomy",
    "name_by_keywords",
    "node_terms",
    "one_dim_entropy",
    "planted_graph",
    "read_graph",
    "refresh_names",
    "save_taxonomy",
    "split_node",
    "structural_entropy",
    "taxonomy_from_graph",
    "write_graph",
]

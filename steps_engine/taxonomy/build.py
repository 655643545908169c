"""Input file -> skill graph -> encoding tree -> taxonomy folder. Used by the CLI and the studio.

A taxonomy folder holds:
  graph.csv      source,target,weight,count   (one row per undirected edge)
  skills.csv     skill,count
  taxonomy.json  the encoding tree ("steps-taxonomy/1") with entropies in its header
  input.json     where the records came from and how fields were mapped
  ingest_report.json  rows read / skipped (with line numbers and reasons)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from steps_engine._atomic import read_json_object, write_json
from steps_engine.data.ingest import FieldMapping, count_skills
from steps_engine.taxonomy.entropy import NodeTerms, node_terms, one_dim_entropy
from steps_engine.taxonomy.graph import WEIGHTINGS, SkillGraph, build_graph, read_graph, write_graph
from steps_engine.taxonomy.multilevel import build_tree_multilevel
from steps_engine.taxonomy.partition import build_tree
from steps_engine.taxonomy.tree import EncodingTree

ENGINES = ("local", "ray")  # where records are read and counted

__all__ = ["BUILDERS", "ENGINES", "Taxonomy", "ingest_graph", "build_taxonomy", "taxonomy_from_graph", "save_taxonomy", "load_taxonomy"]

# tree builders by name; the first is the default (docs/taxonomy_benchmark.md compares them)
BUILDERS = {"multilevel": build_tree_multilevel, "greedy": build_tree}


@dataclass
class Taxonomy:
    graph: SkillGraph
    tree: EncodingTree
    terms: NodeTerms
    one_dim_entropy: float
    ingest_report: dict | None = None
    input_spec: dict | None = None
    extra: dict = field(default_factory=dict)

    @property
    def structural_entropy(self) -> float:
        return self.terms.entropy

    def header(self) -> dict:
        return {
            "height": int(self.tree.meta.get("height", self.tree.height)),
            "weighting": self.graph.weighting,
            "structural_entropy": self.structural_entropy,
            "one_dim_entropy": self.one_dim_entropy,
        }

    def node_info(self) -> dict:
        return {
            "members": self.tree.member_counts(),
            "volume": self.terms.volume,
            "cut": self.terms.cut,
            "term": self.terms.term,
        }


def ingest_graph(
    path,
    mapping: FieldMapping,
    weighting: str = "steps",
    min_count: int = 1,
    progress: Callable[[int, int], None] | None = None,
    engine: str = "local",
    ray_options: dict | None = None,
):
    """count_skills (engine "local") or ray_counting.count_skills_ray (engine "ray", with
    `ray_options` such as address and block_bytes), then graph.build_graph.
    Returns (SkillGraph, IngestReport, pruning report)."""
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {', '.join(WEIGHTINGS)}, got {weighting!r}")
    if not isinstance(min_count, (int, np.integer)) or min_count < 1:
        raise ValueError(f"min_count must be an integer >= 1, got {min_count!r}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    t0 = time.perf_counter()
    if engine == "ray":
        from steps_engine.data.ray_counting import count_skills_ray

        counts, report = count_skills_ray(path, mapping, progress, **(ray_options or {}))
    else:
        counts, report = count_skills(path, mapping, progress)
    graph, pruning = build_graph(
        counts.skills,
        counts.counts,
        counts.n_rows,
        counts.pair_src,
        counts.pair_dst,
        counts.pair_count,
        weighting=weighting,
        min_count=int(min_count),
    )
    report.seconds = time.perf_counter() - t0
    return graph, report, pruning


def taxonomy_from_graph(
    graph: SkillGraph, height: int = 4, progress=None, names: bool = True, builder: str = "multilevel"
) -> Taxonomy:
    """The tree of `graph` by `builder` (a name in BUILDERS); with `names`, clusters are named
    by keywords of their skill names."""
    if builder not in BUILDERS:
        raise ValueError(f"builder must be one of {', '.join(BUILDERS)}, got {builder!r}")
    tree = BUILDERS[builder](graph, height=height, progress=progress)
    tree.meta = {"height": int(height), "weighting": graph.weighting, "builder": builder}
    if names:
        from steps_engine.taxonomy.keyword_names import NameCorpus
        from steps_engine.taxonomy.naming import name_by_keywords

        tree = name_by_keywords(tree, graph, NameCorpus.from_skill_names(graph.skills))
    return Taxonomy(graph=graph, tree=tree, terms=node_terms(graph, tree), one_dim_entropy=one_dim_entropy(graph))


def build_taxonomy(
    input_path: str | Path,
    mapping,
    weighting: str = "steps",
    min_count: int = 1,
    height: int = 4,
    semantic_weight: float = 0.0,
    embedder=None,
    progress=None,
    name_rows: int = 50_000,
    engine: str = "local",
    ray_options: dict | None = None,
    builder: str = "multilevel",
) -> Taxonomy:
    """Ingest `input_path` (any input `ingest` reads: file, URL, folder, glob, in-memory table)
    with a `FieldMapping`, build the graph and the tree (`builder`: a name in BUILDERS); clusters
    are named by keywords over the texts of the first `name_rows` rows (0: keep the member-skill
    labels).

    `progress(stage, done, total)` is called with stage "ingest" (bytes) and "tree" (layers).
    `engine="ray"` reads and counts on Ray (`ingest_graph`); the input may then be a folder of shards.
    Raises ValueError when no row carries usable skills.
    """
    from steps_engine.data.ingest import describe_source

    if not isinstance(height, int) or height < 1:
        raise ValueError(f"height must be an integer >= 1, got {height!r}")
    if builder not in BUILDERS:
        raise ValueError(f"builder must be one of {', '.join(BUILDERS)}, got {builder!r}")
    ingest_cb = None if progress is None else (lambda done, total: progress("ingest", done, total))
    graph, report, prune = ingest_graph(input_path, mapping, weighting=weighting, min_count=min_count, progress=ingest_cb,
                                        engine=engine, ray_options=ray_options)
    if graph.n_skills == 0 and report.rows_used and prune.get("skills_dropped_min_count"):
        raise ValueError(f"{input_path}: min_count {min_count} drops every skill: none of the "
                         f"{prune['skills_dropped_min_count']} skills of the {report.rows_used} usable rows "
                         f"occurs {min_count} times; lower it")
    if graph.n_skills == 0:
        first = report.skipped[0] if report.skipped else None
        raise ValueError(
            f"{input_path}: no usable rows with skills in field {mapping.skills_field!r} "
            f"({report.rows_read} rows read, {report.rows_skipped} skipped"
            + (f"; first: {first.unit} {first.line}: {first.reason})" if first else ")")
        )
    if semantic_weight > 0:
        from steps_engine.taxonomy.semantic_edges import blend_semantic_edges

        graph = blend_semantic_edges(graph, embedder=embedder, semantic_weight=semantic_weight)
    tree_cb = None if progress is None else (lambda step, total, msg: progress("tree", step, total))
    tax = taxonomy_from_graph(graph, height=height, progress=tree_cb, names=not name_rows, builder=builder)
    rep = report.to_json()
    rep["pruning"] = prune
    rep["warnings"] = graph_warnings(graph, mapping)
    tax.ingest_report = rep
    source = describe_source(input_path, mapping.format)  # path, format, shards with sha256
    tax.input_spec = {
        "path": source["path"],
        "format": mapping.format or source["format"],
        "skills_field": mapping.skills_field,
        "skills_sep": mapping.skills_sep,
        "text_field": mapping.text_field,
        "casefold": bool(mapping.casefold),
        "sha256": source["sha256"],
        "shards": source["shards"],
        **({"in_memory": source["in_memory"]} if "in_memory" in source else {}),
    }
    tax.extra = {"min_count": min_count, "semantic_weight": semantic_weight}
    if name_rows:
        from steps_engine.taxonomy.keyword_names import corpus_from_file
        from steps_engine.taxonomy.naming import name_by_keywords

        if report.shards:
            corpus = _shards_corpus([s["path"] for s in report.shards], mapping, graph.skills, name_rows)
        else:
            corpus = corpus_from_file(input_path, mapping, graph.skills, max_rows=name_rows)
        tax.tree = name_by_keywords(tax.tree, graph, corpus)
    return tax


def _shards_corpus(paths, mapping, skills, max_rows: int):
    """The naming corpus of a folder of shards: its first `max_rows` usable rows in shard order,
    as `corpus_from_file` takes them from one file holding the same rows."""
    from steps_engine.data.rows import read_rows
    from steps_engine.taxonomy.keyword_names import NameCorpus

    texts, tags = [], []
    for path in paths:
        if len(texts) >= max_rows:
            break
        try:
            rows = read_rows(path, mapping, max_rows=max_rows - len(texts), text_chars=4000)
        except (OSError, ValueError):
            continue
        texts += rows.texts
        tags += rows.skills
    if not any(t.strip() for t in texts):
        return NameCorpus.from_skill_names(skills)
    return NameCorpus.from_rows(tags, texts, skills)


def _detect_format(path) -> str:
    from steps_engine.data.ingest import detect_format

    return detect_format(path)


def save_taxonomy(tax: Taxonomy, out_dir: str | Path) -> Path:
    """Write the taxonomy folder (every file atomically)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file, expected a folder")
    out.mkdir(parents=True, exist_ok=True)
    # taxonomy.json last, naming graph.csv's size: a run killed between the files leaves a folder
    # that load_taxonomy refuses, never the old tree over the new graph or input
    write_graph(tax.graph, out)
    if tax.input_spec is not None:
        write_json(out / "input.json", tax.input_spec, indent=1)
    if tax.ingest_report is not None:
        write_json(out / "ingest_report.json", tax.ingest_report, indent=1)
    tax.tree.meta = {**tax.tree.meta, **tax.header(), **({"settings": tax.extra} if tax.extra else {}),
                     "graph_bytes": (out / "graph.csv").stat().st_size}
    tax.tree.save(out / "taxonomy.json", tax.node_info())
    return out


def graph_warnings(graph: SkillGraph, mapping) -> list[str]:
    """What makes a built taxonomy useless although nothing failed: no two skills ever share a row."""
    if graph.n_edges or graph.n_skills < 2:
        return []
    text = (f"no two skills share a row (0 edges among {graph.n_skills} skills): the tree is flat and every "
            "combination gains 0 bits")
    joined = [s for s in graph.skills if any(sep in s for sep in ",;|")]
    if not mapping.skills_sep and 2 * len(joined) >= graph.n_skills:
        text += (f"; {len(joined)} skill names contain ',' ';' or '|' (e.g. {joined[0]!r}): if the field is "
                 "one delimited string, give its separator (--skills-sep ', ')")
    return [text]


def _read(path: Path, reader):
    """`reader(path)`, its parse errors (a torn or hand-broken file) as ValueError naming `path`."""
    try:
        return reader(path)
    except UnicodeDecodeError as exc:
        raise ValueError(f"cannot read {path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except KeyError as exc:
        raise ValueError(f"cannot read {path}: no {exc.args[0]!r} field or column") from None
    except (ValueError, TypeError, IndexError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None


def check_graph_file(directory: str | Path, tree: EncodingTree) -> None:
    """ValueError when DIR/graph.csv is not the size taxonomy.json recorded (`graph_bytes`, written
    last by save_taxonomy): a run killed between the files, or a hand edit."""
    path = Path(directory) / "graph.csv"
    size, want = path.stat().st_size, tree.meta.get("graph_bytes")
    if isinstance(want, int) and size != want:
        raise ValueError(f"{path} is not the graph {Path(directory) / 'taxonomy.json'} was built on ({size} bytes, "
                         f"it names {want}): an interrupted `steps taxonomy`, or an edit; build the folder again")


def load_taxonomy(directory: str | Path) -> Taxonomy:
    """Read a taxonomy folder back (graph, tree, recomputed terms)."""
    directory = Path(directory)
    for name in ("taxonomy.json", "graph.csv"):
        if not (directory / name).exists():
            raise FileNotFoundError(f"{directory / name} not found (is {directory} a taxonomy folder?)")
    graph = _read(directory / "graph.csv", lambda _: read_graph(directory))
    tree = _read(directory / "taxonomy.json", lambda path: EncodingTree.load(path, skills=graph.skills))
    check_graph_file(directory, tree)
    tree.check_skills(graph.skills)
    graph.weighting = tree.meta.get("weighting", graph.weighting)
    input_spec = None
    if (directory / "input.json").exists():
        input_spec = read_json_object(directory / "input.json", f"cannot read {directory / 'input.json'}", "a JSON object")
    report = None
    if (directory / "ingest_report.json").exists():
        report = read_json_object(directory / "ingest_report.json", f"cannot read {directory / 'ingest_report.json'}", "a JSON object")
    return Taxonomy(
        graph=graph,
        tree=tree,
        terms=node_terms(graph, tree),
        one_dim_entropy=one_dim_entropy(graph),
        ingest_report=report,
        input_spec=input_spec,
    )

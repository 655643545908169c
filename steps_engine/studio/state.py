"""Thin, UI-free helpers the studio pages call (so pages only read state, call, show).

    demo_path(), demo_mapping()         the bundled demo and its field mapping
    build_into_workspace(ws, ...)       input file, folder of shards or glob -> taxonomy folder inside the workspace
    ensure_taxonomy(ws, progress)       a workspace with nothing loaded gets $STEPS_TAXONOMY or the demo
    open_taxonomy(ws, folder)           an existing taxonomy folder becomes the workspace's source
    store_upload(ws, name, data)        an uploaded file, kept inside the workspace under its content hash
    exposure_warning(address)           a warning when the studio listens beyond this machine
    entropy_readout(graph, tree)        H^T, H^1 and their ratio
    never_seen_share(graph)             share of skill pairs never seen together
    cluster_table(tree, graph, terms)   one row per cluster (id, label, depth, skills, term)
    members_table(tree, graph, node)    member skills of one node with their counts
    skill_frame(graph, tree)            skills in the tree with count and top-level cluster label
    graph_layout(graph)                 2-D layout of the co-occurrence graph (the map without embeddings)
    skill_points(frame, positions)      skill_frame joined with 2-D positions
    run_selection(ws, ...)              steps + random baseline combinations, saved in the workspace
    combos_frame(records)               the combinations table
    skill_usage(ws, records) / explain_record(ws, record)   usage histogram data; why a combination
    suggest_names(tree, graph)          cluster names from the members' meaning (naming.name_nodes)
    start_meaning_map(ws) / meaning_map_state(job) / meaning_map_progress(job)
                                        the UMAP skill map, built in a niced subprocess
    read_results_by_id(ws)              synthesis results of the workspace, by id
    generate(ws, combos, job_ids, ...)  the Generate button: failed / rejected ones again, then new ones
    write_reviewed(ws)                  results minus the samples the curator rejected
    export_path(ws, fmt, name)          the Export page's file, always inside WS/exports
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from steps_engine.demo import DEMO_PATH, demo_mapping
from steps_engine.taxonomy.entropy import node_terms, one_dim_entropy
from steps_engine.taxonomy.graph import SkillGraph
from steps_engine.studio.layout import component_layout
from steps_engine.studio.plotting.taxonomy import skill_counts, top_cluster
from steps_engine.taxonomy.tree import EncodingTree
from steps_engine._atomic import atomic_write
from steps_engine.curation.workspace import Workspace

__all__ = [
    "demo_path",
    "demo_mapping",
    "build_into_workspace",
    "ensure_taxonomy",
    "open_taxonomy",
    "store_upload",
    "exposure_warning",
    "entropy_readout",
    "never_seen_share",
    "cluster_table",
    "members_table",
    "skill_frame",
    "cluster_colours",
    "common_cluster",
    "graph_layout",
    "skill_points",
    "run_selection",
    "load_selection",
    "combos_frame",
    "skill_usage",
    "explain_record",
    "suggest_names",
    "keyword_name_table",
    "llm_names",
    "meaning_map_path",
    "start_meaning_map",
    "meaning_map_state",
    "meaning_map_progress",
    "build_meaning_map",
    "read_results_by_id",
    "write_reviewed",
    "export_path",
    "generate",
]


def demo_path() -> Path:
    return DEMO_PATH


def build_into_workspace(
    ws: Workspace,
    input_path: str | Path,
    mapping,
    weighting: str = "steps",
    min_count: int = 1,
    height: int = 4,
    progress=None,
):
    """Build the taxonomy of `input_path` into `ws.taxonomy_dir`; the edit history restarts.
    `progress(stage, done, total)` as in `pipeline.build_taxonomy`. Returns the Taxonomy."""
    from steps_engine.taxonomy.build import build_taxonomy, save_taxonomy

    path = Path(input_path)
    if not (path.is_file() or path.is_dir() or set("*?[") & set(str(input_path))):
        raise ValueError(f"input_path: {path} is not a file, a folder of data files or a pattern")
    tax = build_taxonomy(path, mapping, weighting=weighting, min_count=min_count, height=height, progress=progress)
    stage = ws.staging_dir()  # written aside, switched in with one rename
    try:
        save_taxonomy(tax, stage)
        ws.set_taxonomy(stage)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    ws.set_source("demo" if path.resolve() == demo_path().resolve() else "file", path)
    return tax


def ensure_taxonomy(ws: Workspace, progress=None) -> bool:
    """Fill an empty workspace: the taxonomy folder named by $STEPS_TAXONOMY (e.g. the output
    of `steps taxonomy` or `steps demo`), else the bundled demo. True when it loaded something."""
    import os

    if ws.has_taxonomy:
        return False
    folder = os.environ.get("STEPS_TAXONOMY")
    if folder:
        open_taxonomy(ws, folder)
        return True  # open_taxonomy records the folder as the source
    if not demo_path().is_file():
        raise ValueError(f"the bundled demo {demo_path()} is missing; load your own data on the Data page")
    build_into_workspace(ws, demo_path(), demo_mapping(), height=3, progress=progress)
    return True


def open_taxonomy(ws: Workspace, folder: str | Path) -> None:
    """Use an existing taxonomy folder (taxonomy.json + graph.csv, as `steps taxonomy`
    writes) as the workspace's source; the edit history starts over."""
    folder = Path(folder).expanduser()
    if not (folder / "taxonomy.json").is_file() or not (folder / "graph.csv").is_file():
        raise ValueError(f"{folder} is not a taxonomy folder (needs taxonomy.json and graph.csv from `steps taxonomy`)")
    ws.set_taxonomy(folder)
    ws.set_source("folder", folder)


def safe_base_name(name: str, default: str = "upload") -> str:
    """The last component of a client-supplied file name, reduced to [A-Za-z0-9._-] with no
    leading dot (`../../x.jsonl` -> `x.jsonl`, `C:\\a\\b.csv` -> `b.csv`)."""
    base = str(name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).lstrip(".")[-120:]
    return base if base.strip("._-") else default


_UPLOAD_FOLDER = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")


def store_upload(ws: Workspace, name: str, data: bytes, folder: str | None = None) -> Path:
    """Keep an uploaded file at `WS/uploads/<sha256 of the content, 16 hex>-<base name>`
    (in `WS/uploads/<folder>/` when the engine names a folder: letters, digits, dashes).

    Only the base name of what the browser sent is used, so no upload is written outside the
    workspace; the content hash in the name means a re-upload with the same name and size but
    other content gets its own file (and the same content is written once)."""
    if folder is not None and not _UPLOAD_FOLDER.fullmatch(folder):
        raise ValueError(f"upload folder {folder!r}: letters, digits and dashes only")
    digest = hashlib.sha256(data).hexdigest()[:16]
    uploads = ws.path("uploads") if folder is None else ws.path("uploads", folder)
    path = uploads / f"{digest}-{safe_base_name(name)}"
    if path.resolve().parent != uploads.resolve():  # cannot happen after safe_base_name; kept as a guard
        raise ValueError(f"upload name {name!r} does not stay inside {uploads}")
    if not path.is_file() or path.stat().st_size != len(data):
        atomic_write(path, data)
    return path


_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def exposure_warning(address: str | None) -> str | None:
    """A warning when the studio listens on more than this machine (`server.address` unset,
    0.0.0.0, :: or a network address): anyone who reaches the port can use the session's API
    key and write into the workspace."""
    addr = (address or "").strip().strip("[]")
    if addr in _LOOPBACK or addr.startswith("127."):
        return None
    where = "every network interface" if addr in ("", "0.0.0.0", "::") else f"{addr}"
    return (f"This studio listens on {where}, not only on this machine: anyone who can reach the port "
            "can use the API key entered here and write files into the workspace. Bind it to 127.0.0.1 "
            "(the default in .streamlit/config.toml) unless the network is trusted.")


def entropy_readout(graph: SkillGraph, tree: EncodingTree, terms=None) -> dict:
    h = float((terms if terms is not None else node_terms(graph, tree).term).sum())
    h1 = one_dim_entropy(graph)
    return {"structural": h, "one_dim": h1, "ratio": h / h1 if h1 > 0 else float("nan")}


def never_seen_share(graph: SkillGraph) -> float:
    """Share of distinct skill pairs that never occur in the same row."""
    n = graph.n_skills
    pairs = n * (n - 1) / 2
    if pairs == 0:
        return 0.0
    seen = graph.n_edges if graph.cooc is None else int((np.asarray(graph.cooc) > 0).sum())
    return 1.0 - seen / pairs


def cluster_table(tree: EncodingTree, graph: SkillGraph | None, terms: np.ndarray | None = None) -> pd.DataFrame:
    """Internal nodes (root first, breadth-first) with label, depth, member count, frequency,
    term and `named by` (keywords / llm / meaning / hand / stale, see `taxonomy.naming`)."""
    from steps_engine.taxonomy.naming import name_status

    internal = np.flatnonzero(tree.leaf_skill < 0)
    counts = skill_counts(tree, graph)
    leaf_count = np.zeros(tree.n_nodes)
    leaves = tree.leaves()
    leaf_count[leaves] = counts[tree.leaf_skill[leaves]]
    freq = tree.subtree_sum(leaf_count)
    members = tree.member_counts()
    depth = tree.depth()
    term = np.zeros(tree.n_nodes) if terms is None else np.asarray(terms)
    status = name_status(tree)
    return pd.DataFrame(
        {
            "id": [tree.ids[i] for i in internal],
            "label": [tree.labels[i] for i in internal],
            "depth": depth[internal],
            "skills": members[internal],
            "frequency": freq[internal].astype(np.int64),
            "term": term[internal],
            "named by": [status.get(tree.ids[i], "unknown") for i in internal],
        }
    )


def members_table(tree: EncodingTree, graph: SkillGraph | None, node_id: str) -> pd.DataFrame:
    """Skills under `node_id` with their frequency and the child cluster they sit in."""
    node = tree.node_index(node_id)
    counts = skill_counts(tree, graph)
    pos = {s: k for k, s in enumerate(tree.skills)}
    rows = []
    for c in tree.children()[node]:
        sub = tree.labels[c] if tree.leaf_skill[c] < 0 else "-"
        for s in tree.members(c):
            rows.append((s, int(counts[pos[s]]), sub))
    df = pd.DataFrame(rows, columns=["skill", "count", "child cluster"])
    return df.sort_values(["count", "skill"], ascending=[False, True], ignore_index=True)


def skill_frame(graph: SkillGraph, tree: EncodingTree, level: int = 1) -> pd.DataFrame:
    """DataFrame(skill, cluster, count) for the skills in the tree, in tree order;
    cluster = label of the skill's cluster at depth `level` (1: top level; '(no cluster)'
    for skills hanging off the root)."""
    if level != 1:
        from steps_engine.studio.mapview import cluster_at_level

        frame = skill_frame(graph, tree, 1)
        cl = cluster_at_level(tree, level)
        frame["cluster"] = [cl[s] for s in frame["skill"]]
        return frame
    leaves = tree.leaves()
    top = top_cluster(tree)
    counts = skill_counts(tree, graph)
    return pd.DataFrame(
        {
            "skill": [tree.skills[s] for s in tree.leaf_skill[leaves]],
            "cluster": [
                "(no cluster)" if tree.leaf_skill[top[i]] >= 0 else (tree.labels[top[i]] or tree.ids[top[i]])
                for i in leaves
            ],
            "count": counts[tree.leaf_skill[leaves]].astype(np.int64),
        }
    )


def common_cluster(tree: EncodingTree, skills: list[str]) -> str:
    """Id of the deepest cluster holding every one of `skills` (their lowest common ancestor;
    its parent when that would be the single skill's own leaf)."""
    leaf = tree.leaf_of_skill()
    pos = {s: i for i, s in enumerate(tree.skills)}
    paths = []
    for s in skills:
        if s not in pos or leaf[pos[s]] < 0:
            raise ValueError(f"skills: {s!r} is not in the taxonomy")
        paths.append(tree.path_to_root(int(tree.parent[leaf[pos[s]]]))[::-1])
    if not paths:
        raise ValueError("skills: none given")
    common = 0
    for level in zip(*paths):
        if all(x == level[0] for x in level):
            common = level[0]
        else:
            break
    return tree.ids[common]


def cluster_colours(tree: EncodingTree) -> dict[str, int]:
    """Top-level cluster label -> palette index, as the taxonomy chart colours them."""
    out: dict[str, int] = {}
    for k, c in enumerate(tree.children()[0]):
        if tree.leaf_skill[c] < 0:
            out.setdefault(tree.labels[c] or tree.ids[c], k)
    return out


def graph_layout(graph: SkillGraph, seed: int = 0) -> pd.DataFrame:
    """Every graph skill in 2-D from the co-occurrence graph alone: DataFrame(skill, x, y).
    Connected components are laid out one by one and packed by size (`layout.component_layout`)."""
    xy = component_layout(graph, seed=seed)
    return pd.DataFrame({"skill": graph.skills, "x": xy[:, 0], "y": xy[:, 1]})


def skill_points(frame: pd.DataFrame, positions: pd.DataFrame) -> pd.DataFrame:
    """skill_frame(...) joined with positions(skill, x, y): DataFrame(skill, x, y, cluster, count)."""
    df = frame.merge(positions[["skill", "x", "y"]], on="skill", how="left")
    return df[["skill", "x", "y", "cluster", "count"]].fillna({"x": 0.0, "y": 0.0})


def run_selection(
    ws: Workspace,
    constraints,
    *,
    starts="all",
    per_start: int = 1,
    scope: str = "local",
    max_level: int = 1,
    beam: int = 100,
    seed: int = 0,
    budget: int | None = None,
    reuse_discount: float | None = None,
    max_skill_uses: int | None = None,
    max_pair_uses: int | None = None,
    baseline: str | None = "random",
    terms: np.ndarray | None = None,
    progress=None,
) -> dict:
    """Select combinations on the workspace's current tree with the steps strategy and the
    `baseline` strategy (same starts and scope), write combos/steps.jsonl, combos/<baseline>.jsonl
    and combos/run.json, and return the run summary. progress(fraction, message).
    With `budget`: the dataset mode (`selection.budget`). A run in which steps selects nothing
    raises ValueError with the reason and leaves the previous selection in place."""
    from steps_engine.selection.budget import default_reuse_discount
    from steps_engine.selection.combos import select_combinations
    from steps_engine.selection.search import prepare
    from steps_engine.selection.strategies import combination_metrics

    tree, graph = ws.tree, ws.graph
    ctx = prepare(tree, graph, constraints, term=terms)
    reuse = default_reuse_discount(scope) if reuse_discount is None else reuse_discount
    kw = dict(k_max=constraints.k_max, starts=starts, per_start=per_start, scope=scope, max_level=max_level,
              beam=beam, seed=seed, budget=budget)
    caps = dict(reuse_discount=reuse, max_skill_uses=max_skill_uses, max_pair_uses=max_pair_uses)
    strategies = ["steps"] + ([baseline] if baseline else [])
    summary = {"settings": {**kw, **caps, "k": constraints.k, "tree_key": ws.tree_key}, "metrics": {}, "files": {},
               "shortfall": {}}
    outputs = {}
    for i, strategy in enumerate(strategies):
        tick = None
        if progress is not None:
            progress(i / len(strategies), f"{strategy}: selecting…")

            def tick(done, total, i=i, strategy=strategy):
                if done == total or done % 25 == 0:  # keep reruns of the bar cheap
                    progress((i + done / max(total, 1)) / len(strategies), f"{strategy}: {done}/{total}")

        run = select_combinations(ctx, constraints.k, strategy=strategy, progress=tick or False, **kw, **caps)
        if strategy == "steps" and not run.combinations:
            reason = run.shortfall[0] if run.shortfall else "no start has an admissible combination in this scope"
            raise ValueError(f"nothing selected: {reason}")
        records = []
        for c in run.combinations:
            rec = c.to_json()
            pos = np.array([ctx.position(x) for x in c.skills])
            block = ctx.cooc[pos][:, pos].toarray()[np.triu_indices(len(pos), 1)]
            rec["unseen_pairs"] = int((block == 0).sum())
            records.append(rec)
        outputs[strategy] = records
        summary["metrics"][strategy] = combination_metrics(ctx, run.combinations, reuse)
        summary["files"][strategy] = f"combos/{strategy}.jsonl"
        summary.setdefault("starts_without", {})[strategy] = len(run.starts_without)
        summary["shortfall"][strategy] = run.shortfall
    for strategy, records in outputs.items():
        ws.write_jsonl(f"combos/{strategy}.jsonl", records)
    if progress is not None:
        progress(1.0, "done")
    ws.write_json("combos/run.json", summary)
    return summary


def skill_usage(ws: Workspace, records: list[dict]) -> dict[str, int]:
    """Combinations per skill of the current tree (0 for unused), start included."""
    uses = {s: 0 for s in ws.tree.skills}
    for r in records:
        for s in dict.fromkeys(r["skills"]):
            if s in uses:
                uses[s] += 1
    return uses


def explain_record(ws: Workspace, record: dict, terms: np.ndarray | None = None, similarity=None) -> dict:
    """`selection.explain.explain_combination` for one saved combination record."""
    from steps_engine.selection.explain import explain_combination
    from steps_engine.selection.search import Constraints, prepare

    ctx = prepare(ws.tree, ws.graph, Constraints(k=max(2, len(record["skills"])), similarity=similarity), term=terms)
    return explain_combination(ctx, record)


def load_selection(ws: Workspace) -> tuple[dict | None, dict[str, list[dict]]]:
    """The last run's summary and its combination records per strategy."""
    summary = ws.read_json("combos/run.json")
    if not summary:
        return None, {}
    return summary, {s: ws.read_jsonl(f) for s, f in summary.get("files", {}).items()}


def combos_frame(records: list[dict]) -> pd.DataFrame:
    """One row per combination: rank (budget mode), skills, start, k, gain, marginal gain,
    LCA label/depth, never-seen-together."""
    return pd.DataFrame(
        {
            "rank": [r.get("rank") for r in records],
            "skills": [" + ".join(r["skills"]) for r in records],
            "start": [r["start"] for r in records],
            "k": [len(r["skills"]) for r in records],
            "gain (bits)": [float(r["gain"]) for r in records],
            "marginal gain": [r.get("marginal_gain") for r in records],
            "LCA": [r.get("lca_label") or r.get("lca") for r in records],
            "LCA depth": [r.get("lca_depth") for r in records],
            "never seen together": [bool(r.get("unseen_pairs", 0)) for r in records],
            "coherence": [r.get("coherence") for r in records],
        }
    )


def suggest_names(tree: EncodingTree, graph: SkillGraph, embedder=None) -> pd.DataFrame:
    """DataFrame(id, depth, skills, label, suggested) for every non-root cluster with members:
    the suggested label is `naming.name_nodes` (members closest to the frequency-weighted
    embedding centroid). Loads the embedding model on first use."""
    from steps_engine.semantic.vocabulary import skill_texts
    from steps_engine.taxonomy.naming import name_nodes

    if embedder is None:
        from steps_engine.semantic.embeddings import get_embedder

        embedder = get_embedder()
    vecs = embedder.encode(skill_texts(tree.skills))
    names = name_nodes(tree, vecs, skill_counts(tree, graph))
    members, depth = tree.member_counts(), tree.depth()
    rows = [
        (tree.ids[i], int(depth[i]), int(members[i]), tree.labels[i], names[i])
        for i in range(1, tree.n_nodes)
        if tree.leaf_skill[i] < 0 and members[i] > 0
    ]
    return pd.DataFrame(rows, columns=["id", "depth", "skills", "label", "suggested"])


def keyword_name_table(ws: Workspace) -> pd.DataFrame:
    """DataFrame(id, depth, skills, label, keywords, central skills) for every non-root
    cluster not labelled by hand: the c-TF-IDF keyword name it would get."""
    from steps_engine.taxonomy.keyword_names import keyword_names
    from steps_engine.taxonomy.naming import name_status

    tree = ws.tree
    names = keyword_names(tree, ws.graph, ws.name_corpus)
    status = name_status(tree)
    members, depth = tree.member_counts(), tree.depth()
    rows = [
        (tree.ids[i], int(depth[i]), int(members[i]), tree.labels[i], kn.name, ", ".join(kn.central))
        for i, kn in sorted(names.items())
        if status.get(tree.ids[i]) != "hand"
    ]
    return pd.DataFrame(rows, columns=["id", "depth", "skills", "label", "keywords", "central skills"])


def llm_names(ws: Workspace, model: str, base_url: str | None = None, api_key: str | None = None, client=None,
              progress=None) -> tuple[dict, dict]:
    """LLM names of the current tree's clusters not labelled by hand (`taxonomy.llm_names`):
    ({id: (name, description)}, {id: reason}). The caller applies them as one relabel edit."""
    import os

    from steps_engine.semantic.embeddings import default_cache_dir
    from steps_engine.taxonomy.llm_names import name_clusters
    from steps_engine.taxonomy.naming import name_status

    if client is None:
        from steps_engine.llm.openai_client import OpenAIChatClient

        client = OpenAIChatClient(model, api_key=api_key or os.environ.get("OPENAI_API_KEY") or None, base_url=base_url)
    tree = ws.tree
    status = name_status(tree)
    wanted = {k for k, v in status.items() if v != "hand" and k != tree.ids[0]}
    examples = {}
    try:
        from steps_engine.studio.reading import load_rows

        examples = load_rows(ws, max_rows=50_000).examples()
    except (OSError, ValueError):
        pass
    res = name_clusters(tree, ws.graph, client, cache_dir=default_cache_dir() / "llm-names", examples=examples,
                        only=wanted, progress=progress)
    return res.names, res.failures


def meaning_map_path(ws: Workspace) -> Path:
    """Where the meaning map (UMAP of skill-name embeddings) of this graph is cached; keyed
    on the graph's content, shared by workspaces holding the same graph."""
    from steps_engine.semantic.embeddings import default_cache_dir

    return default_cache_dir() / "studio" / f"meaning-map-2-{ws.graph_key[:32]}.json"  # 2: with neighbours


def start_meaning_map(ws: Workspace):
    """Start building the meaning map in a low-priority subprocess (model load, numba
    compile and UMAP take tens of seconds and would hold the server's GIL in a thread).
    Returns {"path", "proc" (None when already built), "log"}."""
    import os
    import subprocess
    import sys

    path = meaning_map_path(ws)
    job = {"path": path, "proc": None, "log": path.with_suffix(".log")}
    if path.exists():
        return job
    path.parent.mkdir(parents=True, exist_ok=True)
    code = "import sys; from steps_engine.studio.state import build_meaning_map; build_meaning_map(sys.argv[1], sys.argv[2])"
    with open(job["log"], "wb") as log:
        job["proc"] = subprocess.Popen(
            [sys.executable, "-c", code, str(ws.taxonomy_dir), str(path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=(lambda: os.nice(10)) if hasattr(os, "nice") else None,
        )
    return job


def meaning_map_progress(job: dict) -> tuple[float, str]:
    """(fraction, stage) of a running meaning-map build, from its progress file."""
    import orjson

    p = Path(job["path"]).with_suffix(".progress")
    try:
        d = orjson.loads(p.read_bytes())
        return float(d.get("fraction", 0.0)), str(d.get("stage", "starting"))
    except (OSError, ValueError):
        return 0.0, "starting"


def meaning_map_state(job: dict) -> tuple[str, pd.DataFrame | str | None]:
    """("ready", DataFrame(skill, x, y[, neighbours])), ("running", None) or ("failed", reason)."""
    path, proc = job["path"], job["proc"]
    if path.exists():
        if "frame" not in job:
            import orjson

            job["frame"] = pd.DataFrame(orjson.loads(path.read_bytes()))
        return "ready", job["frame"]
    if proc is not None and proc.poll() is None:
        return "running", None
    tail = job["log"].read_text(errors="replace").strip().splitlines()[-1:] if job["log"].exists() else []
    return "failed", (tail[0] if tail else "the meaning-map process stopped without output")


def build_meaning_map(taxonomy_dir: str, out: str) -> None:
    """Subprocess entry: UMAP of the graph's skill names -> out (JSON records skill, x, y,
    neighbours = the 10 nearest skills by meaning); progress in out's .progress file."""
    import orjson

    from steps_engine.semantic import skillmap
    from steps_engine.semantic.embeddings import get_embedder
    from steps_engine.semantic.vocabulary import skill_texts
    from steps_engine.studio.mapview import nearest_by_meaning
    from steps_engine.taxonomy.graph import read_graph
    from steps_engine._atomic import atomic_write

    prog = Path(out).with_suffix(".progress")

    def stage(fraction: float, text: str) -> None:
        atomic_write(prog, orjson.dumps({"fraction": fraction, "stage": text}))

    stage(0.02, "reading the graph")
    g = read_graph(taxonomy_dir)
    stage(0.05, "loading the embedding model")
    embedder = get_embedder()
    stage(0.25, f"embedding {g.n_skills:,} skill names")
    vecs = embedder.encode(skill_texts(g.skills)) if g.n_skills else np.zeros((0, 2))
    stage(0.45, "UMAP layout (the first run compiles numba code)")
    xy = skillmap.layout_2d(vecs)
    stage(0.9, "nearest neighbours by meaning")
    nb = nearest_by_meaning(vecs, g.skills, k=10)
    records = [{"skill": s, "x": float(x), "y": float(y), "neighbours": nb[s]} for s, (x, y) in zip(g.skills, xy)]
    atomic_write(out, orjson.dumps(records, option=orjson.OPT_SERIALIZE_NUMPY))
    stage(1.0, "done")


def read_results_by_id(ws: Workspace) -> dict[str, dict]:
    """results/results.jsonl as {id: record} (last record per id), {} when absent."""
    from steps_engine.synthesis.runner import read_results

    path = ws.path("results", "results.jsonl")
    if not path.exists():
        return {}
    return {r["id"]: r for r in read_results(path)[0]}


def generate(ws: Workspace, combos: list[dict], job_ids, *, model: str, out, **kwargs) -> list:
    """The Generate button on `combos` (whose jobs have `job_ids`): the runner resumes by skipping
    every combination that already has a record, so the ones whose last record failed or was
    rejected are sent again first (`retry_failed`), then the new ones. kwargs go to
    `synthesis.runner.synthesize`. Returns the reports of the passes, in order."""
    from steps_engine.synthesis.runner import read_results, synthesize

    last = {r["id"]: r for r in read_results(out)[0]} if Path(out).exists() else {}
    reports = []
    if any((last.get(i) or {}).get("status") in ("failed", "rejected") for i in job_ids):
        reports.append(synthesize(ws.current_dir, combos, model=model, out=out, retry_failed=True, **kwargs))
    reports.append(synthesize(ws.current_dir, combos, model=model, out=out, **kwargs))
    return reports


def export_path(ws: Workspace, fmt: str, name: str) -> tuple[Path, str]:
    """(WS/exports/<fmt>/<base><suffix>, base): the Export page's file, where `base` is the typed
    name reduced to one safe file name (`safe_base_name`; a trailing suffix of the format is
    dropped), so no name ("../x", "/etc/x") puts the file outside the workspace."""
    from steps_engine.export.formats import get_format

    suffix = get_format(fmt).suffix
    base = safe_base_name(name, default="dataset")
    if suffix and base.endswith(suffix) and base != suffix:
        base = base[: -len(suffix)]
    return ws.path("exports", fmt, f"{base}{suffix}"), base


def write_reviewed(ws: Workspace) -> tuple[Path, int, int]:
    """Write results/reviewed.jsonl: the checked results (results/checked.jsonl) when the
    quality check has run, else the results, with every sample marked rejected in
    results/review.json set to status `rejected`, reason `review:rejected` (kept, so the
    dataset card counts review decisions apart from automatic rejections).
    Returns (path, records not rejected in review, records rejected in review)."""
    from steps_engine.studio.review import read_samples

    review = ws.read_json("results/review.json", {}) or {}
    records, _ = read_samples(ws)
    if not records:
        raise ValueError("no synthesis results in this workspace yet: generate on the Synthesize & preview page")
    out, dropped = [], 0
    for r in records:
        if review.get(r["id"]) == "rejected":
            dropped += 1
            r = {**r, "status": "rejected", "reason": "review:rejected",
                 "reasons": ["review:rejected"] + [c for c in r.get("reasons") or [] if c != "review:rejected"]}
        out.append(r)
    path = ws.write_jsonl("results/reviewed.jsonl", out)
    return path, len(out) - dropped, dropped

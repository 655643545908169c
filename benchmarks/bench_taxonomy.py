"""Tree-building benchmark: the multilevel builder against every reference tree, same run.

Usage: .venv/bin/python benchmarks/bench_taxonomy.py [--sizes 300,1000,3000,10000,20000,50000]
       [--heights 2,3,4,5] [--seeds 0] [--ref-max 1000] [--greedy-max 50000] [--big 200000]
       [--mem-gb 20] [--out results.json] [--shape n_top=4,n_sub=10,zipf=0.8,p_sibling=0.4]

Data: `planted_graph` (8 top groups x 5 subgroups, Zipf popularity 0.8, 2-5 skills a row,
"steps" weighting; `--shape` overrides any of these generator parameters, and
rows_per_skill the row counts); ROWS puts the edge counts near the issue's anchors (3,000 skills / 0.2M
edges, 10,000 / 0.8M, 50,000 / 5M, 200,000 / 20M). Every measurement runs in its own
subprocess (peak RSS per job, an address-space limit) and every tree is scored by
`steps_engine.taxonomy.entropy.structural_entropy` on the same graph:
  multilevel  build_tree_multilevel (the default builder) at each height
  greedy      partition.build_tree (the merge builder) at each height
  planted     the planted tree (height 2: the better of root->top groups and root->subgroups)
  louvain     igraph's multilevel (Louvain) levels as a dendrogram, optimally compressed to the
              height by our DP (`_Layers.compressed`): the best tree its levels allow
  leiden      leidenalg (modularity), recursively inside each community to the height, then
              compressed the same way
  reference   benchmarks/reference_greedy.py (dense port of the published STEPS tree code),
              sizes <= --ref-max
  cold        numba compile of both builders with an empty cache (NUMBA_CACHE_DIR in a temp dir)
Times are wall and CPU seconds of the build alone (graph given). Leiden / Louvain times are
one 2-level run (graph conversion excluded); the recursive Leiden run to the largest height is
timed as "leiden tree".
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _machine import cpu_model, peak_rss_mb  # noqa: E402

ROWS = {300: 20_000, 1_000: 95_000, 3_000: 200_000, 10_000: 500_000, 20_000: 1_000_000, 50_000: 2_300_000, 200_000: 9_000_000}
PLANTED = {"zipf": 0.8, "n_top": 8, "n_sub": 5}
SHAPE_KEYS = {"n_top": int, "n_sub": int, "zipf": float, "p_sibling": float, "p_random": float, "rows_per_skill": float}
shape = dict(PLANTED)  # the generator parameters of this run (`--shape` overrides PLANTED)


def parse_shape(text: str) -> dict:
    """PLANTED overridden by "key=value,..." (keys: SHAPE_KEYS); ValueError says what is wrong."""
    out, seen = dict(PLANTED), set()
    for item in (x.strip() for x in text.split(",") if x.strip()):
        key, eq, value = item.partition("=")
        if not eq or key not in SHAPE_KEYS:
            raise ValueError(f"{item!r}: expected key=value with key one of {', '.join(SHAPE_KEYS)}")
        if key in seen:
            raise ValueError(f"{key} given twice")
        seen.add(key)
        try:
            out[key] = SHAPE_KEYS[key](value)
        except ValueError:
            raise ValueError(f"{item!r}: {key} takes {'an integer' if SHAPE_KEYS[key] is int else 'a number'}") from None
    if out["n_top"] < 1 or out["n_sub"] < 1:
        raise ValueError("n_top and n_sub must be >= 1")
    if not 0 <= out["zipf"] <= 10:
        raise ValueError(f"zipf must be in [0, 10], got {out['zipf']}")
    p_sib, p_rnd = out.get("p_sibling", 0.25), out.get("p_random", 0.05)  # the generator's defaults
    if not (0 <= p_sib <= 1 and 0 <= p_rnd <= 1 and p_sib + p_rnd <= 1):
        raise ValueError(f"p_sibling and p_random must be in [0, 1] with sum <= 1, got {p_sib} and {p_rnd}")
    if "rows_per_skill" in out and not 0.5 <= out["rows_per_skill"] <= 1e4:
        raise ValueError(f"rows_per_skill must be in [0.5, 10000], got {out['rows_per_skill']}")
    return out


def shape_text(sh: dict) -> str:
    return ",".join(f"{k}={sh[k]}" for k in SHAPE_KEYS if k in sh)


def rows_for(n_skills: int) -> int:
    if "rows_per_skill" in shape:
        return max(1, round(shape["rows_per_skill"] * n_skills))
    return ROWS.get(n_skills, 46 * n_skills)


def graph_for(n: int, seed: int):
    from steps_engine.taxonomy.planted import planted_graph

    return planted_graph(n, rows_for(n), seed=seed, **{k: v for k, v in shape.items() if k != "rows_per_skill"})


def clock():
    return time.perf_counter(), time.process_time()


def since(t0) -> tuple[float, float]:
    return time.perf_counter() - t0[0], time.process_time() - t0[1]


def describe(g, tree) -> dict:
    """Entropy, planted recovery at depths 1 and 2, fragments under the root."""
    import numpy as np

    from steps_engine.taxonomy.entropy import structural_entropy
    from steps_engine.taxonomy.planted import cluster_labels, nmi, planted_labels

    deg = g.degrees()
    sizes = tree.member_counts()
    root_children = tree.children()[0]
    pos = {s: i for i, s in enumerate(g.skills)}
    frag = 0
    for c in root_children:
        members = tree.members(c)
        if sizes[c] < 0.01 * g.n_skills and any(deg[pos[s]] > 0 for s in members):
            frag += 1
    return {
        "H": structural_entropy(g, tree),
        "height": tree.height,
        "top": len(root_children),
        "fragments": frag,
        "nmi1": nmi(planted_labels(tree.skills, 1), cluster_labels(tree, 1)),
        "nmi2": nmi(planted_labels(tree.skills, 2), cluster_labels(tree, 2)),
        "isolated": int((deg == 0).sum()),
        "n_internal": int(np.sum(tree.leaf_skill < 0)),
    }


# ---------------------------------------------------------------- jobs (run in subprocesses)


def job_cold() -> dict:
    t = time.perf_counter()
    from steps_engine.taxonomy.multilevel import build_tree_multilevel
    from steps_engine.taxonomy.partition import build_tree
    from steps_engine.taxonomy.planted import planted_graph

    out = {"import_s": time.perf_counter() - t}
    g = planted_graph(100, 1_000, seed=1)
    for name, fn in (("multilevel", build_tree_multilevel), ("greedy", build_tree)):
        t = time.perf_counter()
        fn(g, height=3)
        out[name] = time.perf_counter() - t
    return out


def job_builder(name: str, n: int, heights: list[int], seed: int, repeat: int = 1) -> dict:
    from steps_engine.taxonomy.build import BUILDERS
    from steps_engine.taxonomy.planted import planted_graph

    fn = BUILDERS[name]
    t = time.perf_counter()
    fn(planted_graph(100, 1_000, seed=1), height=max(heights))  # numba: load the cache
    warm = time.perf_counter() - t
    t0 = clock()
    g = graph_for(n, seed)
    out = {"warm_s": warm, "graph_s": since(t0)[0], "skills": g.n_skills, "edges": g.n_edges}
    out["repeat"] = repeat
    for h in heights:
        runs = []
        for _ in range(repeat):  # the fastest of `repeat` builds: the others paid for noise
            t0 = clock()
            tree = fn(g, height=h)
            runs.append(since(t0))
        out[f"t{h}"], out[f"cpu{h}"] = min(runs, key=lambda wc: wc[1])
        out[f"cpus{h}"] = [c for _, c in runs]
        out[f"d{h}"] = describe(g, tree)
        print(f"  {name} n={n} h={h}: {out[f't{h}']:.2f}s H={out[f'd{h}']['H']:.4f}", file=sys.stderr, flush=True)
    out["rss_mb"] = peak_rss_mb()
    return out


def _layers_of(g, anc_rows):
    """A `_Layers` from nested memberships (finest first), root added on top."""
    import numpy as np

    from steps_engine.taxonomy._multilevel_kernels import _relabel
    from steps_engine.taxonomy.multilevel import _Layers

    rows = [np.arange(g.n_skills)] + [_relabel(np.asarray(r, dtype=np.int64))[0] for r in anc_rows] + [np.zeros(g.n_skills, np.int64)]
    for i in range(len(rows) - 3, 0, -1):  # split each level by the coarser one so they nest
        rows[i] = _relabel(rows[i] * (int(rows[i + 1].max()) + 1) + rows[i + 1])[0]
    return _Layers(g.src.astype(np.int64), g.dst.astype(np.int64), g.weight.astype(np.float64), g.degrees(), np.stack(rows))


def _leiden_levels(ig, la, G, h: int, seed: int):
    """Recursive Leiden: level 1 = communities, level 2 = communities inside each, ... (h-1
    levels, coarsest first; the first k-1 of them are the recursion for height k)."""
    import numpy as np

    n = G.vcount()
    levels = []
    labels = np.zeros(n, dtype=np.int64)
    for _ in range(h - 1):
        new = np.zeros(n, dtype=np.int64)
        nxt = 0
        for c in np.unique(labels):
            members = np.flatnonzero(labels == c)
            if members.shape[0] < 2:
                new[members] = nxt
                nxt += 1
                continue
            sub = G.induced_subgraph(members.tolist())
            if sub.ecount() == 0:
                memb = np.arange(members.shape[0])
            else:
                memb = np.asarray(la.find_partition(sub, la.ModularityVertexPartition, weights="weight", seed=seed).membership)
            new[members] = nxt + memb
            nxt += int(memb.max()) + 1
        labels = new
        levels.append(labels.copy())
    return levels


def job_baselines(n: int, heights: list[int], seed: int) -> dict:
    import igraph as ig
    import leidenalg as la
    import numpy as np

    from steps_engine.taxonomy.multilevel import _Layers

    g = graph_for(n, seed)
    out = {"skills": g.n_skills, "edges": g.n_edges}
    G = ig.Graph(n=g.n_skills, edges=np.stack([g.src, g.dst], axis=1))
    G.es["weight"] = g.weight
    t0 = clock()
    part = la.find_partition(G, la.ModularityVertexPartition, weights="weight", seed=seed)
    out["leiden_t"], out["leiden_cpu"] = since(t0)
    out["leiden_k"] = len(set(part.membership))
    import random

    ig.set_random_number_generator(random.Random(seed))  # Louvain's node order: seeded, so a cell repeats
    t0 = clock()
    levels = G.community_multilevel(weights="weight", return_levels=True)
    out["louvain_t"], out["louvain_cpu"] = since(t0)
    out["louvain_levels"] = [len(set(lv.membership)) for lv in levels]
    louvain = _layers_of(g, [lv.membership for lv in levels])
    top = np.array([int(s.split("_")[0][1:]) for s in g.skills])
    mid = np.array([int(s.split("_")[1][1:]) for s in g.skills]) + top * shape["n_sub"]
    planted3 = _layers_of(g, [mid, top])
    t0 = clock()
    leiden_levels = _leiden_levels(ig, la, G, max(heights), seed)
    out["leiden_tree_t"], out["leiden_tree_cpu"] = since(t0)
    for h in heights:
        d = {}
        d["louvain"] = describe(g, louvain.compressed(h).to_tree(g.skills))
        lay = _layers_of(g, leiden_levels[: h - 1][::-1])
        d["leiden"] = describe(g, lay.compressed(h).to_tree(g.skills))
        if h == 2:
            cands = [_layers_of(g, [top]), _layers_of(g, [mid])]
            d["planted"] = min((describe(g, c.to_tree(g.skills)) for c in cands), key=lambda x: x["H"])
        else:
            d["planted"] = describe(g, planted3.to_tree(g.skills))
        out[f"d{h}"] = d
    out["rss_mb"] = peak_rss_mb()
    return out


def job_ref(n: int, height: int, seed: int) -> dict:
    from reference_greedy import reference_tree

    from steps_engine.taxonomy.entropy import structural_entropy

    g = graph_for(n, seed)
    t0 = clock()
    tree = reference_tree(g, height)
    took, cpu = since(t0)
    return {"t": took, "cpu": cpu, "H": structural_entropy(g, tree), "height": tree.height, "rss_mb": peak_rss_mb()}


def run_job(args: list[str], timeout: float | None = None, env: dict | None = None) -> dict | str:
    """Run this script as `--job ...`; the last stdout line is the JSON result.
    A string ("timeout", "failed: ...") when the job did not finish."""
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
    load = os.getloadavg()[0]
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return "timeout"
    if p.returncode != 0:
        return f"failed (exit {p.returncode})"
    res = json.loads(p.stdout.strip().splitlines()[-1])
    res["load_before"] = load
    return res


# ---------------------------------------------------------------- report


def fmt_s(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 100 else f"{x:.0f}"


def fmt_h(x) -> str:
    return x if isinstance(x, str) else f"{x:.4f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="300,1000,3000,10000,20000,50000")
    ap.add_argument("--heights", default="2,3,4,5")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--ref-max", type=int, default=1_000, help="largest size to run the dense reference port on")
    ap.add_argument("--ref-timeout", type=float, default=600.0)
    ap.add_argument("--greedy-max", type=int, default=50_000, help="largest size to run the greedy builder on")
    ap.add_argument("--big", type=int, default=0, help="also run the multilevel builder alone at this size (e.g. 200000)")
    ap.add_argument("--mem-gb", type=float, default=20.0, help="address-space limit per job")
    ap.add_argument("--out", default=None, help="also write the raw results as JSON here")
    ap.add_argument("--reuse", default=None, help="take greedy / baseline / reference results from this --out file of an earlier run")
    ap.add_argument("--only", default="cold,multilevel,greedy,baselines,ref", help="which jobs to run (comma-separated)")
    ap.add_argument("--repeat", type=int, default=1, help="build each height this many times per job and report the fastest (CPU)")
    ap.add_argument("--shape", default=None, help="generator parameters overriding PLANTED, e.g. n_top=4,n_sub=10,zipf=0.8,p_sibling=0.4,p_random=0.1,rows_per_skill=5")
    ap.add_argument("--job", choices=["cold", "multilevel", "greedy", "baselines", "ref"], help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--height", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s]
        heights = [int(h) for h in args.heights.split(",") if h]
        seeds = [int(s) for s in args.seeds.split(",") if s]
    except ValueError:
        ap.error("--sizes, --heights and --seeds take comma-separated integers")
    if args.shape is not None:
        try:
            shape.update(parse_shape(args.shape))
        except ValueError as e:
            ap.error(f"--shape: {e}")
    groups = shape["n_top"] * shape["n_sub"]
    if any(s < groups for s in sizes) or any(h < 2 for h in heights):
        ap.error(f"sizes must be >= {groups} (planted groups) and heights >= 2")
    if args.repeat < 1:
        ap.error("--repeat must be >= 1")

    if args.job:
        limit = int(args.mem_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        if args.job == "cold":
            res = job_cold()
        elif args.job in ("multilevel", "greedy"):
            res = job_builder(args.job, args.n, heights, args.seed, args.repeat)
        elif args.job == "baselines":
            res = job_baselines(args.n, heights, args.seed)
        else:
            res = job_ref(args.n, args.height, args.seed)
        print(json.dumps(res))
        return 0

    started = dt.datetime.now(dt.timezone.utc)
    load_start = os.getloadavg()
    common = ["--heights", args.heights, "--mem-gb", str(args.mem_gb), "--repeat", str(args.repeat)]
    if args.shape is not None:
        common += ["--shape", shape_text(shape)]
    only = set(args.only.split(","))
    cold = "not run"
    if "cold" in only:
        with tempfile.TemporaryDirectory() as cache:
            cold = run_job(["--job", "cold", *common], env={**os.environ, "NUMBA_CACHE_DIR": cache})
        print(f"cold numba compile: {cold}", file=sys.stderr, flush=True)
    results = []
    old = {}
    if args.reuse:
        prev = json.loads(Path(args.reuse).read_text())
        if cold == "not run":
            cold = prev.get("cold", cold)
        for r in prev["results"]:
            r["ref"] = {int(h): v for h, v in r["ref"].items()}
            old[(r["n"], r["seed"])] = r
    for seed in seeds:
        for n in sizes:
            r = {"n": n, "seed": seed, "multilevel": "not run", "greedy": "not run", "baselines": "not run", "ref": {h: "not run" for h in heights}}
            r.update({k: v for k, v in old.get((n, seed), {}).items() if k in ("multilevel", "greedy", "baselines", "ref")})
            job = [*common, "--n", str(n), "--seed", str(seed)]
            if "multilevel" in only:
                r["multilevel"] = run_job(["--job", "multilevel", *job])
            if "greedy" in only and n <= args.greedy_max:
                r["greedy"] = run_job(["--job", "greedy", *job])
            if "baselines" in only:
                r["baselines"] = run_job(["--job", "baselines", *job])
            if "ref" in only and n <= args.ref_max:
                for h in heights:
                    r["ref"][h] = run_job(["--job", "ref", *job, "--height", str(h)], timeout=args.ref_timeout)
            if all(not isinstance(x, dict) for x in (r["multilevel"], r["greedy"], r["baselines"], *r["ref"].values())):
                continue  # nothing run or stored for this size and seed
            results.append(r)
            print(f"{n} skills seed {seed} done", file=sys.stderr, flush=True)
    big = prev.get("big") if args.reuse else None
    if args.big:
        big = run_job(["--job", "multilevel", *common, "--n", str(args.big), "--seed", str(seeds[0])])
    if args.out:
        extra = {"shape": shape} if args.shape is not None else {}
        Path(args.out).write_text(json.dumps({"cold": cold, "results": results, "big": big, **extra}, indent=1))
    report(started, load_start, os.getloadavg(), cold, results, big, heights, shape_text(shape) if args.shape is not None else None)
    return 0


def git_state() -> str:
    p = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return "commit " + (p.stdout.strip() or "unknown")


def _best_ref(r: dict, h: int):
    """(name, H) of the lowest-entropy reference tree at height h."""
    cands = []
    if isinstance(r["greedy"], dict):
        cands.append(("greedy", r["greedy"][f"d{h}"]["H"]))
    b = r["baselines"]
    if isinstance(b, dict):
        for k in ("planted", "louvain", "leiden"):
            cands.append((k, b[f"d{h}"][k]["H"]))
    ref = r["ref"].get(h)
    if isinstance(ref, dict):
        cands.append(("reference", ref["H"]))
    return min(cands, key=lambda x: x[1]) if cands else ("-", math.inf)


def report(started, load_start, load_end, cold, results, big, hs: list[int], shape_note: str | None = None) -> None:
    print(f"## Tree-building benchmark ({started:%Y-%m-%d %H:%M} UTC, {git_state()})\n")
    if shape_note is not None:
        print(f"Data shape (overrides PLANTED): {shape_note}\n")
    loads = [load_start[0], load_end[0]] + [
        r[k]["load_before"] for r in results for k in ("multilevel", "greedy", "baselines") if isinstance(r[k], dict)
    ]
    print(
        f"Machine: {os.cpu_count()} CPUs ({cpu_model()}), Python {platform.python_version()}; load average (1 min) "
        f"{load_start[0]:.1f} at start, {load_end[0]:.1f} at end, max {max(loads):.1f} before a job. Times: wall s (CPU s)."
    )
    if isinstance(cold, dict):
        print(
            f"Cold numba compile (empty cache), first call on a 100-skill graph: multilevel {cold['multilevel']:.1f} s, "
            f"greedy {cold['greedy']:.1f} s (import {cold['import_s']:.1f} s).\n"
        )
    print("### Entropy (bits; lower is better), every tree scored by `structural_entropy`\n")
    print("| skills | edges | seed | h | multilevel | greedy | planted | Louvain | Leiden | reference | best other | multilevel <= best |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---|:---:|")
    worse = []
    for r in results:
        m, gr, b = r["multilevel"], r["greedy"], r["baselines"]
        if not isinstance(m, dict):
            print(f"| {r['n']:,} | - | {r['seed']} | - | {m} | | | | | | | NO |")
            continue
        for h in hs:
            ours = m[f"d{h}"]["H"]
            cells = [
                fmt_h(gr[f"d{h}"]["H"]) if isinstance(gr, dict) else gr,
                *([fmt_h(b[f"d{h}"][k]["H"]) for k in ("planted", "louvain", "leiden")] if isinstance(b, dict) else [str(b)] * 3),
                fmt_h(r["ref"][h]["H"]) if isinstance(r["ref"][h], dict) else r["ref"][h],
            ]
            name, best = _best_ref(r, h)
            ok = ours <= best + 1e-9
            if not ok:
                worse.append((r["n"], r["seed"], h, ours, name, best))
            print(
                f"| {m['skills']:,} | {m['edges']:,} | {r['seed']} | {h} | {ours:.4f} | " + " | ".join(cells) + f" | {name} {best:.4f} | {'yes' if ok else 'NO'} |"
            )
    print("\n### Planted recovery at height 3 (NMI of depth-1 clusters vs top groups, depth-2 vs subgroups)\n")
    print("| skills | seed | builder | depth-1 clusters | NMI depth 1 | NMI depth 2 | fragments < 1% under root |")
    print("|---:|---:|:---|---:|---:|---:|---:|")
    for r in results:
        rows = [("multilevel", r["multilevel"]), ("greedy", r["greedy"])]
        if isinstance(r["baselines"], dict) and 3 in hs:
            for k in ("louvain", "leiden"):
                rows.append((k, {"d3": r["baselines"]["d3"][k]}))
        for name, res in rows:
            if isinstance(res, dict) and "d3" in res:
                d = res["d3"]
                print(f"| {r['n']:,} | {r['seed']} | {name} | {d['top']} | {d['nmi1']:.4f} | {d['nmi2']:.4f} | {d['fragments']} |")
    print("\n### Time (build only; wall s (CPU s)) and peak RSS\n")
    reps = sorted({r[k].get("repeat", 1) for r in results for k in ("multilevel", "greedy") if isinstance(r[k], dict)})
    if reps and reps != [1]:
        print(f"Each builder time is the fastest (by CPU) of {'/'.join(map(str, reps))} builds of that height in one process.\n")
    print(
        "| skills | edges | "
        + " | ".join(f"multilevel h={h}" for h in hs)
        + " | "
        + " | ".join(f"greedy h={h}" for h in hs)
        + " | Leiden 2-level | Louvain levels | multilevel RSS MB |"
    )
    print("|" + "---:|" * (4 + 2 * len(hs)))
    for r in results:
        m, gr, b = r["multilevel"], r["greedy"], r["baselines"]
        if not isinstance(m, dict):
            continue
        mt = [f"{fmt_s(m[f't{h}'])} ({fmt_s(m[f'cpu{h}'])})" for h in hs]
        gt = [f"{fmt_s(gr[f't{h}'])} ({fmt_s(gr[f'cpu{h}'])})" if isinstance(gr, dict) else gr for h in hs]
        lt = f"{fmt_s(b['leiden_t'])} ({fmt_s(b['leiden_cpu'])})" if isinstance(b, dict) else "-"
        vt = f"{fmt_s(b['louvain_t'])} ({fmt_s(b['louvain_cpu'])})" if isinstance(b, dict) else "-"
        print(f"| {m['skills']:,} | {m['edges']:,} | " + " | ".join(mt + gt) + f" | {lt} | {vt} | {m['rss_mb']:.0f} |")
    if isinstance(big, dict):
        print(
            f"\nLarge run: {big['skills']:,} skills / {big['edges']:,} edges (graph build {big['graph_s']:.0f} s): "
            + ", ".join(f"h={h} {fmt_s(big[f't{h}'])} s ({fmt_s(big[f'cpu{h}'])} s CPU), H^T {big[f'd{h}']['H']:.4f}" for h in hs)
            + f"; peak RSS {big['rss_mb']:.0f} MB."
        )
    elif big is not None:
        print(f"\nLarge run: {big}")
    print("\n### Targets\n")
    print(
        "- entropy <= best reference at every size and height: "
        + ("met" if not worse else "NOT met: " + "; ".join(f"{n:,} seed {s} h={h}: {o:.4f} > {nm} {b:.4f}" for n, s, h, o, nm, b in worse))
    )
    by_n = {r["n"]: r for r in results if r["seed"] == results[0]["seed"] and isinstance(r["multilevel"], dict)}
    for n in (3_000, 10_000):
        r = by_n.get(n)
        if r and 3 in hs:
            d = r["multilevel"]["d3"]
            ok = d["nmi1"] >= 0.99 and d["nmi2"] >= 0.95 and d["fragments"] == 0
            print(f"- planted recovery at {n:,}: NMI {d['nmi1']:.4f} / {d['nmi2']:.4f}, {d['fragments']} fragments: {'met' if ok else 'NOT met'}")
        if r and isinstance(r["baselines"], dict):
            worst = max(r["multilevel"][f"cpu{h}"] for h in hs)
            lc = r["baselines"]["leiden_cpu"]
            print(f"- time at {n:,} vs Leiden 2-level: slowest height {worst:.2f} s CPU vs {lc:.2f} s: {'met' if worst <= lc else 'NOT met'}")
    if 10_000 in by_n and 50_000 in by_n:
        a, b = by_n[10_000]["multilevel"], by_n[50_000]["multilevel"]
        for h in hs:
            e = math.log(b[f"cpu{h}"] / a[f"cpu{h}"]) / math.log(b["edges"] / a["edges"])
            print(f"- growth exponent in edges, 10,000 -> 50,000 skills, h={h}: {e:.2f} (target <= 1.15: {'met' if e <= 1.15 else 'NOT met'})")
        worst = max(b[f"cpu{h}"] for h in hs)
        print(f"- 50,000 skills / {b['edges']:,} edges: slowest height {worst:.1f} s CPU (target < 15 s: {'met' if worst < 15 else 'NOT met'})")


if __name__ == "__main__":
    sys.exit(main())

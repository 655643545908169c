"""Tree-building benchmark: our `build_tree` vs a port of the reference STEPS greedy.

Usage: .venv/bin/python benchmarks/bench_taxonomy.py [--sizes 300,1000,3000,20000]
       [--heights 4,5] [--ref-max 1000] [--ref-timeout 300] [--seed 0] [--mem-gb 10]

Synthetic hierarchical tag data from `steps_engine.taxonomy.planted.planted_graph` (8 top groups x 6
subgroups, Zipf popularity 0.8, 2-5 skills a row, "steps" weighting); the row counts below put
the edge counts near the issue's anchors (1,000 skills / 54k edges, 3,000 / 203k, 20,000 / ~2M).
Every measurement runs in its own subprocess, so peak RSS (getrusage ru_maxrss) is per job:
  ours  graph build, H^1, build_tree at each height (numba warmed first), H^T
  ref   benchmarks/reference_greedy.py at one height (dense, sizes <= --ref-max only, killed
        after --ref-timeout seconds); its H^T is computed by steps_engine.taxonomy.entropy
  cold  numba compile time of build_tree with an empty cache (NUMBA_CACHE_DIR in a temp dir)
Each job runs under an address-space limit (--mem-gb, default 10) so a runaway cannot take the
shared machine down; a job that fails or times out is reported in the table, not fatal.
Prints markdown tables with the machine, the date and the load average.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
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
ROWS = {300: 20_000, 1_000: 95_000, 3_000: 200_000, 20_000: 1_100_000}
PLANTED = {"zipf": 0.8}


def rows_for(n_skills: int) -> int:
    return ROWS.get(n_skills, max(2_000, 95 * n_skills))


# ---------------------------------------------------------------- jobs (run in subprocesses)


def job_cold() -> dict:
    t = time.perf_counter()
    from steps_engine.taxonomy.partition import build_tree
    from steps_engine.taxonomy.planted import planted_graph

    t_import = time.perf_counter() - t
    g = planted_graph(100, 1_000, seed=1)
    t = time.perf_counter()
    build_tree(g, height=3)
    return {"import_s": t_import, "first_call_s": time.perf_counter() - t}


def job_ours(n: int, heights: list[int], seed: int) -> dict:
    from steps_engine.taxonomy.entropy import one_dim_entropy, structural_entropy
    from steps_engine.taxonomy.partition import build_tree
    from steps_engine.taxonomy.planted import planted_graph

    t = time.perf_counter()
    build_tree(planted_graph(100, 1_000, seed=1), height=max(heights))  # numba: load/compile
    warm = time.perf_counter() - t
    t = time.perf_counter()
    g = planted_graph(n, rows_for(n), seed=seed, **PLANTED)
    out = {"warm_s": warm, "graph_s": time.perf_counter() - t, "skills": g.n_skills, "edges": g.n_edges}
    out["h1"] = one_dim_entropy(g)
    for h in sorted(heights, reverse=True):
        t, c = time.perf_counter(), time.process_time()
        tree = build_tree(g, height=h)
        out[f"t{h}"] = time.perf_counter() - t
        out[f"cpu{h}"] = time.process_time() - c
        out[f"H{h}"] = structural_entropy(g, tree)
        out[f"height{h}"] = tree.height
    out["rss_mb"] = peak_rss_mb()
    return out


def job_ref(n: int, height: int, seed: int) -> dict:
    from reference_greedy import reference_tree

    from steps_engine.taxonomy.entropy import structural_entropy
    from steps_engine.taxonomy.planted import planted_graph

    g = planted_graph(n, rows_for(n), seed=seed, **PLANTED)
    t, c = time.perf_counter(), time.process_time()
    tree = reference_tree(g, height)
    took, cpu = time.perf_counter() - t, time.process_time() - c
    return {"t": took, "cpu": cpu, "H": structural_entropy(g, tree), "height": tree.height, "rss_mb": peak_rss_mb()}


def run_job(args: list[str], timeout: float | None = None, env: dict | None = None) -> dict | str:
    """Run this script as `--job ...`; the last stdout line is the JSON result.
    A string ("timeout", "failed: ...") when the job did not finish."""
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
    load = os.getloadavg()[0]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return "timeout"
    if p.returncode != 0:
        tail = (p.stderr.strip().splitlines() or ["no message"])[-1]
        print(f"job {args} failed (exit {p.returncode}):\n{p.stderr[-2000:]}", file=sys.stderr, flush=True)
        return f"failed (exit {p.returncode}: {tail[:80]})"
    res = json.loads(p.stdout.strip().splitlines()[-1])
    res["load_before"] = load
    return res


# ---------------------------------------------------------------- report


def fmt_s(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 100 else f"{x:.0f}"


def fmt_wc(wall: float, cpu: float) -> str:
    return f"{fmt_s(wall)} ({fmt_s(cpu)})"


def fmt_h(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="300,1000,3000,20000")
    ap.add_argument("--heights", default="4,5")
    ap.add_argument("--ref-max", type=int, default=1_000, help="largest size to run the dense reference port on")
    ap.add_argument("--ref-timeout", type=float, default=300.0, help="seconds before a reference run is skipped")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mem-gb", type=float, default=10.0, help="address-space limit per job (shared machine)")
    ap.add_argument("--job", choices=["cold", "ours", "ref"], help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--height", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s]
        heights = [int(h) for h in args.heights.split(",") if h]
    except ValueError:
        ap.error(f"--sizes and --heights take comma-separated integers, got {args.sizes!r}, {args.heights!r}")
    if any(s < 48 for s in sizes) or any(h < 1 for h in heights):
        ap.error("sizes must be >= 48 (planted groups) and heights >= 1")

    if args.job:
        limit = int(args.mem_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if args.job == "cold":
        print(json.dumps(job_cold()))
        return 0
    if args.job == "ours":
        print(json.dumps(job_ours(args.n, heights, args.seed)))
        return 0
    if args.job == "ref":
        print(json.dumps(job_ref(args.n, args.height, args.seed)))
        return 0

    started = dt.datetime.now(dt.timezone.utc)
    load_start = os.getloadavg()
    common = ["--heights", args.heights, "--seed", str(args.seed), "--mem-gb", str(args.mem_gb)]
    with tempfile.TemporaryDirectory() as cache:
        cold = run_job(["--job", "cold", *common], env={**os.environ, "NUMBA_CACHE_DIR": cache})
    print(f"cold numba compile: {cold}", file=sys.stderr, flush=True)
    results = []
    for n in sizes:
        ours = run_job(["--job", "ours", "--n", str(n), *common])
        ref: dict[int, dict | str] = {}
        for h in heights:
            if n > args.ref_max:
                ref[h] = "not run"
            else:
                ref[h] = run_job(["--job", "ref", "--n", str(n), "--height", str(h), *common], timeout=args.ref_timeout)
        results.append((n, ours, ref))
        print(f"{n} skills done: {json.dumps(ours)} ref={json.dumps(ref)}", file=sys.stderr, flush=True)
    report(started, load_start, os.getloadavg(), cold, results, sorted(heights))
    return 0


def git_state() -> str:
    def git(*a: str) -> str:
        p = subprocess.run(["git", "-C", str(ROOT), *a], capture_output=True, text=True)
        return p.stdout.strip() if p.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "steps_engine/partition.py", "steps_engine/entropy.py")
    return f"commit {head}" + (" (partition.py/entropy.py modified in the working tree)" if dirty else "")


def report(started, load_start, load_end, cold, results, hs: list[int]) -> None:
    ok = [(n, o, r) for n, o, r in results if isinstance(o, dict)]
    loads = [load_start[0], load_end[0]] + [o["load_before"] for _, o, _ in ok]
    print(f"## Tree-building benchmark ({started:%Y-%m-%d %H:%M} UTC, {git_state()})\n")
    print(
        f"Machine: {os.cpu_count()} CPUs ({cpu_model()}), Python {platform.python_version()}; "
        f"load average (1 min) {load_start[0]:.2f} at start, {load_end[0]:.2f} at end, "
        f"max {max(loads):.2f} before a job."
    )
    if max(loads) > 1.0:
        print("The machine was shared with other work during the run (load average > 1), so wall times are pessimistic.")
    cold_txt = (
        f"{cold['first_call_s']:.1f} s (empty cache; import {cold['import_s']:.1f} s)" if isinstance(cold, dict) else cold
    )
    print(
        f"Numba: cold compile of build_tree {cold_txt}; with the on-disk cache, warm-up per process: "
        + ", ".join(f"{fmt_s(o['warm_s'])} s" for _, o, _ in ok)
        + ". Timings below exclude both; build times are wall-clock seconds with the process's CPU "
        "seconds in brackets (the builders are single-threaded, so CPU time is roughly what an idle machine "
        "would show). Graph build = synthetic rows + pair counting + weights.\n"
    )
    print(
        "| skills | rows | edges | graph build s | "
        + " | ".join(f"ours h={h} s" for h in hs)
        + " | "
        + " | ".join(f"reference h={h} s" for h in hs)
        + " | peak RSS ours MB | peak RSS reference MB |"
    )
    print("|" + "---:|" * (6 + 2 * len(hs)))
    for n, o, ref in results:
        ref_t = [fmt_wc(r["t"], r["cpu"]) if isinstance(r, dict) else r for r in (ref[h] for h in hs)]
        ref_rss = [r["rss_mb"] for r in ref.values() if isinstance(r, dict)]
        rss_ref = f"{max(ref_rss):.0f}" if ref_rss else "-"
        if not isinstance(o, dict):
            print(f"| {n:,} | {rows_for(n):,} | {o} | - | " + " | ".join("-" for _ in hs) + " | " + " | ".join(ref_t) + f" | - | {rss_ref} |")
            continue
        print(
            f"| {o['skills']:,} | {rows_for(n):,} | {o['edges']:,} | {fmt_s(o['graph_s'])} | "
            + " | ".join(fmt_wc(o[f"t{h}"], o[f"cpu{h}"]) for h in hs)
            + " | "
            + " | ".join(ref_t)
            + f" | {o['rss_mb']:.0f} | {rss_ref} |"
        )
    print(
        "\nStructural entropy in bits (H^1 = root -> skills; lower H^T is better; both trees scored by "
        "steps_engine.taxonomy.entropy.structural_entropy on the same graph):\n"
    )
    print("| skills | H^1 | " + " | ".join(f"ours H^T h={h} | reference H^T h={h}" for h in hs) + " | ours <= reference |")
    print("|" + "---:|" * (2 + 2 * len(hs)) + ":---:|")
    worse = []
    for n, o, ref in ok:
        cells, verdict = [], []
        for h in hs:
            r = ref[h]
            rh = r["H"] if isinstance(r, dict) else None
            cells += [fmt_h(o[f"H{h}"]), fmt_h(rh) if rh is not None else r]
            if rh is not None:
                better = o[f"H{h}"] <= rh + 1e-9
                verdict.append("yes" if better else "NO")
                if not better:
                    worse.append((n, h, o[f"H{h}"], rh))
        print(f"| {o['skills']:,} | {fmt_h(o['h1'])} | " + " | ".join(cells) + f" | {', '.join(verdict) or '-'} |")
    print("\nTargets (2 cores): 3,000 skills < 2 s; 20,000 skills / ~2M edges < 30 s; entropy <= reference.")
    h = max(hs)
    for n, o, _ in results:
        if n not in (3_000, 20_000):
            continue
        target = 2.0 if n == 3_000 else 30.0
        if not isinstance(o, dict):
            print(f"- {n:,} skills, height {h}: {o}: NOT met")
            continue
        met = "met" if o[f"t{h}"] < target else "NOT met"
        print(
            f"- {n:,} skills, height {h}: {fmt_s(o[f't{h}'])} s wall ({fmt_s(o[f'cpu{h}'])} s CPU) "
            f"vs < {target:.0f} s: {met} (wall clock)"
        )
    for n, hh, ours_h, ref_h in worse:
        print(f"- our entropy is higher than the reference port's: {n:,} skills, height {hh}: {ours_h:.6f} > {ref_h:.6f}")
    if not worse:
        print("- our entropy <= the reference port's at every size and height where the port ran")

if __name__ == "__main__":
    sys.exit(main())

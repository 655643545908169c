"""Benchmark: the dataset mode (`selection.budget`) asked for far more combinations than exist.

    .venv/bin/python benchmarks/bench_selection_budget.py [--budget 100000] [--feasible 1000,5000]
                                                          [--repeat 3] [--compare OLD_CHECKOUT]

On the bundled demo and the shared real sets (Instruct-SkillMix, IFEval; built here with the
default builder, height 4) it runs `select_combinations` with the studio's settings (k = 3,
level:1, beam 100, pair cap 3) and the CLI's (`steps combos --budget`: local, beam 20), for the
budget asked, for "found + 10" (just above what exists) and, with the studio's settings, for the
`--feasible` budgets (those below what exists are met in full). It prints
CPU and wall seconds, how many were found, the last progress call (done, total) and a digest of
the combinations. `--compare DIR` runs the same in a subprocess on the code in DIR (e.g. a
`git archive` of the previous commit) first, so both sets of figures come from the same minute.
Numba is warmed up before timing; `--repeat N` keeps the fastest of N runs (CPU seconds).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(Path(__file__).resolve().parent))

SETTINGS = {"studio": dict(k=3, scope="level:1", beam=100), "cli": dict(k=3, scope="local", beam=None)}


def contexts(names):
    from steps_engine.data.ingest import FieldMapping
    from steps_engine.demo import DEMO_PATH, demo_mapping
    from steps_engine.selection.search import Constraints, prepare
    from steps_engine.taxonomy.build import build_taxonomy

    sources = {"demo": (DEMO_PATH, demo_mapping()),
               "instruct_skillmix": (DATA / "instruct_skillmix" / "ism_sda_k2_1000.json",
                                     FieldMapping("skills_joined_str", ", ")),
               "ifeval": (DATA / "ifeval" / "input_data.jsonl", FieldMapping("instruction_id_list"))}
    for name in names:
        path, mapping = sources[name]
        if not Path(path).exists():
            print(f"# {name}: {path} not found, skipped", file=sys.stderr)
            continue
        tax = build_taxonomy(path, mapping, height=4, name_rows=0)
        yield name, prepare(tax.tree, tax.graph, Constraints(k=3))


def one(ctx, budget, k, scope, beam, repeat=1) -> dict:
    from steps_engine.selection.combos import select_combinations

    cpu = wall = float("inf")
    for _ in range(repeat):
        calls = []
        c0, w0 = time.process_time(), time.perf_counter()
        run = select_combinations(ctx, k, scope=scope, beam=beam, budget=budget,
                                  progress=lambda d, t: calls.append((d, t)))
        cpu, wall = min(cpu, time.process_time() - c0), min(wall, time.perf_counter() - w0)
    blob = "".join(json.dumps(c.to_json(), sort_keys=True) + "\n" for c in run.combinations).encode("utf-8")
    return {"budget": budget, "found": len(run.combinations), "cpu": round(cpu, 2), "wall": round(wall, 2),
            "last_progress": list(calls[-1]) if calls else None, "digest": hashlib.sha256(blob).hexdigest()[:12],
            "shortfall": run.shortfall[0] if run.shortfall else None}


def measure(names, budget, feasible=(), repeat=1) -> list[dict]:
    from steps_engine.selection.combos import select_combinations

    rows = []
    for name, ctx in contexts(names):
        select_combinations(ctx, 3, scope="level:1", budget=5)  # numba warm-up
        select_combinations(ctx, 3, scope="local", budget=5)
        for label, kw in SETTINGS.items():
            big = one(ctx, budget, **kw, repeat=repeat)
            rows.append({"set": name, "settings": label, **big})
            mid = one(ctx, big["found"] + 10, **kw, repeat=repeat)  # just above what exists
            rows.append({"set": name, "settings": label, **mid})
            if label == "studio":
                for b in feasible:
                    rows.append({"set": name, "settings": label, **one(ctx, b, **kw, repeat=repeat)})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", type=int, default=100_000)
    ap.add_argument("--sets", default="demo,instruct_skillmix,ifeval")
    ap.add_argument("--feasible", default="1000,5000", help="more budgets for the studio's settings")
    ap.add_argument("--repeat", type=int, default=1, help="keep the fastest of this many runs")
    ap.add_argument("--compare", default=None, help="a checkout of other code to measure first, in a subprocess")
    ap.add_argument("--json-rows", action="store_true", help=argparse.SUPPRESS)  # the subprocess's output
    args = ap.parse_args()
    names = [s for s in args.sets.split(",") if s]
    feasible = [int(b) for b in args.feasible.split(",") if b]
    if args.json_rows:
        print(json.dumps(measure(names, args.budget, feasible, args.repeat)))
        return 0
    from _machine import machine_line

    print(f"# {machine_line()}; load average {os.getloadavg()[0]:.2f} at the start")
    old = None
    if args.compare:
        env = {**os.environ, "PYTHONPATH": str(Path(args.compare).resolve())}
        got = subprocess.run([sys.executable, __file__, "--budget", str(args.budget), "--sets", args.sets,
                              "--feasible", args.feasible, "--repeat", str(args.repeat), "--json-rows"],
                             env=env, capture_output=True, text=True, check=True)
        old = json.loads(got.stdout.strip().splitlines()[-1])
    new = measure(names, args.budget, feasible, args.repeat)
    print("| set | settings | budget | found | CPU s | wall s | last progress | digest |" +
          (" before: found | CPU s | last progress | digest |" if old else ""))
    print("|---|---|---:|---:|---:|---:|---|---|" + ("---:|---:|---|---|" if old else ""))
    for i, r in enumerate(new):
        line = (f"| {r['set']} | {r['settings']} | {r['budget']:,} | {r['found']:,} | {r['cpu']} | {r['wall']} | "
                f"{tuple(r['last_progress']) if r['last_progress'] else '-'} | {r['digest']} |")
        if old:
            o = old[i]
            line += (f" {o['found']:,} | {o['cpu']} | {tuple(o['last_progress']) if o['last_progress'] else '-'} | "
                     f"{o['digest']} |")
        print(line)
    print(f"# load average {os.getloadavg()[0]:.2f} at the end")
    for r in new:
        if r["budget"] == args.budget and r["shortfall"]:
            print(f"# {r['set']} {r['settings']}: {r['shortfall']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

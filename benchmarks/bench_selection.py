"""Benchmark: skill-combination selection for every start of a 3,000-skill taxonomy.

    .venv/bin/python benchmarks/bench_selection.py [--skills 3000] [--k 7] [--beam 100]

Builds a synthetic taxonomy (planted hierarchical tag data -> weighted graph ->
partition.build_tree, height 5), then times `select_combinations` over all starts, one
combination each: `local` (beam search) and `level:1` (exact tree knapsack), plus `global`
exact and the baselines for reference. Numba compilation is warmed up first and excluded.
Prints a markdown table with the machine and date; `--real` adds a strategy comparison on
the shared IFEval and Instruct-SkillMix data (k = 3).

`--budget N` instead measures the dataset mode (`selection.budget`) against the issue's
targets in `level:1` and `local` (default settings), a trade-off table over reuse discounts
beside random and per-start, and with `--budget-other` other planted seeds / sizes and the
real sets (budget = 3 x skills there). CPU seconds and the load average are printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _machine import cpu_model  # noqa: E402
from steps_engine.selection.combos import select_combinations  # noqa: E402
from steps_engine.selection.search import best_combination, prepare  # noqa: E402
from steps_engine.selection.strategies import combination_metrics  # noqa: E402


def build(n_skills: int, height: int, seed: int, rows: int | None = None):
    from steps_engine.taxonomy.partition import build_tree
    from steps_engine.taxonomy.planted import planted_graph

    graph = planted_graph(n_skills, rows or 20 * n_skills, seed=seed)
    tree = build_tree(graph, height=height)
    return graph, tree


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skills", type=int, default=3000)
    ap.add_argument("--height", type=int, default=5)
    ap.add_argument("--rows", type=int, default=None,
                    help="planted rows (default 20 x skills; 200,000 at 3,000 skills gives ~205k edges, the issue's anchor)")
    ap.add_argument("--k", type=int, default=7)
    ap.add_argument("--beam", type=int, default=None, help="default 100 (per start), 20 (budget mode)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="only the two target runs")
    ap.add_argument("--real", action="store_true", help="also compare strategies on ../shared/data taxonomies")
    ap.add_argument("--budget", type=int, default=None, help="measure the dataset (budget) mode instead")
    ap.add_argument("--discounts", default="0.5,0.8,0.9,0.95,0.97,0.99",
                    help="reuse discounts for the budget trade-off table ('' = none)")
    ap.add_argument("--budget-other", action="store_true", help="budget mode on other seeds, sizes and real data")
    ap.add_argument("--only-other", action="store_true", help="with --budget-other: skip the main budget table")
    ap.add_argument("--scopes", default="level:1,local", help="budget mode: scopes to measure")
    ap.add_argument("--no-slow-rows", action="store_true",
                    help="budget mode: skip the start-not-counted row (minutes: many exact next-best searches)")
    args = ap.parse_args()
    if args.budget is not None:
        return budget_main(args)

    t0 = time.perf_counter()
    graph, tree = build(args.skills, args.height, args.seed, args.rows)
    t_build = time.perf_counter() - t0
    ctx = prepare(tree, graph)
    flat = ctx.flat
    top = tree.children()[0]
    sizes = sorted((int(flat.leaf_hi[a] - flat.leaf_lo[a]) for a in top), reverse=True)

    t0 = time.perf_counter()  # warm-up: numba compile / cache load
    for scope in ("local", "level:1"):
        best_combination(ctx, 0, args.k, scope, beam=args.beam or 100)
    t_warm = time.perf_counter() - t0

    args.beam = args.beam or 100
    runs = [("steps", "local", f"beam {args.beam}, max level 1", "< 30 s"),
            ("steps", "level:1", "exact (tree knapsack)", "< 10 s")]
    if not args.quick:
        runs += [("steps", "global", "exact (tree knapsack)", ""),
                 ("random", "level:1", "uniform in scope", ""),
                 ("cooccur", "level:1", "co-occurrence walk in scope", "")]
    rows = []
    for strategy, scope, note, target in runs:
        t0 = time.perf_counter()
        run = select_combinations(ctx, args.k, starts="all", per_start=1, scope=scope, strategy=strategy,
                                  beam=args.beam, seed=args.seed)
        sec = time.perf_counter() - t0
        m = combination_metrics(ctx, run.combinations)
        rows.append((strategy, scope, note, run.starts, len(run.combinations), sec, target, m))
        print(f"{strategy} {scope}: {sec:.2f} s", file=sys.stderr)

    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"Machine: {cpu_model()}, {os.cpu_count()} cores; Python {platform.python_version()}; {now}")
    print(f"Taxonomy: {flat.n_leaves} skills, {graph.n_edges} edges, {tree.n_nodes} nodes, height {tree.height}, "
          f"{len(top)} top-level clusters (largest {sizes[:3]}); built in {t_build:.1f} s; "
          f"numba warm-up {t_warm:.1f} s (excluded). k = {args.k}, one combination per start, global de-dup on.")
    print()
    print("| strategy | scope | search | starts | combinations | seconds | per start (ms) | target | mean gain (bits) "
          "| mean LCA depth | unseen pairs | skill coverage |")
    print("|---|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|")
    for strategy, scope, note, starts, n, sec, target, m in rows:
        print(f"| {strategy} | {scope} | {note} | {starts} | {n} | {sec:.2f} | {1000 * sec / max(starts, 1):.2f} "
              f"| {target} | {m['mean_gain']:.4f} | {m['mean_lca_depth']:.2f} | {m['unseen_pair_fraction']:.1%} "
              f"| {m['skill_coverage']:.1%} |")
    if args.real:
        real_data_table(args.seed)
    return 0


def real_data_table(seed: int) -> None:
    """Strategies side by side on the shared real datasets (k = 3, one combination per skill)."""
    from steps_engine.data.ingest import FieldMapping
    from steps_engine.taxonomy.build import ingest_graph
    from steps_engine.taxonomy.partition import build_tree

    data = Path(__file__).resolve().parents[2] / "shared" / "data"
    sets = [("IFEval", data / "ifeval" / "input_data.jsonl", FieldMapping("instruction_id_list")),
            ("Instruct-SkillMix", data / "instruct_skillmix" / "ism_sda_k2_1000.json",
             FieldMapping("skills_joined_str", ", "))]
    print()
    print("| data | skills | strategy | scope | combinations | mean gain (bits) | mean LCA depth | unseen pairs "
          "| skill coverage | seconds |")
    print("|---|---:|---|---|---:|---:|---:|---:|---:|---:|")
    for name, path, mapping in sets:
        if not path.exists():
            continue
        graph, _, _ = ingest_graph(path, mapping)
        ctx = prepare(build_tree(graph, height=4), graph)
        for strategy in ("steps", "random", "cooccur"):
            for scope in ("local", "level:1", "global"):
                t0 = time.perf_counter()
                run = select_combinations(ctx, 3, scope=scope, strategy=strategy, seed=seed)
                sec = time.perf_counter() - t0
                m = combination_metrics(ctx, run.combinations)
                print(f"| {name} | {ctx.flat.n_leaves} | {strategy} | {scope} | {m['combinations']} "
                      f"| {m['mean_gain']:.4f} | {m['mean_lca_depth']:.2f} | {m['unseen_pair_fraction']:.1%} "
                      f"| {m['skill_coverage']:.1%} | {sec:.2f} |")


def _budget_row(ctx, k, budget, scope, strategy="steps", **kw):
    t0, c0 = time.perf_counter(), time.process_time()
    if budget is None:
        run = select_combinations(ctx, k, scope=scope, strategy=strategy, **kw)
    else:
        run = select_combinations(ctx, k, scope=scope, strategy=strategy, budget=budget, **kw)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    from steps_engine.selection.budget import default_reuse_discount

    m = combination_metrics(ctx, run.combinations, default_reuse_discount(scope))  # F at the scope's default
    return m, wall, cpu, run


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def budget_main(args) -> int:
    if args.only_other:
        budget_other(args)
        return 0
    from steps_engine.selection.budget import (DEFAULT_LEAF_DISCOUNT, DEFAULT_LOCAL_REUSE_DISCOUNT,
                                               DEFAULT_MAX_PAIR_USES, DEFAULT_REUSE_DISCOUNT, default_reuse_discount)

    graph, tree = build(args.skills, args.height, args.seed, args.rows)
    ctx = prepare(tree, graph)
    select_combinations(ctx, args.k, scope="local", budget=3, beam=args.beam)  # numba warm-up
    select_combinations(ctx, args.k, scope="level:1", budget=3)
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"Machine: {cpu_model()}, {os.cpu_count()} cores; Python {platform.python_version()}; {now}; "
          f"load average at start {_load()}")
    print(f"Planted taxonomy: {ctx.flat.n_leaves} skills, {graph.n_edges} edges, height {tree.height}, seed {args.seed}; "
          f"k = {args.k}, budget {args.budget}; defaults: reuse discount {DEFAULT_REUSE_DISCOUNT} "
          f"(local {DEFAULT_LOCAL_REUSE_DISCOUNT}), leaf discount {DEFAULT_LEAF_DISCOUNT}, "
          f"max pair uses {DEFAULT_MAX_PAIR_USES}, start counted (path; local: leaf), beam {args.beam or 'default (20)'}")
    print()
    print("| scope | run | combinations | seconds (wall) | CPU s | mean gain | x random | max skill share "
          "| max pair uses | usage efficiency | objective F |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for scope in args.scopes.split(","):
        rand, *_ = _budget_row(ctx, args.k, args.budget, scope, "random", seed=args.seed)
        rows = [("random (budget)", rand, None, None),
                ("per start (paper)", *_budget_row(ctx, args.k, None, scope, beam=args.beam)[:3])]
        m, wall, cpu, _ = _budget_row(ctx, args.k, args.budget, scope, beam=args.beam, seed=args.seed)
        rows.append(("**budget, defaults**", m, wall, cpu))
        for g in [float(x) for x in args.discounts.split(",") if x.strip()]:
            if g == default_reuse_discount(scope):
                continue
            m2, w2, c2, _ = _budget_row(ctx, args.k, args.budget, scope, beam=args.beam, seed=args.seed,
                                        reuse_discount=g)
            rows.append((f"budget, discount {g}", m2, w2, c2))
        m3, w3, c3, _ = _budget_row(ctx, args.k, args.budget, scope, beam=args.beam, seed=args.seed,
                                    max_pair_uses=None)
        rows.append(("budget, no pair cap", m3, w3, c3))
        other = "path" if scope == "local" else "leaf"
        m6, w6, c6, _ = _budget_row(ctx, args.k, args.budget, scope, beam=args.beam, seed=args.seed,
                                    count_start=other)
        rows.append((f"budget, start counted as its {other}", m6, w6, c6))
        if not args.no_slow_rows:
            m4, w4, c4, _ = _budget_row(ctx, args.k, args.budget, scope, beam=args.beam, seed=args.seed,
                                        count_start=False)
            rows.append(("budget, start not counted", m4, w4, c4))
        m5, w5, c5, _ = _budget_row(ctx, args.k, args.budget, scope, beam=args.beam, seed=args.seed,
                                    leaf_discount=None)
        rows.append(("budget, leaf discount = node discount", m5, w5, c5))
        for name, mm, wall, cpu in rows:
            ws = "" if wall is None else f"{wall:.1f}"
            cs = "" if cpu is None else f"{cpu:.1f}"
            print(f"| {scope} | {name} | {mm['combinations']} | {ws} | {cs} | {mm['mean_gain']:.4f} "
                  f"| {mm['mean_gain'] / rand['mean_gain']:.2f} | {mm['max_skill_share']:.2%} | {mm['max_pair_uses']} "
                  f"| {mm['usage_efficiency']:.3f} | {mm['objective']:.2f} |", flush=True)
    print(f"\nload average at the end {_load()}")
    if args.budget_other:
        budget_other(args)
    return 0


def budget_other(args) -> None:
    """Default settings on data the defaults were not chosen on."""
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"\nMachine: {cpu_model()}, {os.cpu_count()} cores; {now}; load average at start {_load()}; "
          f"k = {args.k} planted (height {args.height}, budget = skills), k = 3 real (height 4, budget = 3 x skills)")
    print()
    print("| data | skills | scope | budget | combinations | seconds (wall) | CPU s | mean gain | x random "
          "| max skill share | max pair uses | usage efficiency |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    cases = [(f"planted seed {s}", *build(n, args.height, s)) for n, s in ((3000, 1), (3000, 2), (1000, 3), (6000, 4))]
    for name, graph, tree in cases:
        ctx = prepare(tree, graph)
        _budget_table_rows(ctx, f"{name}, {graph.n_edges} edges", args.k, ctx.flat.n_leaves, args)
    from steps_engine.data.ingest import FieldMapping
    from steps_engine.taxonomy.build import ingest_graph
    from steps_engine.taxonomy.partition import build_tree

    data = Path(__file__).resolve().parents[2] / "shared" / "data"
    for name, path, mapping in [("IFEval", data / "ifeval" / "input_data.jsonl", FieldMapping("instruction_id_list")),
                                ("Instruct-SkillMix", data / "instruct_skillmix" / "ism_sda_k2_1000.json",
                                 FieldMapping("skills_joined_str", ", "))]:
        if path.exists():
            graph, _, _ = ingest_graph(path, mapping)
            ctx = prepare(build_tree(graph, height=4), graph)
            _budget_table_rows(ctx, name, 3, 3 * ctx.flat.n_leaves, args)
    print(f"\nload average at the end {_load()}")


def _budget_table_rows(ctx, name, k, budget, args):
    for scope in args.scopes.split(","):
        rand, *_ = _budget_row(ctx, k, budget, scope, "random", seed=args.seed)
        m, wall, cpu, run = _budget_row(ctx, k, budget, scope, beam=args.beam, seed=args.seed)
        short = " (short: " + run.shortfall[0].split(":")[0] + ")" if run.shortfall else ""
        print(f"| {name} | {ctx.flat.n_leaves} | {scope} | {budget} | {m['combinations']}{short} | {wall:.1f} | {cpu:.1f} "
              f"| {m['mean_gain']:.4f} | {m['mean_gain'] / max(rand['mean_gain'], 1e-12):.2f} "
              f"| {m['max_skill_share']:.2%} | {m['max_pair_uses']} | {m['usage_efficiency']:.3f} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())

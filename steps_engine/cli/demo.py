"""`steps demo --out DIR`: the whole pipeline on the bundled demo (dry run, no key)."""

from __future__ import annotations

import json
import sys

from steps_engine.cli import EXIT_NOTHING_DONE, EXIT_OK, EXIT_PARTIAL, CLIError
from steps_engine.cli.progress import StageProgress


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="run taxonomy, combinations and a dry-run synthesis on the bundled demo")
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--k", type=int, default=3, help="skills per combination (default 3)")
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


def run(args) -> int:
    from steps_engine.demo import run_demo

    if args.k < 2:
        raise CLIError(f"--k must be >= 2, got {args.k}")
    progress = StageProgress(enabled=not args.quiet)
    try:
        summary = run_demo(args.out, k=args.k, progress=progress)
    except (ValueError, OSError) as exc:
        raise CLIError(str(exc)) from None
    finally:
        progress.close()
    rows = [
        (f"steps, budget {summary['budget']} (dataset)", summary["steps_metrics"]),
        ("steps, one per start (paper)", summary["steps_level1_metrics"]),
        (f"random, budget {summary['budget']}", summary["random_metrics"]),
    ]
    table = "\n".join(
        f"  {name:<30} {m['combinations']:>4} combos, mean gain {m['mean_gain']:.4f} bits, "
        f"most-used skill in {m['max_skill_share']:.1%}, usage efficiency {m['usage_efficiency']:.3f}, "
        f"never-seen pairs {m['unseen_pair_fraction']:.0%}"
        for name, m in rows
    )
    for reason in summary["shortfall"]:
        print(reason, file=sys.stderr)
    print(
        f"demo: {summary['skills']} skills, {summary['edges']} edges -> {summary['top_level_clusters']} top-level "
        f"clusters, H^T = {summary['structural_entropy']:.3f} bits (H^1 = {summary['one_dim_entropy']:.3f})\n"
        f"combinations of k={args.k} skills, level:1 scope (written: {summary['combinations']}):\n{table}\n"
        f"prompts: {summary['prompts']}\nbatch input: {summary['batch_input']}\n"
        f"open the studio: STEPS_TAXONOMY={args.out} .venv/bin/streamlit run app.py"
    )
    if args.json:
        print(json.dumps(summary))
    if not summary["selected"]:
        return EXIT_NOTHING_DONE
    return EXIT_PARTIAL if summary["shortfall"] else EXIT_OK

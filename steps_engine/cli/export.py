"""`steps export RESULTS --format chat|sharegpt|alpaca|parquet --out PATH`: training files + card."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from steps_engine.cli import EXIT_NOTHING_DONE, EXIT_OK, CLIError


def add_parser(sub) -> None:
    from steps_engine.export import FORMATS, PRESETS

    p = sub.add_parser("export", help="export synthesis results for training, with a dataset card")
    p.add_argument("results", help="results JSONL from `steps synthesize`")
    p.add_argument("--format", required=True, choices=sorted(FORMATS), help="output format")
    p.add_argument("--out", required=True, help="output file; README.md (the card) is written beside it")
    p.add_argument("--curriculum", nargs="?", const="steps3", default=None, choices=sorted(PRESETS),
                   help="order records by k over epochs (preset, default steps3)")
    p.add_argument("--curriculum-weights", default=None, metavar="W",
                   help="per-epoch weights, e.g. '2:0.6,3:0.4;2:0.4,3:0.6' or 'low:0.6,mid:0.3,high:0.1;...'")
    p.add_argument("--seed", type=int, default=0, help="seed for the curriculum split and shuffle (default 0)")
    p.add_argument("--taxonomy", default=None, metavar="DIR", help="taxonomy folder, for skill coverage in the card")
    p.add_argument("--no-card", action="store_true", help="do not write README.md")
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    p.set_defaults(run=run)


def run(args) -> int:
    from steps_engine.export import export

    if Path(args.results).is_dir():
        raise CLIError(f"results {args.results} is a folder, expected the results JSONL file")
    if not Path(args.results).is_file():
        raise CLIError(f"results file not found: {args.results}")
    from steps_engine.synthesis.runner import read_results

    try:
        records, _ = read_results(args.results)
    except (ValueError, OSError) as exc:
        raise CLIError(str(exc)) from None
    if not any(r.get("status") == "ok" for r in records):
        statuses = Counter(str(r.get("status") or "no status") for r in records)
        shown = ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())) or "no readable records"
        raise CLIError(f"{args.results}: nothing to export, no record has status 'ok' ({shown}); "
                       "expected the results file of `steps synthesize`")
    curriculum = args.curriculum_weights or args.curriculum
    try:
        rep = export(args.results, fmt=args.format, out=args.out, curriculum=curriculum, seed=args.seed,
                     card=not args.no_card, taxonomy_dir=args.taxonomy)
    except (ValueError, OSError) as exc:
        raise CLIError(str(exc)) from None
    for p in rep.problems[:20]:
        print(p, file=sys.stderr)
    print(rep.summary())
    if args.json:
        print(json.dumps(rep.to_json()))
    return EXIT_NOTHING_DONE if rep.records == 0 else EXIT_OK

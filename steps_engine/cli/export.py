"""`steps export RESULTS --format chat|sharegpt|alpaca|parquet --out PATH`: training files + card."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from steps_engine.cli import EXIT_NOTHING_DONE, EXIT_OK, CLIError
from steps_engine.cli.args import print_first


def add_parser(sub) -> None:
    from steps_engine.export import FORMATS, PRESETS

    p = sub.add_parser("export", help="export synthesis results for training, with a dataset card")
    p.add_argument("results", help="results JSONL from `steps synthesize`")
    p.add_argument("--format", required=True, choices=sorted(FORMATS), help="output format")
    p.add_argument("--out", required=True, help="output file; README.md (the card) is written beside it "
                   "(- for stdout, JSONL formats only, no card)")
    p.add_argument("--curriculum", nargs="?", const="steps3", default=None, choices=sorted(PRESETS),
                   help="order records by k over epochs (preset, default steps3)")
    p.add_argument("--curriculum-weights", default=None, metavar="W",
                   help="per-epoch weights, e.g. '2:0.6,3:0.4;2:0.4,3:0.6' or 'low:0.6,mid:0.3,high:0.1;...'")
    p.add_argument("--seed", type=int, default=0, help="seed for the curriculum split and shuffle (default 0)")
    p.add_argument("--taxonomy", default=None, metavar="DIR", help="taxonomy folder, for skill coverage in the card")
    p.add_argument("--no-card", action="store_true", help="do not write README.md")
    p.add_argument("--license", default=None, help="license in the card's metadata, e.g. cc-by-4.0 (default: "
                   "the existing card's, else 'unknown')")
    p.add_argument("--push-to-hub", default=None, metavar="REPO",
                   help="then push the card and the folder's exported files to this Hub dataset repo "
                        "(token from HF_TOKEN or `hf auth login`; endpoint $HF_ENDPOINT)")
    p.add_argument("--private", action="store_true", help="create the Hub repo as private")
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    p.set_defaults(run=run)


def run(args) -> int:
    from steps_engine.export import export

    if args.push_to_hub and args.no_card:
        raise CLIError("--push-to-hub needs the dataset card (drop --no-card)")
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
    if args.out == "-":
        return _to_stdout(args, export, curriculum)
    try:
        rep = export(args.results, fmt=args.format, out=args.out, curriculum=curriculum, seed=args.seed,
                     card=not args.no_card, taxonomy_dir=args.taxonomy, license=args.license)
    except (ValueError, OSError) as exc:
        raise CLIError(str(exc)) from None
    print_first(rep.problems, "steps export: ... {n} more problems")
    print(rep.summary())
    summary = rep.to_json()
    if args.push_to_hub:
        from steps_engine.export.hub import push_to_hub

        try:
            summary["hub_commit"] = push_to_hub(Path(args.out).parent, args.push_to_hub, private=args.private)
        except ValueError as exc:
            raise CLIError(str(exc)) from None
        print(f"pushed to the Hub: {summary['hub_commit']}")
    if args.json:
        print(json.dumps(summary))
    return EXIT_NOTHING_DONE if rep.records == 0 else EXIT_OK


def _to_stdout(args, export, curriculum) -> int:
    """`--out -`: the records on stdout (JSONL formats), the summary on stderr, no card."""
    import shutil
    import tempfile

    if args.format == "parquet":
        raise CLIError("--out - needs a JSONL format (chat, sharegpt, alpaca); Parquet is binary, give a file")
    if args.push_to_hub:
        raise CLIError("--push-to-hub needs --out in a folder, not -")
    with tempfile.TemporaryDirectory(prefix="steps-export-") as tmp:
        try:
            rep = export(args.results, fmt=args.format, out=Path(tmp) / "out.jsonl", curriculum=curriculum,
                         seed=args.seed, card=False)
        except (ValueError, OSError) as exc:
            raise CLIError(str(exc)) from None
        with open(Path(tmp) / "out.jsonl", "rb") as fh:
            shutil.copyfileobj(fh, sys.stdout.buffer)
        sys.stdout.flush()
    print_first(rep.problems, "steps export: ... {n} more problems")
    print(f"{rep.records} records -> stdout ({rep.format})", file=sys.stderr)
    if args.json:
        print(json.dumps({**rep.to_json(), "out": "-"}), file=sys.stderr)
    return 0

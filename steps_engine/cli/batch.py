"""`steps batch submit|status|fetch FOLDER`: run a dry run's Batch files through the OpenAI Batch API."""

from __future__ import annotations

import json

from steps_engine.cli import EXIT_OK, EXIT_PARTIAL, CLIError
from steps_engine.cli.args import print_first

EPILOG = """examples:
  steps synthesize runs/tax --combos runs/tax/combos.jsonl --model gpt-4o-mini --dry-run --out runs/tax/results.jsonl
  OPENAI_API_KEY=... steps batch submit runs/tax          # upload + create one batch per input file
  OPENAI_API_KEY=... steps batch status runs/tax
  OPENAI_API_KEY=... steps batch fetch runs/tax --out runs/tax/results.jsonl --wait 3600
Each step is resumable: run it again after an interruption; nothing is sent or imported twice."""


def add_parser(sub) -> None:
    import argparse

    p = sub.add_parser("batch", help="submit a dry run's Batch files, poll them, fetch and import the answers",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=["submit", "status", "fetch"])
    p.add_argument("folder", help="the folder of the dry run (prompts.jsonl, batch_input*.jsonl)")
    p.add_argument("--base-url", default=None, help="OpenAI-compatible endpoint (default $OPENAI_BASE_URL or OpenAI)")
    p.add_argument("--out", default=None, help="fetch: results JSONL to import into (default FOLDER/results.jsonl)")
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS", help="fetch: poll until all batches finish or this long")
    p.add_argument("--poll", type=float, default=30.0, metavar="SECONDS", help="fetch: seconds between polls (default 30)")
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    p.set_defaults(run=run)


def run(args) -> int:
    from pathlib import Path

    from steps_engine.synthesis import batch_api

    folder = Path(args.folder)
    if not folder.is_dir():
        raise CLIError(f"{folder}: not a folder (give the folder of the dry run)")
    try:
        client = batch_api.openai_client(base_url=args.base_url)
        if args.action == "submit":
            parts = batch_api.submit(folder, client)
        elif args.action == "status":
            parts = batch_api.status(folder, client)
        else:
            out = Path(args.out) if args.out else folder / "results.jsonl"
            rep = batch_api.fetch(folder, client, out, wait=args.wait, poll_seconds=args.poll)
            print_first(rep.problems, "steps batch: ... {n} more problems")
            print(rep.summary())
            if args.json:
                print(json.dumps(rep.to_json()))
            return EXIT_PARTIAL if rep.pending else EXIT_OK
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    except Exception as exc:  # openai's APIError family and connection errors
        import openai

        if isinstance(exc, openai.OpenAIError):
            raise CLIError(f"Batch API: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}") from None
        raise
    for p in parts:
        counts = ", ".join(f"{k} {v}" for k, v in p.counts.items() if v is not None)
        print(f"{p.file}: {p.requests} requests, batch {p.batch_id or '-'} {p.status or 'not submitted'}"
              + (f" ({counts})" if counts else ""))
    if args.json:
        print(json.dumps([p.to_json() for p in parts]))
    return EXIT_OK

"""The `steps` command line. Each subcommand lives in its own module with
`add_parser(subparsers)` and `run(args) -> int`; this file only dispatches.

Conventions for every subcommand: `--version`; examples at the end of `--help`; `-v` / `-vv`
(INFO / DEBUG log lines on stderr through `logging`) and `-q` (warnings and errors only, no
progress), before or after the subcommand; with `--json` an error is also printed on stdout as
{"error", "command", "exit_code"}; progress is a bar on a terminal and periodic lines otherwise.
Exit codes: the EXIT_* constants below (README "Exit codes"); `steps batch fetch` returns
EXIT_PARTIAL while batches are still running.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys

SUBCOMMANDS = ["taxonomy", "combos", "synthesize", "batch", "check", "export", "tag", "demo", "name"]

EXAMPLES = {
    "taxonomy": """examples:
  steps taxonomy data.jsonl --skills-field label.ability_en --height 4 --out runs/tax
  steps taxonomy 'shards/*.parquet' --skills-field skills --out runs/tax --json
  steps taxonomy hf://datasets/ORG/NAME/data --skills-field label.ability_en --out runs/tax""",
    "combos": """examples:
  steps combos runs/tax --k 3 --starts all --scope level:1 --out runs/tax/combos.jsonl
  steps combos runs/tax --k 4 --starts tail:0.3 --scope local --out - | head""",
    "synthesize": """examples:
  steps synthesize runs/tax --combos runs/tax/combos.jsonl --model gpt-4o-mini --out runs/tax/results.jsonl --estimate
  steps synthesize runs/tax --combos runs/tax/combos.jsonl --model gpt-4o-mini --dry-run --out runs/tax/results.jsonl
  OPENAI_API_KEY=... steps synthesize runs/tax --combos runs/tax/combos.jsonl --model gpt-4o-mini \\
      --max-cost 5 --param 'response_format={"type":"json_object"}' --out runs/tax/results.jsonl""",
    "check": """examples:
  steps check runs/tax/results.jsonl --taxonomy runs/tax --out runs/tax/checked.jsonl
  steps check runs/tax/results.jsonl --out runs/tax/checked.jsonl --json""",
    "export": """examples:
  steps export runs/tax/results.jsonl --format chat --curriculum --out runs/tax/sft/sft.jsonl --license cc-by-4.0
  steps export runs/tax/results.jsonl --format sharegpt --out runs/tax/sft/sharegpt.jsonl --push-to-hub me/my-sft
  steps export runs/tax/results.jsonl --format chat --out - | head -n 1""",
    "tag": """examples:
  steps tag untagged.jsonl --vocab skills.txt --top-k 5 --out tagged.jsonl
  steps tag untagged.jsonl --vocab runs/tax --out tagged.jsonl --json""",
    "name": """examples:
  steps name runs/tax                                   # keyword names (c-TF-IDF over the rows' texts)
  OPENAI_API_KEY=... steps name runs/tax --model gpt-4o-mini""",
    "demo": """examples:
  steps demo --out runs/demo
  STEPS_TAXONOMY=runs/demo streamlit run app.py""",
}


# Exit statuses (README "Exit codes"): non-zero whenever the requested work did not happen.
EXIT_OK = 0  # the requested work was done (bad rows or records skipped and reported)
EXIT_ERROR = 1  # an unexpected error (a bug: please report the traceback)
EXIT_USAGE = 2  # bad arguments or unreadable input: nothing was done
EXIT_NOTHING_DONE = 3  # it ran, but produced nothing (every request failed, no answer imported, 0 records)
EXIT_PARTIAL = 4  # some of the work failed (e.g. failed requests); rerun to finish (--retry-failed)
EXIT_DRY_RUN = 5  # no API key: a dry run (prompts + Batch file) was written instead of sending requests
EXIT_INTERRUPTED = 130  # Ctrl-C
EXIT_BROKEN_PIPE = 141  # the reader of --out - closed the pipe (128 + SIGPIPE, what a shell reports)


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    from steps_engine import __version__

    parser = argparse.ArgumentParser(
        prog="steps", description="STEPS Studio engine: skill taxonomies, combinations, synthesis, export",
        epilog="examples:\n  steps demo --out runs/demo\n  steps taxonomy data.jsonl --skills-field skills --out runs/tax\n"
               "  steps COMMAND --help", formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"steps {__version__}")
    _log_flags(parser, argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"steps_engine.cli.{name}").add_parser(sub)
        sp = sub.choices[name]
        if name in EXAMPLES and not sp.epilog:
            sp.epilog = EXAMPLES[name]
            sp.formatter_class = argparse.RawDescriptionHelpFormatter
        _log_flags(sp, argparse.SUPPRESS)
    return parser


def _log_flags(p: argparse.ArgumentParser, default) -> None:
    p.add_argument("-v", "--verbose", action="count", dest="verbosity", default=default,
                   help="more log lines on stderr (-v info, -vv debug)")
    p.add_argument("-q", dest="log_quiet", action="store_true", default=default,
                   help="only warnings and errors, no progress")


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (tests and notebooks swap it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def setup_logging(verbosity: int, quiet: bool) -> None:
    level = logging.WARNING if quiet or not verbosity else (logging.INFO if verbosity == 1 else logging.DEBUG)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("steps: %(levelname)s %(name)s: %(message)s" if level == logging.DEBUG
                                           else "steps: %(message)s"))
    root = logging.getLogger("steps_engine")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
    except KeyboardInterrupt:  # Ctrl-C while the modules load: nothing started yet
        print("steps: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    quiet = bool(getattr(args, "log_quiet", False))
    setup_logging(int(getattr(args, "verbosity", 0) or 0), quiet)
    if quiet and hasattr(args, "quiet"):
        args.quiet = True  # -q also silences a subcommand's progress
    try:
        return int(args.run(args) or 0)
    except CLIError as exc:
        return _fail(args, str(exc), EXIT_USAGE)
    except BrokenPipeError:  # `steps ... --out - | head`: the reader left; stop quietly, as a shell tool does
        import os

        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        except (OSError, ValueError, AttributeError):  # a stdout with no file descriptor (a notebook, a test)
            pass
        return EXIT_BROKEN_PIPE
    except OSError as exc:  # unwritable --out, a folder where a file belongs, a full disk ...
        target = exc.filename2 or exc.filename
        reason = exc.strerror or str(exc)
        return _fail(args, reason + (f": {target}" if target else ""), EXIT_USAGE)
    except KeyboardInterrupt:
        print(f"steps {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _fail(args, message: str, code: int) -> int:
    print(f"steps {args.command}: error: {message}", file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps({"error": message, "command": args.command, "exit_code": code}))
    return code


if __name__ == "__main__":
    sys.exit(main())

"""The `steps` command line. Each subcommand lives in its own module with
`add_parser(subparsers)` and `run(args) -> int`; this file only dispatches."""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS = ["taxonomy", "combos", "synthesize", "check", "export", "tag", "demo", "name"]


# Exit statuses (README "Exit codes"): non-zero whenever the requested work did not happen.
EXIT_OK = 0  # the requested work was done (bad rows or records skipped and reported)
EXIT_ERROR = 1  # an unexpected error (a bug: please report the traceback)
EXIT_USAGE = 2  # bad arguments or unreadable input: nothing was done
EXIT_NOTHING_DONE = 3  # it ran, but produced nothing (every request failed, no answer imported, 0 records)
EXIT_PARTIAL = 4  # some of the work failed (e.g. failed requests); rerun to finish (--retry-failed)
EXIT_DRY_RUN = 5  # no API key: a dry run (prompts + Batch file) was written instead of sending requests
EXIT_INTERRUPTED = 130  # Ctrl-C


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="steps", description="STEPS Studio engine")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"steps_engine.cli.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except CLIError as exc:
        print(f"steps {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # unwritable --out, a folder where a file belongs, a full disk ...
        target = exc.filename2 or exc.filename
        reason = exc.strerror or str(exc)
        print(f"steps {args.command}: error: {reason}" + (f": {target}" if target else ""), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"steps {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())

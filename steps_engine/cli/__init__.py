"""The `steps` command line. Each subcommand lives in its own module with
`add_parser(subparsers)` and `run(args) -> int`; this file only dispatches."""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS = ["taxonomy", "combos", "synthesize", "check", "export", "tag", "demo"]


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
        return 2
    except OSError as exc:  # unwritable --out, a folder where a file belongs, a full disk ...
        target = exc.filename2 or exc.filename
        reason = exc.strerror or str(exc)
        print(f"steps {args.command}: error: {reason}" + (f": {target}" if target else ""), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"steps {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

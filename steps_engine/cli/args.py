"""Parsing numeric flags with one-line errors (CLIError, exit 2) that name the flag."""

from __future__ import annotations

from steps_engine.cli import CLIError


def print_first(lines: list[str], more: str, limit: int = 20) -> None:
    """The first `limit` lines to stderr, then `more` (with {n} = how many were left out)."""
    import sys

    for line in lines[:limit]:
        print(line, file=sys.stderr)
    if len(lines) > limit:
        print(more.format(n=len(lines) - limit), file=sys.stderr)


def number(value, flag: str, kind=int, low=None, high=None, meaning: str | None = None):
    """`kind(value)` checked against [low, high]; None stays None. `meaning` replaces the range
    in the message (e.g. "a cosine similarity in [-1, 1]")."""
    if value is None:
        return None
    try:
        x = kind(value)
    except (TypeError, ValueError):
        raise CLIError(f"{flag} must be {'an integer' if kind is int else 'a number'}, got {value!r}") from None
    if (low is not None and x < low) or (high is not None and x > high):
        if meaning:
            raise CLIError(f"{flag} must be {meaning}, got {x}")
        if high is None:
            raise CLIError(f"{flag} must be >= {low}, got {x}")
        raise CLIError(f"{flag} must be in [{low}, {high}], got {x}")
    return x


def input_source(value: str, what: str = "input") -> str:
    """Check that a records input names data: a regular file (`ingest.check_input_file` names a
    FIFO, a device, a symlink loop, a missing file), a folder or glob of shards, or a URL."""
    from pathlib import Path

    from steps_engine.data.ingest import check_input_file
    from steps_engine.data.sources import SourceError, resolve

    path = Path(value)
    remote = "://" in value and not value.startswith("file://")
    if not remote and not path.is_dir() and not (set("*?[") & set(value) and not path.exists()):
        try:
            check_input_file(path)
        except ValueError as exc:
            raise CLIError(str(exc)) from None
        return value
    try:
        resolve(value)
    except SourceError as exc:
        if path.is_dir():
            raise CLIError(f"{what} {value} is a folder with no data file (.jsonl, .json, .csv, .parquet, "
                           "optionally .gz/.bz2/.zst, or a datasets save_to_disk folder)") from None
        raise CLIError(f"{what}: {exc}") from None
    return value


RESERVED_PARAMS = ("model", "messages", "stream", "n")


def request_params(pairs: list[str] | None, params_file: str | None = None) -> dict:
    """Extra request fields from `--param KEY=VALUE` (VALUE parsed as JSON when it is JSON, else
    kept as a string) and `--params-file FILE` (a JSON object; --param wins)."""
    import json

    from steps_engine._atomic import read_json_object

    out: dict = {}
    if params_file:
        try:
            out.update(read_json_object(params_file, f"--params-file {params_file}", "a JSON object of request fields"))
        except ValueError as exc:
            raise CLIError(str(exc)) from None
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise CLIError(f"--param must be KEY=VALUE, got {pair!r}")
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw
    bad = [k for k in out if k in RESERVED_PARAMS]
    if bad:
        raise CLIError(f"--param {bad[0]} is set by steps itself and cannot be passed through")
    return out


def add_cost_options(p, *, what: str, output_tokens: str) -> None:
    """--estimate, --max-cost, --prices, --expected-output-tokens: pricing the requests of `what`."""
    p.add_argument("--estimate", action="store_true",
                   help=f"count the prompt tokens of {what} and price them without sending anything")
    p.add_argument("--max-cost", type=float, default=None, metavar="USD",
                   help="stop before the spend would exceed this; run again with a larger budget to resume")
    p.add_argument("--prices", default=None, metavar="FILE",
                   help="price table JSON {model: {input, output, batch_discount}} in USD per 1M tokens "
                        "(overlays the built-in one; default $STEPS_PRICES)")
    p.add_argument("--expected-output-tokens", type=int, default=None, metavar="N",
                   help=f"tokens per reply for the estimate and the budget (default: {output_tokens})")

"""`steps name DIR`: readable cluster names written into DIR/taxonomy.json."""

from __future__ import annotations

import json
import os

from steps_engine.cli import EXIT_NOTHING_DONE, EXIT_OK, EXIT_PARTIAL, CLIError
from steps_engine.cli.args import print_first


def add_parser(sub) -> None:
    p = sub.add_parser(
        "name",
        help="name the clusters of a taxonomy folder (keywords, or an LLM with --model)",
        description="Keyword names (c-TF-IDF over the rows' texts) by default; with --model, an LLM behind any "
        "OpenAI-compatible endpoint names the clusters bottom-up (cached, so a rerun resumes). "
        "Hand-written labels are kept. The key comes from $OPENAI_API_KEY and is never written anywhere.",
    )
    p.add_argument("dir", help="taxonomy folder (taxonomy.json, graph.csv; input.json for the rows)")
    p.add_argument("--model", default=None, help="model name; without it, keyword names only")
    p.add_argument("--base-url", default=None, help="OpenAI-compatible endpoint (default $OPENAI_BASE_URL or OpenAI)")
    p.add_argument("--concurrency", type=int, default=4, help="requests in flight (default 4)")
    p.add_argument("--cache-dir", default=None, help="answer cache (default <cache dir>/llm-names)")
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    p.set_defaults(run=run)


def run(args) -> int:
    from steps_engine.taxonomy.llm_names import name_folder

    if args.concurrency < 1:
        raise CLIError(f"--concurrency must be >= 1, got {args.concurrency}")
    from steps_engine.cli.progress import StageProgress

    key = os.environ.get("OPENAI_API_KEY") or None
    bar = StageProgress(enabled=not getattr(args, "log_quiet", False))  # a bar on a terminal, else periodic lines
    try:
        summary, result = name_folder(
            args.dir, model=args.model, base_url=args.base_url or os.environ.get("OPENAI_BASE_URL") or None,
            api_key=key, cache_dir=args.cache_dir, concurrency=args.concurrency,
            progress=bar.callback("naming clusters"),
        )
    except FileNotFoundError as exc:
        raise CLIError(str(exc)) from None
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    finally:
        bar.close()
    if result is not None:
        print_first([f"{node_id}: kept the keyword name ({reason})" for node_id, reason in sorted(result.failures.items())],
                    "steps name: ... {n} more clusters kept the keyword name")
    print(f"named {summary['named']} cluster(s) by {summary['by']}; kept {summary['kept_hand']} hand-written label(s)"
          + (f"; {summary['failed']} answer(s) unusable" if summary["failed"] else ""))
    if args.json:
        print(json.dumps(summary))
    if result is not None and result.failures:  # keyword names kept; a rerun asks again (answers are cached)
        return EXIT_PARTIAL if result.names else EXIT_NOTHING_DONE
    return EXIT_OK

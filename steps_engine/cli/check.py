"""`steps check RESULTS --out CHECKED [...]`: near-duplicates, seed copies, benchmark overlap,
rules and an optional LLM judge; every record kept with a status and reason codes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from steps_engine.cli import CLIError
from steps_engine.cli.args import add_cost_options, number, print_first


def add_parser(sub) -> None:
    p = sub.add_parser("check", help="quality-check synthesis results (dedup, seed copies, decontamination, rules, judge)")
    p.add_argument("results", help="results JSONL from `steps synthesize`")
    p.add_argument("--out", required=True, help="checked JSONL (appended; a restart resumes)")
    p.add_argument("--taxonomy", default=None, metavar="DIR", help="taxonomy folder of the run: seed texts for the copy check")
    p.add_argument("--dedup-threshold", type=float, default=0.5, help="Jaccard of word 3-shingles for a near-duplicate (default 0.5)")
    p.add_argument("--no-dedup", action="store_true")
    p.add_argument("--embed-dedup", nargs="?", type=float, const=0.95, default=None, metavar="COSINE",
                   help="also flag samples whose embedding cosine with a kept one reaches COSINE (default 0.95)")
    p.add_argument("--embed-model", default=None, help="sentence-transformers model for --embed-dedup (default: bundled)")
    p.add_argument("--seed-threshold", type=float, default=0.6,
                   help="overlap coefficient with a seed for a copy (default 0.6)")
    p.add_argument("--no-seed-check", action="store_true")
    p.add_argument("--decontaminate", nargs="+", default=[], metavar="FILE", help="benchmark prompt files (any input format)")
    p.add_argument("--decontaminate-field", default=None, metavar="FIELD", help="text field of the benchmark files (default: detected)")
    p.add_argument("--ngram", type=int, default=13, help="n-gram size for decontamination (default 13)")
    p.add_argument("--min-chars", type=int, default=100, help="length rule: fewest characters (default 100)")
    p.add_argument("--max-chars", type=int, default=30_000, help="length rule: most characters (default 30000)")
    p.add_argument("--disable-rule", action="append", default=[], metavar="RULE", help="turn a rule off (repeatable)")
    p.add_argument("--judge-model", default=None, help="LLM judge model (needs OPENAI_API_KEY)")
    p.add_argument("--judge-base-url", default=None, help="judge endpoint (default $OPENAI_BASE_URL or OpenAI)")
    p.add_argument("--rubric", default=None, metavar="FILE", help="judge rubric template (default: built-in)")
    p.add_argument("--min-score", type=float, default=None, help="reject below this judge score (1-10)")
    p.add_argument("--require-all-skills", action="store_true", help="reject when the judge finds a skill not essential or not exercised")
    p.add_argument("--no-json-schema", action="store_true", help="do not send response_format to the judge endpoint")
    add_cost_options(p, what="the judge's requests", output_tokens="250 per verdict")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--max-retries", type=int, default=5)
    p.add_argument("--cache-dir", default=None, help="judge response cache (default <out>.cache)")
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("--retry-judge-errors", action="store_true", help="judge again records whose judge request failed")
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args) -> int:
    from steps_engine.quality import CheckConfig, DedupConfig, RuleConfig, check, load_rubric

    if Path(args.results).is_dir():
        raise CLIError(f"results {args.results} is a folder, expected the results JSONL file")
    if not Path(args.results).is_file():
        raise CLIError(f"results file not found: {args.results}")
    for f in args.decontaminate:
        if not Path(f).is_file():
            raise CLIError(f"--decontaminate: file not found: {f}")
    if args.taxonomy is not None and not (Path(args.taxonomy) / "input.json").is_file():
        raise CLIError(f"--taxonomy {args.taxonomy}: no input.json (expected a `steps taxonomy` folder)")
    if args.concurrency < 1:
        raise CLIError(f"--concurrency must be >= 1, got {args.concurrency}")
    unit = "a number in (0, 1]"
    for flag, value, low, high, meaning in (
        ("--dedup-threshold", args.dedup_threshold, 1e-300, 1.0, unit),
        ("--seed-threshold", args.seed_threshold, 1e-300, 1.0, unit),
        ("--embed-dedup", args.embed_dedup, 1e-300, 1.0, "a cosine in (0, 1]"),
        ("--ngram", args.ngram, 1, None, None),
        ("--min-chars", args.min_chars, 0, None, None),
        ("--max-chars", args.max_chars, args.min_chars, None, f"at least --min-chars ({args.min_chars})"),
        ("--min-score", args.min_score, 0, 10, None),
        ("--timeout", args.timeout, 1e-300, None, "a number of seconds > 0"),
        ("--max-retries", args.max_retries, 0, None, None),
    ):
        number(value, flag, type(value), low, high, meaning=meaning)
    from steps_engine._atomic import refuse_input_as_output

    try:
        refuse_input_as_output(args.out, [args.results, args.rubric, *args.decontaminate], what="--out")
        config = CheckConfig(
            dedup=None if args.no_dedup else DedupConfig(threshold=args.dedup_threshold),
            embed_threshold=args.embed_dedup, embed_model=args.embed_model,
            seed_threshold=None if args.no_seed_check else args.seed_threshold,
            rules=RuleConfig(min_chars=args.min_chars, max_chars=args.max_chars, disabled=tuple(args.disable_rule)),
            decontaminate=tuple(args.decontaminate), decontaminate_field=args.decontaminate_field, ngram=args.ngram,
            judge_model=args.judge_model, rubric=load_rubric(args.rubric), min_score=args.min_score,
            require_all_skills=args.require_all_skills, json_schema=not args.no_json_schema,
        )
    except (ValueError, OSError) as exc:
        raise CLIError(str(exc)) from None
    if args.max_cost is not None and args.max_cost < 0:
        raise CLIError(f"--max-cost must be >= 0, got {args.max_cost}")
    if (args.estimate or args.max_cost is not None) and not args.judge_model:
        raise CLIError("--estimate and --max-cost price the judge: give --judge-model")
    from steps_engine.llm.cost import load_prices
    from steps_engine.quality.check import JUDGE_OUTPUT_TOKENS

    try:
        prices = load_prices(args.prices)
    except (ValueError, OSError) as exc:
        raise CLIError(str(exc)) from None
    expected = args.expected_output_tokens or JUDGE_OUTPUT_TOKENS
    if args.estimate:
        from steps_engine.quality import estimate_judge

        try:
            est, problems = estimate_judge(args.results, config=config, taxonomy_dir=args.taxonomy, prices=prices,
                                           expected_output_tokens=expected)
        except (ValueError, OSError) as exc:
            raise CLIError(str(exc)) from None
        print_first(problems, "steps check: ... {n} more problems")
        print(est.summary())
        if args.json:
            print(json.dumps(est.to_json()))
        return 0
    bar = None

    def progress(ev: dict) -> None:
        nonlocal bar
        if args.quiet:
            return
        if bar is None or bar.desc != ev["stage"]:
            from steps_engine.cli.progress import make_bar

            if bar is not None:
                bar.close()
            bar = make_bar(ev["stage"], ev["total"], unit="rec")  # plain lines when stderr is a log
        bar.update(ev["done"] - bar.n)

    try:
        rep = check(args.results, args.out, config=config, taxonomy_dir=args.taxonomy, base_url=args.judge_base_url,
                    concurrency=args.concurrency, timeout=args.timeout, max_retries=args.max_retries,
                    cache_dir=args.cache_dir, use_cache=not args.no_cache,
                    retry_judge_errors=args.retry_judge_errors, progress=progress,
                    max_cost=args.max_cost, prices=prices, expected_output_tokens=expected)
    except (ValueError, OSError) as exc:
        raise CLIError(str(exc)) from None
    finally:
        if bar is not None:
            bar.close()
    print_first(rep.problems, "steps check: ... {n} more problems")
    print(rep.table())
    from steps_engine.cli import EXIT_NOTHING_DONE, EXIT_OK, EXIT_PARTIAL

    failed = rep.judge_failed
    if failed:
        print(f"{failed} record(s) have no verdict because the judge request failed or its answer had no score; "
              "rerun with --retry-judge-errors", file=sys.stderr)
    if rep.not_judged:
        print(f"--max-cost ${args.max_cost:g} reached after ${rep.cost_usd or 0:,.4f}: {rep.not_judged} record(s) "
              "not judged yet; run again with a larger --max-cost to go on", file=sys.stderr)
    if not rep.ok + rep.rejected or (failed and not sum(rep.scores.values())):
        code = EXIT_NOTHING_DONE  # no record checked (none was ok), or every judge request / answer failed
    else:
        code = EXIT_PARTIAL if failed or rep.not_judged else EXIT_OK
    if args.json:
        d = rep.to_json()
        d["problems"] = len(rep.problems)
        d["exit_code"] = code
        print(json.dumps(d))
    return code

"""`steps synthesize DIR --combos FILE --model M --out FILE`: combinations -> conversations."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from steps_engine.cli import EXIT_DRY_RUN, EXIT_NOTHING_DONE, EXIT_OK, EXIT_PARTIAL, CLIError
from steps_engine.cli.args import add_cost_options, print_first, request_params

EXIT_BY_STATUS = {"done": EXIT_OK, "dry_run": EXIT_OK, "partial": EXIT_PARTIAL, "nothing": EXIT_NOTHING_DONE,
                  "no_key": EXIT_DRY_RUN}


def add_parser(sub) -> None:
    p = sub.add_parser("synthesize", help="synthesize conversations for skill combinations through an LLM endpoint")
    p.add_argument("dir", help="taxonomy folder (taxonomy.json, input.json)")
    p.add_argument("--combos", required=True, help="combinations JSONL from `steps combos`")
    p.add_argument("--model", required=True, help="model name sent to the endpoint")
    p.add_argument("--base-url", action="append", default=None,
                   help="OpenAI-compatible endpoint (default $OPENAI_BASE_URL or OpenAI); repeat it to spread "
                        "requests over several (least outstanding requests, failing ones rested)")
    p.add_argument("--endpoints", default=None, metavar="FILE",
                   help="a file of endpoints, one 'URL [MAX_IN_FLIGHT]' per line (instead of --base-url)")
    p.add_argument("--endpoint-concurrency", type=int, default=None,
                   help="requests in flight per endpoint at most (default: no limit beyond --concurrency)")
    p.add_argument("--concurrency", type=int, default=4, help="requests in flight (default 4)")
    p.add_argument("--limit", type=int, default=None, help="only the first N distinct combinations")
    p.add_argument("--dry-run", action="store_true", help="write prompts.jsonl and batch_input.jsonl beside --out; send nothing")
    p.add_argument("--out", required=True, help="results JSONL (appended; a restart resumes)")
    p.add_argument("--timeout", type=float, default=60.0, help="total seconds per request attempt (default 60)")
    p.add_argument("--max-retries", type=int, default=5, help="retries on 429/5xx/timeouts (default 5)")
    p.add_argument("--template", default=None, help="prompt template file, or a built-in: default, agent")
    p.add_argument("--n", type=int, default=1, help="generations per combination (a rerun with a larger N adds the missing ones)")
    p.add_argument("--request-seed", type=int, default=None, metavar="S", help="seed sent to the endpoint; generation g sends S+g")
    p.add_argument("--agent-filter", nargs="?", const="", default=None, metavar="MODEL",
                   help="first ask MODEL (default --model) whether each skill set can form one agent workflow")
    p.add_argument("--retry-failed", action="store_true", help="run again the combinations recorded as failed or rejected (and those not yet tried)")
    p.add_argument("--seed", type=int, default=0, help="seed for example choice and jitter (default 0)")
    p.add_argument("--import-batch", default=None, metavar="FILE", help="import a Batch API output file instead of sending")
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--max-tokens", type=int, default=None)
    p.add_argument("--param", action="append", default=None, metavar="KEY=VALUE",
                   help="extra request field, repeatable; VALUE is JSON when it parses "
                        "(--param 'response_format={\"type\":\"json_object\"}' --param max_completion_tokens=2000)")
    p.add_argument("--params-file", default=None, metavar="FILE", help="extra request fields as a JSON object")
    add_cost_options(p, what="the run (live and Batch)", output_tokens="mean of --out's replies, else 700")
    p.add_argument("--cache-dir", default=None, help="response cache folder (default <out>.cache)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the response cache")
    p.add_argument("--show-prompt", type=int, default=None, metavar="I", help="print the messages of combination I and exit")
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


class _Bar:
    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar = None

    def __call__(self, ev: dict) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from steps_engine.cli.progress import make_bar

            self.bar = make_bar("synthesize", ev["total"], "conv", dynamic_ncols=True)
        self.bar.update(ev["done"] - self.bar.n)
        u = ev["usage"]
        self.bar.set_postfix(ok=ev["ok"], rej=ev["rejected"], fail=ev["failed"], cached=ev["cache_hits"],
                             tok=u["total_tokens"], refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run(args) -> int:
    from steps_engine.synthesis.prompts import load_template
    from steps_engine._atomic import refuse_input_as_output
    from steps_engine.synthesis.runner import check_request_params, load_combinations, prepare_jobs, synthesize

    if args.concurrency < 1:
        raise CLIError(f"--concurrency must be >= 1, got {args.concurrency}")
    if args.limit is not None and args.limit < 0:
        raise CLIError(f"--limit must be >= 0, got {args.limit}")
    if args.timeout <= 0:
        raise CLIError(f"--timeout must be > 0, got {args.timeout}")
    if args.max_retries < 0:
        raise CLIError(f"--max-retries must be >= 0, got {args.max_retries}")
    if args.endpoint_concurrency is not None and args.endpoint_concurrency < 1:
        raise CLIError(f"--endpoint-concurrency must be >= 1, got {args.endpoint_concurrency}")
    base_url, endpoint_concurrency = _endpoints(args)
    if not (Path(args.dir) / "input.json").is_file():
        raise CLIError(f"{args.dir}: no input.json (run `steps taxonomy` first)")
    inputs = [args.combos, args.template, args.import_batch] + [Path(args.dir) / f for f in ("input.json", "taxonomy.json")]
    try:
        refuse_input_as_output(args.out, inputs, what="--out")
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    try:
        template = load_template(args.template)
        combos, problems = load_combinations(args.combos)
    except (ValueError, OSError) as exc:
        raise CLIError(str(exc)) from None
    print_first(problems, f"{args.combos}: ... {{n}} more bad lines skipped", limit=10)
    if not combos:
        raise CLIError(f"{args.combos}: no valid combination ({len(problems)} bad line(s)); "
                       "expected JSONL from `steps combos`")
    if args.n < 1:
        raise CLIError(f"--n must be >= 1, got {args.n}")
    params = {"temperature": args.temperature}
    if args.max_tokens is not None:
        params["max_tokens"] = args.max_tokens
    if args.request_seed is not None:
        params["seed"] = args.request_seed
    params.update(request_params(args.param, args.params_file))
    try:
        check_request_params(params)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if args.max_cost is not None and args.max_cost < 0:
        raise CLIError(f"--max-cost must be >= 0, got {args.max_cost}")
    if args.expected_output_tokens is not None and args.expected_output_tokens < 1:
        raise CLIError(f"--expected-output-tokens must be >= 1, got {args.expected_output_tokens}")
    from steps_engine.llm.cost import load_prices

    try:
        prices = load_prices(args.prices)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if args.estimate:
        return _estimate(args, combos, template, params, prices)
    if args.show_prompt is not None:
        if not 0 <= args.show_prompt < len(combos):
            raise CLIError(f"--show-prompt must be in 0..{len(combos) - 1}, got {args.show_prompt}")
        jobs, _ = prepare_jobs(args.dir, [combos[args.show_prompt]], model=args.model, template=template, seed=args.seed)
        print(json.dumps({"id": jobs[0].id, "messages": jobs[0].messages}, ensure_ascii=False, indent=2))
        return 0
    bar = _Bar(enabled=not args.quiet)
    try:
        rep = synthesize(
            args.dir, combos, model=args.model, out=args.out, base_url=base_url,
            endpoint_concurrency=endpoint_concurrency,
            concurrency=args.concurrency, limit=args.limit, timeout=args.timeout, max_retries=args.max_retries,
            template=template, params=params, retry_failed=args.retry_failed, seed=args.seed,
            dry_run=args.dry_run, import_batch=args.import_batch, cache_dir=args.cache_dir,
            use_cache=not args.no_cache, progress=bar, n=args.n,
            agent_filter_model=None if args.agent_filter is None else (args.agent_filter or args.model),
            max_cost=args.max_cost, prices=prices, expected_output_tokens=args.expected_output_tokens,
        )
    except (ValueError, OSError) as exc:
        raise CLIError(str(exc)) from None
    finally:
        bar.close()
    print_first(rep.problems, "steps synthesize: ... {n} more problems")
    for e in rep.endpoints:
        print(f"{e['endpoint']}: {e['served']} answered, {e['failures']} failed, rested {e['rests']} time(s)"
              + (" (resting now)" if e["resting"] else ""), file=sys.stderr)
    print(rep.summary())
    if args.json:
        d = rep.to_json()
        d.pop("problems")
        d["problems"] = len(rep.problems)
        d["bad_combo_lines"] = len(problems)
        d["exit_code"] = EXIT_BY_STATUS[rep.status]
        print(json.dumps(d))
    return EXIT_BY_STATUS[rep.status]


def _estimate(args, combos, template, params, prices) -> int:
    from steps_engine.synthesis.estimate import estimate_run

    try:
        live, problems = estimate_run(args.dir, combos, model=args.model, out=args.out, template=template, params=params,
                                      limit=args.limit, seed=args.seed, prices=prices,
                                      output_tokens=args.expected_output_tokens)
    except (ValueError, OSError) as exc:
        raise CLIError(str(exc)) from None
    print_first(problems, "steps synthesize: ... {n} more problems")
    print(live.summary())
    batch_cost = None
    if live.price is not None:
        from steps_engine.llm.cost import Price

        price = Price(**live.price)
        batch_cost = price.cost(live.prompt_tokens, live.output_tokens, batch=True)
        print(f"through the Batch API: ${batch_cost:,.4f} ({price.batch_discount:.0%} off)")
    if args.json:
        print(json.dumps({**live.to_json(), "cost_usd_batch": batch_cost}))
    return 0


def _endpoints(args):
    """(base_url: None, one URL or a list; per-endpoint limits or None) from --base-url / --endpoints."""
    if args.endpoints is not None:
        if args.base_url:
            raise CLIError("give --base-url or --endpoints, not both")
        from steps_engine.llm.pool import read_endpoints

        try:
            pairs = read_endpoints(args.endpoints)
        except ValueError as exc:
            raise CLIError(str(exc)) from None
        limits = [lim if lim is not None else args.endpoint_concurrency for _, lim in pairs]
        return [u for u, _ in pairs], (limits if any(x is not None for x in limits) else None)
    urls = args.base_url or []
    if len(set(urls)) != len(urls):
        raise CLIError("--base-url repeats an endpoint")
    base_url = None if not urls else (urls[0] if len(urls) == 1 else urls)
    return base_url, args.endpoint_concurrency

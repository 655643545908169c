"""`steps combos DIR --k K ... --out FILE`: choose skill combinations from a taxonomy folder."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from steps_engine._atomic import TAXONOMY_FOLDER_FILES, refuse_folder, same_file
from steps_engine.cli import EXIT_NOTHING_DONE, EXIT_OK, EXIT_PARTIAL, CLIError
from steps_engine.cli.args import number
from steps_engine.selection.budget import (
    DEFAULT_LEAF_DISCOUNT,
    DEFAULT_LOCAL_REUSE_DISCOUNT,
    DEFAULT_MAX_PAIR_USES,
    DEFAULT_REUSE_DISCOUNT,
    default_reuse_discount,
)


def add_parser(sub) -> None:
    p = sub.add_parser("combos", help="select high-information skill combinations from a taxonomy folder")
    p.add_argument("dir", help="taxonomy folder with taxonomy.json and graph.csv (+ skills.csv)")
    # numbers are parsed in run() so that bad values give a one-line error (exit 2)
    p.add_argument("--k", default=None, help="skills per combination, start included (>= 2)")
    p.add_argument("--k-max", default=None, help="also every size k+1..K_MAX")
    p.add_argument("--per-start", default="1", help="distinct combinations per start (default 1)")
    p.add_argument("--starts", default="all", help="all | tail:Q | SKILL1,SKILL2 (default all)")
    p.add_argument("--scope", default="local", help="local | level:L | global (default local)")
    p.add_argument("--max-level", default="1", help="local scope: shallowest depth searched (default 1)")
    p.add_argument("--strategy", default="steps", help="steps | random | cooccur (default steps)")
    p.add_argument("--beam", default=None,
                   help="beam width for local / constrained search (default 100; 20 with --budget)")
    p.add_argument("--seed", default="0", help="random seed for the baselines (default 0)")
    p.add_argument("--exclude", default="", help="comma-separated skills never to use")
    p.add_argument("--must-include", default="", help="comma-separated skills every combination contains")
    p.add_argument("--never-together", default="", help='pairs that may not co-occur: "a+b,c+d"')
    p.add_argument("--min-support", default="0", help="every pair must have co-occurred >= this often (default 0)")
    p.add_argument("--coherence", action="store_true",
                   help="score every combination by the mean cosine similarity of its skill names (embeddings)")
    p.add_argument("--min-mean-similarity", default=None, help="keep combinations whose mean pair similarity >= this")
    p.add_argument("--min-pair-similarity", default=None, help="every pair's similarity must be >= this")
    p.add_argument("--embed-model", default=None, help="sentence-transformers name or path (default: bundled MiniLM)")
    p.add_argument("--budget", default=None,
                   help="dataset mode: exactly N distinct combinations chosen together (greedy on a dataset "
                        "objective with diminishing returns for reused skills)")
    p.add_argument("--reuse-discount", default=None,
                   help="budget mode: each further use of a tree node is worth this factor less, in (0, 1] "
                        f"(default {DEFAULT_REUSE_DISCOUNT}, local {DEFAULT_LOCAL_REUSE_DISCOUNT}; 1 = no discount)")
    p.add_argument("--leaf-discount", default=None,
                   help=f"budget mode: the same for a skill's own leaf (default {DEFAULT_LEAF_DISCOUNT})")
    p.add_argument("--max-skill-uses", default="0",
                   help="budget mode: a skill (start included) is in at most M combinations (default 0 = no cap)")
    p.add_argument("--max-pair-uses", default=None,
                   help=f"budget mode: two skills are together in at most P combinations (default {DEFAULT_MAX_PAIR_USES}; "
                        "0 = no cap)")
    p.add_argument("--no-count-start", action="store_true",
                   help="budget mode: do not count the start's own path (local: leaf) in the dataset objective")
    p.add_argument("--sample-epsilon", default="0.01",
                   help="budget mode, beam scopes: stochastic lazy greedy with this epsilon (0 = plain lazy greedy)")
    p.add_argument("--out", default=None, help="output JSONL file (- for stdout)")
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def _int(value, flag: str, low: int | None = None) -> int | None:
    return number(value, flag, int, low)


def _float(value, flag: str) -> float | None:
    return number(value, flag, float, -1.0, 1.0, meaning="a cosine similarity in [-1, 1]")


def _names(value: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in value.split(",") if s.strip())


def _pairs(value: str) -> tuple[tuple[str, str], ...]:
    out = []
    for item in _names(value):
        parts = [x.strip() for x in item.split("+")]
        if len(parts) != 2 or not all(parts):
            raise CLIError(f"--never-together entries must look like a+b, got {item!r}")
        out.append((parts[0], parts[1]))
    return tuple(out)


def run(args) -> int:
    from steps_engine.selection.combos import select_combinations, write_jsonl
    from steps_engine.taxonomy.build import check_graph_file
    from steps_engine.taxonomy.graph import read_graph
    from steps_engine.selection.search import Constraints, parse_scope, prepare
    from steps_engine.selection.strategies import STRATEGIES, combination_metrics
    from steps_engine.taxonomy.tree import EncodingTree

    t0 = time.perf_counter()
    if args.k is None:
        raise CLIError("--k is required")
    if args.out is None:
        raise CLIError("--out is required")
    k = _int(args.k, "--k", 2)
    k_max = _int(args.k_max, "--k-max", k)
    per_start = _int(args.per_start, "--per-start", 1)
    max_level = _int(args.max_level, "--max-level", 0)
    beam = _int(args.beam, "--beam", 1)  # None: the engine's default for the mode
    seed = _int(args.seed, "--seed", 0)
    min_support = _int(args.min_support, "--min-support", 0)
    budget = _int(args.budget, "--budget", 1)
    reuse = number(args.reuse_discount, "--reuse-discount", float, 0.0, 1.0, meaning="a discount in (0, 1]")
    if reuse is not None and reuse <= 0:
        raise CLIError(f"--reuse-discount must be in (0, 1], got {args.reuse_discount}")
    leaf = number(args.leaf_discount, "--leaf-discount", float, 0.0, 1.0, meaning="a discount in (0, 1]")
    if leaf is not None and leaf <= 0:
        raise CLIError(f"--leaf-discount must be in (0, 1], got {args.leaf_discount}")
    leaf = DEFAULT_LEAF_DISCOUNT if leaf is None else leaf
    max_skill_uses = _int(args.max_skill_uses, "--max-skill-uses", 0) or None
    max_pair_uses = _int(args.max_pair_uses, "--max-pair-uses", 0) if args.max_pair_uses is not None else None
    max_pair_uses = (DEFAULT_MAX_PAIR_USES if max_pair_uses is None and args.strategy == "steps" else max_pair_uses) or None
    epsilon = number(args.sample_epsilon, "--sample-epsilon", float, 0.0, 1.0, meaning="an epsilon in [0, 1]")
    if budget is None and (args.reuse_discount is not None or args.leaf_discount is not None or max_skill_uses
                           or args.max_pair_uses is not None):
        raise CLIError("--reuse-discount, --leaf-discount, --max-skill-uses and --max-pair-uses need --budget")
    min_mean_sim = _float(args.min_mean_similarity, "--min-mean-similarity")
    min_pair_sim = _float(args.min_pair_similarity, "--min-pair-similarity")
    if args.strategy not in STRATEGIES:
        raise CLIError(f"--strategy must be one of {', '.join(STRATEGIES)}, got {args.strategy!r}")
    try:
        scope = str(parse_scope(args.scope))
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    reuse = default_reuse_discount(scope) if reuse is None else reuse

    folder = Path(args.dir)
    for name in ("taxonomy.json", "graph.csv"):
        if not (folder / name).is_file():
            raise CLIError(f"{folder / name} not found (run `steps taxonomy` first)")
    for name in TAXONOMY_FOLDER_FILES:  # the taxonomy's own files, inputs of every later stage
        if same_file(args.out, folder / name):
            raise CLIError(f"--out {args.out} is the taxonomy's {folder / name}: choose another output path")
    try:
        refuse_folder(args.out, "combos.jsonl")
    except ValueError as exc:
        raise CLIError(f"--out {exc}") from None
    try:
        graph = read_graph(folder)
    except (ValueError, KeyError, OSError) as exc:
        raise CLIError(f"cannot read {folder / 'graph.csv'}: {exc}") from None
    try:
        tree = EncodingTree.load(folder / "taxonomy.json", skills=graph.skills)
        tree.check_skills(graph.skills)
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise CLIError(f"cannot read {folder / 'taxonomy.json'}: {exc}") from None
    try:
        check_graph_file(folder, tree)
    except ValueError as exc:
        raise CLIError(str(exc)) from None

    n_leaves = int((tree.leaf_skill >= 0).sum())
    if (k_max or k) > n_leaves:
        flag, value = ("--k-max", k_max) if k_max else ("--k", k)
        raise CLIError(f"{flag} {value} is more than the {n_leaves} skills in {folder / 'taxonomy.json'}")

    similarity = None
    if args.coherence or min_mean_sim is not None or min_pair_sim is not None:
        from steps_engine.selection.coherence import skill_similarity
        from steps_engine.semantic.embeddings import get_embedder

        try:
            embedder = get_embedder(args.embed_model) if args.embed_model else None
            similarity = skill_similarity(tree.skills, embedder)
        except (OSError, ValueError) as exc:
            raise CLIError(f"cannot compute skill embeddings: {exc}") from None
    cons = Constraints(k=k, k_max=k_max, exclude=_names(args.exclude), must_include=_names(args.must_include),
                       never_together=_pairs(args.never_together), min_support=min_support, similarity=similarity,
                       min_pair_similarity=min_pair_sim, min_mean_similarity=min_mean_sim)
    from steps_engine.cli.progress import StageProgress

    bar = StageProgress(enabled=not args.quiet)
    try:
        ctx = prepare(tree, graph, cons)
        result = select_combinations(
            ctx, k, k_max=k_max, starts=args.starts, per_start=per_start, scope=scope, max_level=max_level,
            strategy=args.strategy, beam=beam, seed=seed, budget=budget, reuse_discount=reuse, leaf_discount=leaf,
            max_skill_uses=max_skill_uses, max_pair_uses=max_pair_uses, count_start=not args.no_count_start,
            sample_epsilon=epsilon or None,
            progress=False if args.quiet else bar.callback("combinations"),
        )
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    finally:
        bar.close()
    if args.out == "-":  # JSONL on stdout, the summary on stderr
        n = 0
        for c in result.combinations:
            sys.stdout.write(json.dumps(c.to_json(), ensure_ascii=False) + "\n")
            n += 1
        sys.stdout.flush()
    else:
        n = write_jsonl(args.out, result.combinations)
    seconds = time.perf_counter() - t0
    metrics = combination_metrics(ctx, result.combinations, reuse, not args.no_count_start, leaf)
    for reason in result.shortfall:
        print(reason, file=sys.stderr)
    if result.starts_short:
        shown = ", ".join(result.starts_short[:5]) + (" ..." if len(result.starts_short) > 5 else "")
        print(f"{len(result.starts_short)} start(s) gave fewer than --per-start {per_start} new combinations "
              f"(few admissible sets in scope, or sets already written): {shown}", file=sys.stderr)
    if result.starts_without:
        shown = ", ".join(result.starts_without[:5]) + (" ..." if len(result.starts_without) > 5 else "")
        print(f"{len(result.starts_without)} start(s) gave no new combination (none admissible in scope, "
              f"or only sets already written): {shown}", file=sys.stderr)
    summary = {
        "combinations": n,
        "mean_gain": metrics["mean_gain"],
        "seconds": round(seconds, 3),
        "starts": result.starts,
        "starts_without_combination": len(result.starts_without),
        "starts_short_of_per_start": len(result.starts_short),
        "duplicates_dropped": result.duplicates_dropped,
        "budget": budget,
        "reuse_discount": reuse if budget else None,
        "leaf_discount": leaf if budget else None,
        "max_skill_uses": max_skill_uses,
        "max_pair_uses": max_pair_uses if budget else None,
        "shortfall": result.shortfall,
        "objective": metrics["objective"],
        "strategy": args.strategy,
        "scope": scope,
        "k": k,
        "k_max": k_max,
        "out": str(args.out),
        "metrics": metrics,
    }
    say = sys.stderr if args.out == "-" else sys.stdout
    if args.json:
        print(json.dumps(summary), file=say)
    else:
        print(f"wrote {n} combinations to {'stdout' if args.out == '-' else args.out} in {seconds:.1f} s", file=say)
        print(f"mean gain {metrics['mean_gain']:.4f} bits, mean LCA depth {metrics['mean_lca_depth']:.2f}, "
              f"unseen pairs {metrics['unseen_pair_fraction']:.1%}, skill coverage {metrics['skill_coverage']:.1%}",
              file=say)
        print(f"skills used {metrics['skills_used']}, max skill share {metrics['max_skill_share']:.2%}, "
              f"max pair uses {metrics['max_pair_uses']}, usage efficiency {metrics['usage_efficiency']:.3f}, "
              f"objective F {metrics['objective']:.4f}", file=say)
    if not n:
        return EXIT_NOTHING_DONE
    return EXIT_PARTIAL if result.shortfall else EXIT_OK

"""`steps taxonomy INPUT --skills-field F ... --out DIR`: build the skill taxonomy folder."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from steps_engine.cli import CLIError
from steps_engine.cli.args import input_source
from steps_engine.cli.progress import StageProgress


def add_parser(sub) -> None:
    p = sub.add_parser("taxonomy", help="build a structural-entropy skill taxonomy from tagged instruction data")
    p.add_argument("input", help="JSONL, JSON array, CSV or Parquet: a file, a folder or glob of shards "
                   "(.gz/.bz2/.zst too), a datasets save_to_disk folder or an fsspec URL (hf://datasets/...)")
    p.add_argument("--skills-field", required=True, help="dotted path of the skills field, e.g. label.ability_en")
    p.add_argument("--skills-sep", default=None, help="separator when skills are one delimited string, e.g. ', '")
    p.add_argument("--text-field", default=None, help="dotted path of the instruction text (default: by record shape)")
    p.add_argument("--casefold", action="store_true", help="lower-case skill names")
    p.add_argument("--max-skills-per-row", type=int, default=64,
                   help="count at most the first N skills of a row; longer rows are reported (default 64, 0 = no cap)")
    p.add_argument("--weighting", default="steps", choices=["steps", "count", "ppmi", "npmi"])
    p.add_argument("--min-count", type=int, default=1, help="drop skills and pairs seen fewer times (default 1)")
    p.add_argument("--height", type=int, default=4, help="tree height: edges from root to deepest skill (default 4)")
    p.add_argument(
        "--builder", default="multilevel", choices=["multilevel", "greedy"], help="tree builder (default multilevel; greedy: the merge builder)"
    )
    p.add_argument("--semantic-weight", type=float, default=0.0, help="mix in embedding kNN edges (0..1, default 0)")
    p.add_argument("--engine", default="local", choices=["local", "ray"],
                   help="where records are read and counted: this process (default) or a Ray cluster; "
                        "with ray the input may be a folder of shards")
    p.add_argument("--ray-address", default=None,
                   help="Ray cluster to join (default $RAY_ADDRESS, else a local Ray); e.g. auto, ray://head:10001")
    p.add_argument("--block-mb", type=float, default=64.0, help="with --engine ray: MB of input per task (default 64)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


def run(args) -> int:
    from steps_engine.data.ingest import FieldMapping
    from steps_engine.taxonomy.build import build_taxonomy, save_taxonomy

    t0 = time.perf_counter()
    path = input_source(args.input)  # a file, a folder or glob of shards, a URL (issue 13)
    if args.block_mb <= 0:
        raise CLIError(f"--block-mb must be > 0, got {args.block_mb}")
    ray_options = None
    if args.engine == "ray":
        ray_options = {"address": args.ray_address, "block_bytes": max(int(args.block_mb * (1 << 20)), 1)}
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise CLIError(f"--out {args.out} is a file, expected a folder")
    if "://" not in path:
        from steps_engine._atomic import refuse_inputs_in_folder
        from steps_engine.data.sources import resolve

        try:
            refuse_inputs_in_folder(args.out, [sh.path for sh in resolve(path)], what="--out")
        except ValueError as exc:
            raise CLIError(str(exc)) from None
    if args.height < 1:
        raise CLIError(f"--height must be >= 1, got {args.height}")
    if args.min_count < 1:
        raise CLIError(f"--min-count must be >= 1, got {args.min_count}")
    if not 0.0 <= args.semantic_weight <= 1.0:
        raise CLIError(f"--semantic-weight must be in [0, 1], got {args.semantic_weight}")
    if args.max_skills_per_row is not None and args.max_skills_per_row != 0 and args.max_skills_per_row < 2:
        raise CLIError(f"--max-skills-per-row must be 0 (no cap) or >= 2, got {args.max_skills_per_row}")
    if args.text_field and "://" not in path:
        from steps_engine.data.ingest import check_text_field

        try:
            check_text_field(path, args.text_field)
        except ValueError as exc:
            raise CLIError(f"{path}: {exc}") from None
    try:
        mapping = FieldMapping(args.skills_field, args.skills_sep, args.text_field, args.casefold,
                               max_skills=args.max_skills_per_row or None)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    progress = StageProgress(enabled=not args.quiet)
    try:
        tax = build_taxonomy(
            path,
            mapping,
            weighting=args.weighting,
            min_count=args.min_count,
            height=args.height,
            semantic_weight=args.semantic_weight,
            progress=progress,
            engine=args.engine,
            ray_options=ray_options,
            builder=args.builder,
        )
    except (ValueError, OSError) as exc:
        raise CLIError(str(exc)) from None
    except RuntimeError as exc:  # Ray missing or failing (only --engine ray raises it)
        if args.engine != "ray":
            raise
        raise CLIError(str(exc)) from None
    finally:
        progress.close()
    out = save_taxonomy(tax, args.out)
    rep = tax.ingest_report
    skipped = rep["skipped"]
    for bad in skipped[:10]:
        print(f"{bad.get('file') or path}: skipped {bad['unit']} {bad['line']}: {bad['reason']}", file=sys.stderr)
    if rep["rows_skipped"] > 10:
        print(f"{path}: ... {rep['rows_skipped'] - 10} more skipped rows (see {out / 'ingest_report.json'})", file=sys.stderr)
    noted = rep.get("noted", [])
    for note in noted[:10]:
        print(f"{path}: changed {note['unit']} {note['line']}: {note['reason']}", file=sys.stderr)
    if sum(rep.get("noted_by_reason", {}).values()) > 10:
        print(f"{path}: ... more changed rows: {rep['noted_by_reason']} (see {out / 'ingest_report.json'})", file=sys.stderr)
    for warning in rep.get("warnings", []):
        print(f"{path}: warning: {warning}", file=sys.stderr)
    n_top = len(tax.tree.children()[0])
    summary = {
        "rows_read": rep["rows_read"],
        "rows_used": rep["rows_used"],
        "rows_skipped": rep["rows_skipped"],
        "rows_changed": rep.get("noted_by_reason", {}),
        "skills": tax.graph.n_skills,
        "edges": tax.graph.n_edges,
        "height": tax.tree.height,
        "top_level_clusters": n_top,
        "structural_entropy": tax.structural_entropy,
        "one_dim_entropy": tax.one_dim_entropy,
        "out": str(out),
        "seconds": round(time.perf_counter() - t0, 3),
    }
    print(
        f"{summary['rows_used']} rows ({summary['rows_skipped']} skipped), {summary['skills']} skills, "
        f"{summary['edges']} edges -> tree of height {summary['height']} with {n_top} top-level clusters; "
        f"H^T = {summary['structural_entropy']:.4f} bits (H^1 = {summary['one_dim_entropy']:.4f}); "
        f"written to {out} in {summary['seconds']} s"
    )
    if args.json:
        print(json.dumps(summary))
    return 0

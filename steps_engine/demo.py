"""The bundled demo, end to end: taxonomy -> a dataset of combinations (budget mode, + the
per-start recipe and the random baseline) -> dry-run prompts.

`steps demo --out DIR` runs it; nothing is downloaded and no key is needed.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEMO_PATH", "demo_mapping", "run_demo"]

DEMO_PATH = Path(__file__).resolve().parents[1] / "assets" / "demo" / "demo.jsonl"


def demo_mapping():
    from steps_engine.data.ingest import FieldMapping

    return FieldMapping(skills_field="skills", text_field="instruction")



DEMO_BUDGET = 500


def run_demo(out_dir: str | Path, k: int = 3, height: int = 4, model: str = "gpt-4o-mini", progress=None,
             budget: int = DEMO_BUDGET) -> dict:
    """Build the demo's taxonomy folder, a dataset of `budget` combinations (budget mode,
    level:1) beside the paper's one-per-start recipe and the random baseline with the same
    budget, and a dry run of synthesis on the dataset. Returns a summary dict."""
    from steps_engine.selection.combos import select_combinations, write_jsonl
    from steps_engine.taxonomy.build import build_taxonomy, save_taxonomy
    from steps_engine.selection.search import prepare
    from steps_engine.selection.strategies import combination_metrics
    from steps_engine.synthesis.runner import synthesize

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out {str(out)!r} is a file, expected a folder")
    tax = build_taxonomy(DEMO_PATH, demo_mapping(), height=height, progress=progress)
    if k > tax.graph.n_skills:
        raise ValueError(f"k {k} is more than the demo's {tax.graph.n_skills} skills")
    save_taxonomy(tax, out)
    ctx = prepare(tax.tree, tax.graph, term=tax.terms.term)
    steps_run = select_combinations(ctx, k, starts="all", scope="level:1", strategy="steps", budget=budget)
    exact_run = select_combinations(ctx, k, starts="all", scope="level:1", strategy="steps")
    random_run = select_combinations(ctx, k, starts="all", scope="level:1", strategy="random", seed=0, budget=budget)
    combos_path = out / "combos.jsonl"
    write_jsonl(combos_path, steps_run.combinations)
    write_jsonl(out / "combos_random.jsonl", random_run.combinations)
    report = synthesize(out, combos_path, model=model, out=out / "results.jsonl", dry_run=True)
    return {
        "taxonomy": str(out / "taxonomy.json"),
        "skills": tax.graph.n_skills,
        "edges": tax.graph.n_edges,
        "top_level_clusters": len(tax.tree.children()[0]),
        "structural_entropy": tax.structural_entropy,
        "one_dim_entropy": tax.one_dim_entropy,
        "combinations": str(combos_path),
        "budget": budget,
        "selected": len(steps_run.combinations),
        "shortfall": steps_run.shortfall,
        "steps_metrics": combination_metrics(ctx, steps_run.combinations),
        "steps_level1_metrics": combination_metrics(ctx, exact_run.combinations),
        "random_metrics": combination_metrics(ctx, random_run.combinations),
        "prompts": report.prompts_path,
        "batch_input": report.batch_path,
    }

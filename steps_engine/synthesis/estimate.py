"""What a synthesis run will cost before it is sent (`steps synthesize --estimate`).

`estimate_run(taxonomy_dir, combos, model=..., out=...)` builds the exact prompts (the same
`prepare_jobs` a run uses), leaves out combinations already in the results file `out`, and
prices them with `llm.cost.estimate`. Expected output tokens per reply: given, else the mean
completion tokens of the replies already in `out`, else `llm.cost.DEFAULT_OUTPUT_TOKENS`.
"""

from __future__ import annotations

from pathlib import Path

from steps_engine.llm.cost import DEFAULT_OUTPUT_TOKENS, Estimate, estimate
from steps_engine.synthesis.prompts import DEFAULT_TEMPLATE
from steps_engine.synthesis.runner import load_combinations, prepare_jobs, read_results

__all__ = ["estimate_run", "expected_output_tokens"]


def expected_output_tokens(out: str | Path | None) -> tuple[int, str]:
    """(tokens per reply, where the figure comes from)."""
    if out is not None and Path(out).is_file():
        seen = [r["usage"]["completion_tokens"] for r in read_results(out)[0]
                if isinstance((r.get("usage") or {}).get("completion_tokens"), int)]
        if seen:
            return round(sum(seen) / len(seen)), f"mean of {len(seen)} replies in {Path(out).name}"
    return DEFAULT_OUTPUT_TOKENS, "default"


def estimate_run(taxonomy_dir, combos, *, model: str, out: str | Path | None = None, template: str | None = None,
                 params: dict | None = None, limit: int | None = None, seed: int = 0, prices=None,
                 output_tokens: int | None = None, batch: bool = False) -> tuple[Estimate, list[str]]:
    """The estimate for the combinations a run would still send, and the problems found on the way."""
    problems: list[str] = []
    if isinstance(combos, (str, Path)):
        combos, problems = load_combinations(combos)
    jobs, more = prepare_jobs(taxonomy_dir, combos, model=model, template=template or DEFAULT_TEMPLATE, seed=seed,
                              limit=limit)
    problems += more
    done = {r["id"] for r in read_results(out)[0]} if out is not None and Path(out).is_file() else set()
    if output_tokens is None:
        output_tokens, source = expected_output_tokens(out)
        problems.append(f"expected output: {output_tokens} tokens per reply ({source}; --expected-output-tokens N to set)")
    todo = [j.messages for j in jobs if j.id not in done]
    return estimate(todo, model, expected_output_tokens=output_tokens, params=params, prices=prices, batch=batch), problems

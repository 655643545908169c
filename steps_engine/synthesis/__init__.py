"""Stage 5, synthesis: combinations in, generated conversations out.

Takes combinations and the taxonomy folder; gives one results record per combination: seed
examples from the user's data (`seeds`), the prompt (`prompts`), the LLM call through
`steps_engine.llm` with a resumable, locked, cached runner (`runner`; `run_identity` says
whether a results file is this run's), parsed and checked
conversations (`parsing`) and Batch API files (`batch`).
"""

from steps_engine.synthesis.prompts import DEFAULT_TEMPLATE, build_messages, load_template
from steps_engine.synthesis.runner import SynthesisReport, load_combinations, prepare_jobs, read_results, synthesize, synthesize_async

__all__ = [
    "DEFAULT_TEMPLATE",
    "SynthesisReport",
    "build_messages",
    "load_combinations",
    "load_template",
    "prepare_jobs",
    "read_results",
    "synthesize",
    "synthesize_async",
]

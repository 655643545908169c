"""Stage 6, quality: generated results in, checked results out.

Takes results records; gives every record back with a status, reason codes and a quality
object. Checks, one module each: near-duplicates by MinHash LSH with exact Jaccard
verification (`dedup`), copies of the seed examples (`seedcopy`), benchmark contamination
by 13-gram overlap with file and line (`decontam`), rules (`rules`), an LLM judge with an
editable rubric (`judge`); `check` is the resumable runner (`steps check`), `text` the shared
normalisation and n-gram hashing. `export` reads its output.
"""

from steps_engine.quality.check import CheckConfig, CheckReport, automatic_checks, check, check_async, estimate_judge
from steps_engine.quality.decontam import BenchmarkIndex
from steps_engine.quality.dedup import DedupConfig, near_duplicates
from steps_engine.quality.judge import DEFAULT_RUBRIC, load_rubric, parse_verdict
from steps_engine.quality.rules import RULES, RuleConfig, check_rules

__all__ = [
    "BenchmarkIndex",
    "CheckConfig",
    "CheckReport",
    "DEFAULT_RUBRIC",
    "DedupConfig",
    "estimate_judge",
    "RULES",
    "RuleConfig",
    "automatic_checks",
    "check",
    "check_async",
    "check_rules",
    "load_rubric",
    "near_duplicates",
    "parse_verdict",
]

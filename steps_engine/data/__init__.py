"""Stage 1, data: records in, skill counts out.

Takes instruction records (JSONL, JSON, CSV, Parquet; every field shape) and a `FieldMapping`;
gives per-row skill lists and texts, bad-row reports with file and line (`IngestReport`),
skill and pair co-occurrence counts (`CooccurrenceCounts`), the rows behind skills
(`rows`: instruction, response, skills, for reading and naming), and the planted-hierarchy
generator used by tests and benchmarks. `ray_counting` (with `ray_session`) counts on a Ray
cluster; it is imported only by `--engine ray`, never from here.
"""

from steps_engine.data.cooccurrence import CooccurrenceCounter, CooccurrenceCounts, CountsMerger, merge_counts
from steps_engine.data.ingest import BadRow, FieldMapping, IngestError, IngestReport, count_skills, iter_records, preview
from steps_engine.data.rows import RowTable, read_rows
from steps_engine.data.synthetic import planted_counts, planted_skill_rows

__all__ = [
    "BadRow",
    "CooccurrenceCounter",
    "CooccurrenceCounts",
    "CountsMerger",
    "FieldMapping",
    "IngestError",
    "IngestReport",
    "count_skills",
    "iter_records",
    "merge_counts",
    "planted_counts",
    "planted_skill_rows",
    "preview",
    "read_rows",
    "RowTable",
]

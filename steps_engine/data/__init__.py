"""Stage 1, data: records in, skill counts out.

Takes instruction records (JSONL, JSON, CSV, Parquet; every field shape) and a `FieldMapping`;
gives per-row skill lists and texts, bad-row reports with file and line (`IngestReport`),
skill and pair co-occurrence counts (`CooccurrenceCounts`), the rows behind skills
(`rows`: instruction, response, skills, for reading and naming), and the planted-hierarchy
generator used by tests and benchmarks.
"""

from steps_engine.data.cooccurrence import CooccurrenceCounter, CooccurrenceCounts
from steps_engine.data.ingest import BadRow, FieldMapping, IngestError, IngestReport, count_skills, iter_records, preview
from steps_engine.data.rows import RowTable, read_rows
from steps_engine.data.synthetic import planted_counts, planted_skill_rows

__all__ = [
    "BadRow",
    "CooccurrenceCounter",
    "CooccurrenceCounts",
    "FieldMapping",
    "IngestError",
    "IngestReport",
    "count_skills",
    "iter_records",
    "planted_counts",
    "planted_skill_rows",
    "preview",
    "read_rows",
    "RowTable",
]

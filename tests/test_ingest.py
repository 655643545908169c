"""Ingest: formats, record shapes, field mapping, bad rows with line numbers, co-occurrence counts.

Bad-input fixtures are written into tmp_path by the tests themselves (nothing large is committed).
"""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from steps_engine.data.cooccurrence import CooccurrenceCounter
from steps_engine.data.ingest import (
    BadRow,
    FieldMapping,
    IngestError,
    IngestReport,
    SkillFieldError,
    count_skills,
    detect_format,
    detect_shape,
    extract_skills,
    extract_text,
    get_field,
    iter_records,
    preview,
)
from steps_engine.taxonomy.build import ingest_graph

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def write_lines(path: Path, lines: list) -> Path:
    """Write JSONL: dicts are dumped, str/bytes written as they are."""
    with open(path, "wb") as fh:
        for line in lines:
            if isinstance(line, bytes):
                fh.write(line + b"\n")
            elif isinstance(line, str):
                fh.write(line.encode("utf-8") + b"\n")
            else:
                fh.write(json.dumps(line).encode("utf-8") + b"\n")
    return path


def pairs_of(counts) -> dict[tuple[str, str], int]:
    """Pair counts keyed by sorted skill names."""
    out = {}
    for a, b, c in zip(counts.pair_src, counts.pair_dst, counts.pair_count):
        out[tuple(sorted((counts.skills[a], counts.skills[b])))] = int(c)
    return out


def skill_counts(counts) -> dict[str, int]:
    return {s: int(c) for s, c in zip(counts.skills, counts.counts)}


def brute_force(rows: list[list[str]]):
    n, pairs = Counter(), Counter()
    for row in rows:
        distinct = sorted(set(row))
        n.update(distinct)
        pairs.update(itertools.combinations(distinct, 2))
    return dict(n), dict(pairs)


# --- formats -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, fmt",
    [("a.jsonl", "jsonl"), ("a.NDJSON", "jsonl"), ("a.json", "json"), ("a.csv", "csv"),
     ("a.tsv", "csv"), ("a.parquet", "parquet"), ("a.pq", "parquet")],
)
def test_detect_format_by_extension(name, fmt):
    assert detect_format(name) == fmt


def test_detect_format_rejects_unknown_extension():
    with pytest.raises(ValueError, match=r"\.txt"):
        detect_format("data.txt")


def test_field_mapping_validates_arguments():
    with pytest.raises(ValueError, match="skills_field"):
        FieldMapping("")
    with pytest.raises(ValueError, match="skills_sep"):
        FieldMapping("s", skills_sep="")
    with pytest.raises(ValueError, match="format"):
        FieldMapping("s", format="xml")


ROWS = [
    {"id": 1, "skills": ["a", "b", "c"]},
    {"id": 2, "skills": ["b", "c"]},
    {"id": 3, "skills": ["c"]},
]
# Hand count: n_a=1, n_b=2, n_c=3; c_ab=1, c_ac=1, c_bc=2; one single-skill row (id 3).
EXPECTED_N = {"a": 1, "b": 2, "c": 3}
EXPECTED_PAIRS = {("a", "b"): 1, ("a", "c"): 1, ("b", "c"): 2}


def _write_format(tmp_path: Path, fmt: str) -> Path:
    if fmt == "jsonl":
        return write_lines(tmp_path / "d.jsonl", ROWS)
    if fmt == "json":
        p = tmp_path / "d.json"
        p.write_text(json.dumps(ROWS, indent=2))
        return p
    if fmt == "csv":
        p = tmp_path / "d.csv"
        p.write_text('id,skills\n1,"[""a"", ""b"", ""c""]"\n2,"[""b"", ""c""]"\n3,c\n')
        return p
    if fmt == "tsv":
        p = tmp_path / "d.tsv"
        p.write_text('id\tskills\n1\t["a", "b", "c"]\n2\t["b", "c"]\n3\t["c"]\n')
        return p
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), p)
    return p


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "tsv", "parquet"])
def test_every_format_gives_the_same_counts(tmp_path, fmt):
    path = _write_format(tmp_path, fmt)
    counts, report = count_skills(path, FieldMapping("skills"))
    assert skill_counts(counts) == EXPECTED_N
    assert pairs_of(counts) == EXPECTED_PAIRS
    assert counts.n_rows == 3
    assert (report.rows_read, report.rows_used, report.rows_skipped) == (3, 3, 0)
    assert report.single_skill_rows == 1
    assert report.distinct_skills == 3
    assert report.format == ("csv" if fmt == "tsv" else fmt)


def test_format_override_reads_a_jsonl_file_with_another_extension(tmp_path):
    path = write_lines(tmp_path / "d.txt", ROWS)
    counts, _ = count_skills(path, FieldMapping("skills", format="jsonl"))
    assert skill_counts(counts) == EXPECTED_N


def test_json_lines_saved_as_json_are_read_line_by_line(tmp_path):
    path = write_lines(tmp_path / "d.json", ROWS)
    counts, report = count_skills(path, FieldMapping("skills"))
    assert skill_counts(counts) == EXPECTED_N
    assert report.rows_skipped == 0


def test_jsonl_with_bom_and_crlf_and_blank_lines(tmp_path):
    path = tmp_path / "d.jsonl"
    body = "\r\n".join(json.dumps(r) for r in ROWS)
    path.write_bytes(b"\xef\xbb\xbf" + body.encode() + b"\r\n\r\n   \n")
    counts, report = count_skills(path, FieldMapping("skills"))
    assert skill_counts(counts) == EXPECTED_N
    assert (report.rows_read, report.rows_skipped) == (3, 0)


# --- record shapes and text ----------------------------------------------------------------

INFINITY = {
    "id": "x1",
    "conversations": [
        {"from": "human", "value": "Sort this list."},
        {"from": "gpt", "value": "Sorted."},
    ],
    "label": {"ability_en": ["Coding ", "sorting", "coding", ""], "cate_ability_en": ["x"]},
}
SHAREGPT = {"conversations": [{"from": "system", "value": "Be nice."}, {"from": "user", "value": "Hi there"}]}
OPENAI = {
    "messages": [
        {"role": "system", "content": "You help."},
        {"role": "user", "content": [{"type": "text", "text": "Part one"}, {"type": "text", "text": "part two"}]},
        {"role": "assistant", "content": "ok"},
    ],
    "tags": "math|logic",
}
ALPACA = {"instruction": "Translate", "input": "bonjour", "output": "hello", "skills": ["translation"]}
ALPACA_NO_INPUT = {"instruction": "Write a poem", "input": "", "output": "..."}
TABLE = {"prompt": "What is 2+2?", "skills": "arithmetic; math"}


@pytest.mark.parametrize(
    "record, shape, text",
    [
        (INFINITY, "infinity", "Sort this list."),
        (SHAREGPT, "sharegpt", "Hi there"),
        (OPENAI, "openai", "Part one\npart two"),
        (ALPACA, "alpaca", "Translate\n\nbonjour"),
        (ALPACA_NO_INPUT, "alpaca", "Write a poem"),
        (TABLE, "table", "What is 2+2?"),
    ],
)
def test_each_record_shape_and_its_instruction_text(record, shape, text):
    assert detect_shape(record) == shape
    assert extract_text(record) == text


def test_text_field_overrides_the_shape():
    assert extract_text(INFINITY, "conversations.1.value") == "Sorted."
    assert extract_text(INFINITY, "no.such.field") == ""


def test_infinity_instruct_skills_are_trimmed_deduplicated_and_casefolded():
    m = FieldMapping("label.ability_en")
    # "Coding " -> "Coding"; "" dropped; "coding" differs from "Coding" without casefold.
    assert extract_skills(INFINITY, m) == ["Coding", "sorting", "coding"]
    m_fold = FieldMapping("label.ability_en", casefold=True)
    # casefold makes "coding" a duplicate of "Coding"; the first occurrence's position is kept.
    assert extract_skills(INFINITY, m_fold) == ["coding", "sorting"]


def test_delimited_string_skills():
    assert extract_skills(OPENAI, FieldMapping("tags", skills_sep="|")) == ["math", "logic"]
    assert extract_skills(TABLE, FieldMapping("skills", skills_sep=";")) == ["arithmetic", "math"]
    # without a separator the whole string is one skill
    assert extract_skills(TABLE, FieldMapping("skills")) == ["arithmetic; math"]
    rec = {"s": " a ,, b , a ,  "}
    assert extract_skills(rec, FieldMapping("s", skills_sep=",")) == ["a", "b"]


def test_json_looking_list_string_is_parsed_not_evaluated():
    rec = {"s": '["x", " y ", "x"]'}
    assert extract_skills(rec, FieldMapping("s")) == ["x", "y"]
    assert extract_skills(rec, FieldMapping("s", skills_sep=",")) == ["x", "y"]
    with pytest.raises(SkillFieldError, match="^invalid list string"):
        extract_skills({"s": "[__import__('os')]"}, FieldMapping("s"))


def test_dotted_paths_with_list_indices_and_literal_dotted_keys():
    assert get_field(INFINITY, "label.ability_en") == INFINITY["label"]["ability_en"]
    assert get_field(INFINITY, "conversations.0.value") == "Sort this list."
    assert get_field(INFINITY, "conversations.-1.from") == "gpt"
    assert get_field({"label.ability_en": ["z"]}, "label.ability_en") == ["z"]
    # a CSV cell holding a JSON object can be walked into
    assert get_field({"label": '{"ability_en": ["q"]}'}, "label.ability_en") == ["q"]
    with pytest.raises(KeyError, match="ability_zh"):
        get_field(INFINITY, "label.ability_zh")
    with pytest.raises(KeyError):
        get_field(INFINITY, "conversations.5.value")
    assert get_field(INFINITY, "label.nope", None) is None


@pytest.mark.parametrize(
    "record, reason",
    [
        ({"other": 1}, "missing field"),
        ({"s": None}, "empty field"),
        ({"s": []}, "empty field"),
        ({"s": "   "}, "empty field"),
        ({"s": ["", "  "]}, "empty field"),
        ({"s": 3}, "wrong type"),
        ({"s": 2.5}, "wrong type"),
        ({"s": True}, "wrong type"),
        ({"s": {"a": 1}}, "wrong type"),
        ({"s": ["a", 7]}, "wrong type"),
        ({"s": ["a", ["b"]]}, "wrong type"),
    ],
)
def test_bad_skill_fields_raise_with_their_reason(record, reason):
    with pytest.raises(SkillFieldError) as info:
        extract_skills(record, FieldMapping("s"))
    assert info.value.reason.startswith(reason + ":")


def test_infinity_instruct_file_end_to_end(tmp_path):
    other = dict(INFINITY, label={"ability_en": ["sorting", "algorithms"]})
    path = write_lines(tmp_path / "inf.jsonl", [INFINITY, other])
    counts, report = count_skills(path, FieldMapping("label.ability_en", casefold=True))
    # rows: {coding, sorting}, {sorting, algorithms}
    assert skill_counts(counts) == {"coding": 1, "sorting": 2, "algorithms": 1}
    assert pairs_of(counts) == {("coding", "sorting"): 1, ("algorithms", "sorting"): 1}
    assert report.single_skill_rows == 0


# --- bad input -----------------------------------------------------------------------------


def test_bad_rows_are_reported_with_line_numbers_and_reasons(tmp_path):
    lines = [
        {"s": ["a", "b"]},  # 1 ok
        '{"s": ["a", "c"]',  # 2 truncated
        {"s": 5},  # 3 number
        {"s": {"x": "y"}},  # 4 dict
        {"t": ["a"]},  # 5 missing
        {"s": []},  # 6 empty list
        "",  # 7 blank: not a record
        '["a", "b"]',  # 8 JSON but not an object
        {"s": ["solo"]},  # 9 ok, single skill
        b'{"s": ["caf\xe9"]}',  # 10 latin-1 byte: not UTF-8
        "not json at all",  # 11
        {"s": ["b", "c", "a"]},  # 12 ok
    ]
    path = write_lines(tmp_path / "bad.jsonl", lines)
    counts, report = count_skills(path, FieldMapping("s"))
    got = [(b.line, b.kind) for b in report.skipped]
    assert got == [
        (2, "invalid JSON"),
        (3, "wrong type"),
        (4, "wrong type"),
        (5, "missing field"),
        (6, "empty field"),
        (8, "not a JSON object"),
        (10, "not UTF-8"),
        (11, "invalid JSON"),
    ]
    assert all(b.unit == "line" for b in report.skipped)
    assert "number" in report.skipped[1].reason and "object" in report.skipped[2].reason
    assert report.rows_read == 11  # the blank line is not a record
    assert report.rows_used == 3
    assert report.rows_skipped == 8
    assert report.skipped_by_reason == {
        "invalid JSON": 2,
        "wrong type": 2,
        "missing field": 1,
        "empty field": 1,
        "not a JSON object": 1,
        "not UTF-8": 1,
    }
    assert report.single_skill_rows == 1
    assert skill_counts(counts) == {"a": 2, "b": 2, "c": 1, "solo": 1}
    assert pairs_of(counts) == {("a", "b"): 2, ("a", "c"): 1, ("b", "c"): 1}
    # iter_records gives the same line numbers without raising
    bad_lines = [line for line, rec in iter_records(path) if isinstance(rec, BadRow)]
    assert bad_lines == [2, 8, 10, 11]


def test_truncated_last_line_without_newline(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"s": ["a", "b"]}\n{"s": ["a", "b"]}\n{"s": ["a", "b')
    counts, report = count_skills(path, FieldMapping("s"))
    assert [(b.line, b.kind) for b in report.skipped] == [(3, "invalid JSON")]
    assert pairs_of(counts) == {("a", "b"): 2}


def test_empty_file_gives_a_clean_report_with_zero_rows(tmp_path):
    for name in ("e.jsonl", "e.json", "e.csv", "e.parquet"):
        path = tmp_path / name
        path.write_bytes(b"")
        counts, report = count_skills(path, FieldMapping("s"))
        assert (report.rows_read, report.rows_used, report.rows_skipped) == (0, 0, 0)
        assert counts.n_rows == 0 and counts.skills == [] and counts.pair_src.size == 0
    graph, report, _ = ingest_graph(tmp_path / "e.jsonl", FieldMapping("s"))
    assert graph.n_skills == 0 and graph.n_edges == 0


def test_whitespace_only_and_empty_array_files(tmp_path):
    (tmp_path / "w.jsonl").write_text("\n  \n\n")
    (tmp_path / "a.json").write_text("  [ ]\n")
    for name in ("w.jsonl", "a.json"):
        _, report = count_skills(tmp_path / name, FieldMapping("s"))
        assert report.rows_read == 0 and report.rows_skipped == 0


def test_file_that_is_not_utf8_at_all(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes("\n".join(json.dumps({"s": ["caf\u00e9", "na\u00efve"]}, ensure_ascii=False)
                               for _ in range(3)).encode("latin-1"))
    counts, report = count_skills(path, FieldMapping("s"))
    assert [(b.line, b.kind) for b in report.skipped] == [(1, "not UTF-8"), (2, "not UTF-8"), (3, "not UTF-8")]
    assert report.rows_used == 0 and counts.n_rows == 0
    assert "0xe9" in report.skipped[0].reason


def test_utf16_file_is_reported_not_crashed(tmp_path):
    path = tmp_path / "u16.jsonl"
    path.write_bytes(json.dumps({"s": ["a"]}).encode("utf-16"))
    _, report = count_skills(path, FieldMapping("s"))
    assert report.rows_used == 0 and report.rows_skipped == 1
    assert report.skipped[0].kind in ("not UTF-8", "invalid JSON")


def test_two_megabyte_single_lines_valid_and_invalid(tmp_path):
    big_text = "x" * (2 * 1024 * 1024)
    valid = json.dumps({"s": ["long", "text"], "prompt": big_text})
    invalid = valid[:-2]  # cut the closing brace: truncated 2 MB line
    assert len(valid) > 2 * 1024 * 1024
    path = write_lines(tmp_path / "big.jsonl", [valid, invalid, {"s": ["long", "short"]}])
    counts, report = count_skills(path, FieldMapping("s"))
    assert [(b.line, b.kind) for b in report.skipped] == [(2, "invalid JSON")]
    assert len(report.skipped[0].reason) < 300  # the reason never echoes the line
    assert pairs_of(counts) == {("long", "text"): 1, ("long", "short"): 1}
    rows = preview(path, FieldMapping("s"), n=2)
    assert rows[0]["skills"] == ["long", "text"] and len(rows[0]["text"]) <= 200
    assert rows[1]["line"] == 2 and rows[1]["error"].startswith("invalid JSON")


def test_two_megabyte_csv_cell(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("prompt,skills\n" + "y" * (2 * 1024 * 1024) + ",a;b\nshort,b;c\n")
    counts, report = count_skills(path, FieldMapping("skills", skills_sep=";"))
    assert report.rows_skipped == 0
    assert pairs_of(counts) == {("a", "b"): 1, ("b", "c"): 1}


def test_csv_bad_rows_keep_file_line_numbers(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(
        b"prompt,skills\n"  # 1 header
        b'"multi\nline prompt","a, b"\n'  # 2-3 one record spanning two lines
        b"only one column\n"  # 4 wrong number of columns
        b"caf\xe9,\"c, d\"\n"  # 5 not UTF-8
        b"\n"  # 6 blank
        b'p,""\n'  # 7 empty field
        b'p,"[""a"", ""b"""\n'  # 8 list string with a missing ]: a single skill '["a", "b"'
        b'p,"[""a"" ""b""]"\n'  # 9 invalid list string
        b'p,"b, c"\n'  # 10 ok
    )
    counts, report = count_skills(path, FieldMapping("skills", skills_sep=", "))
    assert [(b.line, b.kind) for b in report.skipped] == [
        (4, "wrong number of columns"),
        (5, "not UTF-8"),
        (7, "empty field"),
        (9, "invalid list string"),
    ]
    assert report.rows_read == 7 and report.rows_used == 3
    assert skill_counts(counts) == {"a": 1, "b": 2, "c": 1, '["a"': 1, '"b"': 1}


def test_csv_without_header_is_an_ingest_error(tmp_path):
    path = tmp_path / "h.csv"
    path.write_bytes(b"caf\xe9,skills\n1,a\n")
    with pytest.raises(IngestError, match="header"):
        count_skills(path, FieldMapping("skills"))


def test_json_array_bad_records_are_reported_by_record_index(tmp_path):
    path = tmp_path / "arr.json"
    path.write_text(json.dumps([{"s": ["a", "b"]}, {"s": 1}, "text", {"t": []}, {"s": ["b"]}]))
    counts, report = count_skills(path, FieldMapping("s"))
    assert [(b.line, b.unit, b.kind) for b in report.skipped] == [
        (2, "record", "wrong type"),
        (3, "record", "not a JSON object"),
        (4, "record", "missing field"),
    ]
    assert report.single_skill_rows == 1 and skill_counts(counts) == {"a": 1, "b": 2}


def test_damaged_json_array_keeps_the_good_records_before_the_damage(tmp_path):
    path = tmp_path / "dam.json"
    path.write_bytes(
        b'[\n {"s": ["a", "b"]},\n {"s": ["caf\xe9"]},\n {"s": ["b", "c"]},\n {"s": ["c", \n'
    )
    counts, report = count_skills(path, FieldMapping("s"))
    assert [(b.line, b.kind) for b in report.skipped] == [(2, "not UTF-8"), (4, "invalid JSON")]
    assert "file line 5" in report.skipped[1].reason
    assert pairs_of(counts) == {("a", "b"): 1, ("b", "c"): 1}


def test_parquet_list_columns_and_bad_cells(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"skills": [["a", "b"], None, [], ["b", "c", "b"]], "prompt": ["p1", "p2", "p3", "p4"]})
    path = tmp_path / "d.parquet"
    pq.write_table(table, path, row_group_size=2)
    counts, report = count_skills(path, FieldMapping("skills"))
    assert [(b.line, b.unit, b.kind) for b in report.skipped] == [(2, "record", "empty field"), (3, "record", "empty field")]
    assert pairs_of(counts) == {("a", "b"): 1, ("b", "c"): 1}
    assert preview(path, FieldMapping("skills"), n=1) == [{"line": 1, "text": "p1", "skills": ["a", "b"]}]


def test_corrupt_parquet_and_missing_file_are_ingest_errors(tmp_path):
    path = tmp_path / "x.parquet"
    path.write_bytes(b"this is not parquet")
    with pytest.raises(IngestError, match="Parquet"):
        count_skills(path, FieldMapping("s"))
    with pytest.raises(IngestError, match="no such file"):
        count_skills(tmp_path / "missing.jsonl", FieldMapping("s"))


def test_skipped_examples_are_capped_but_counts_stay_exact(tmp_path):
    path = write_lines(tmp_path / "many.jsonl", ["{bad"] * 1500 + [{"s": ["a", "b"]}])
    _, report = count_skills(path, FieldMapping("s"))
    assert report.rows_skipped == 1500 and len(report.skipped) == 1000
    assert report.skipped_by_reason == {"invalid JSON": 1500}
    assert report.skipped[-1].line == 1000


def test_report_json_round_trip(tmp_path):
    path = write_lines(tmp_path / "r.jsonl", [{"s": ["a", "b"]}, "{oops"])
    _, report = count_skills(path, FieldMapping("s"))
    data = json.loads(json.dumps(report.to_json()))
    assert data["skipped"] == [{"line": 2, "reason": report.skipped[0].reason, "unit": "line"}]
    assert IngestReport.from_json(data) == report
    assert "1 skipped (invalid JSON: 1)" in report.summary()


def test_progress_reaches_the_file_size(tmp_path):
    path = write_lines(tmp_path / "p.jsonl", [{"s": ["a", str(i % 7)]} for i in range(2000)])
    calls = []
    count_skills(path, FieldMapping("s"), progress=lambda done, total: calls.append((done, total)))
    size = path.stat().st_size
    assert calls[-1] == (size, size)
    assert len(calls) > 10 and all(d <= t == size for d, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_preview_mixes_good_and_bad_rows(tmp_path):
    path = write_lines(tmp_path / "pv.jsonl", [ALPACA, {"instruction": "x", "output": "y"}, "{", ALPACA])
    rows = preview(path, FieldMapping("skills"), n=3)
    assert rows[0] == {"line": 1, "text": "Translate\n\nbonjour", "skills": ["translation"]}
    assert rows[1]["line"] == 2 and rows[1]["error"].startswith("missing field")
    assert rows[2]["line"] == 3 and rows[2]["error"].startswith("invalid JSON")
    assert len(rows) == 3


# --- graph ---------------------------------------------------------------------------------


def test_ingest_graph_builds_the_steps_weights(tmp_path):
    path = _write_format(tmp_path, "jsonl")
    graph, report, pruning = ingest_graph(path, FieldMapping("skills"), weighting="steps")
    assert graph.skills == ["a", "b", "c"] and graph.n_rows == 3
    w = {(graph.skills[a], graph.skills[b]): x for a, b, x in zip(graph.src, graph.dst, graph.weight)}
    # steps weight (c+2)/((n_i+1)(n_j+1)): ab (1+2)/(2*3)=0.5, ac (1+2)/(2*4)=0.375, bc (2+2)/(3*4)=1/3
    assert w == pytest.approx({("a", "b"): 0.5, ("a", "c"): 0.375, ("b", "c"): 1 / 3})
    assert report.rows_used == 3 and pruning["skills_dropped_min_count"] == 0
    g2, _, pruning2 = ingest_graph(path, FieldMapping("skills"), weighting="count", min_count=2)
    # a (n=1) is dropped; only bc (c=2) survives
    assert g2.skills == ["b", "c"] and list(g2.weight) == [2.0]
    assert pruning2["skills_dropped_min_count"] == 1


def test_ingest_graph_validates_arguments(tmp_path):
    path = _write_format(tmp_path, "jsonl")
    with pytest.raises(ValueError, match="weighting"):
        ingest_graph(path, FieldMapping("skills"), weighting="cosine")
    with pytest.raises(ValueError, match="min_count"):
        ingest_graph(path, FieldMapping("skills"), min_count=0)


# --- co-occurrence counter -----------------------------------------------------------------


def test_counter_matches_brute_force_across_chunk_boundaries():
    rng = random.Random(7)
    names = [f"s{i}" for i in range(40)]
    rows = [rng.sample(names, rng.randint(0, 9)) + ([names[0]] if rng.random() < 0.2 else []) for _ in range(3000)]
    counter = CooccurrenceCounter(chunk_rows=257)
    for row in rows:
        counter.add(row)
    result = counter.result()
    n, pairs = brute_force(rows)
    assert skill_counts(result) == n
    assert pairs_of(result) == {k: v for k, v in pairs.items()}
    assert result.n_rows == sum(1 for r in rows if r)
    assert np.all(result.pair_src < result.pair_dst)
    keys = result.pair_src * 2**32 + result.pair_dst
    assert np.all(np.diff(keys) > 0)  # sorted, unique


def test_counter_result_can_be_taken_twice():
    c = CooccurrenceCounter(chunk_rows=2)
    c.add(["a", "b"])
    first = c.result()
    c.add(["a", "b", "c"])
    second = c.result()
    assert pairs_of(first) == {("a", "b"): 1}
    assert pairs_of(second) == {("a", "b"): 2, ("a", "c"): 1, ("b", "c"): 1}
    assert skill_counts(second) == {"a": 2, "b": 2, "c": 1}


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.lists(st.sampled_from("abcdefghij"), max_size=7), max_size=60),
    chunk=st.integers(1, 20),
)
def test_counter_equals_a_naive_counter(rows, chunk):
    counter = CooccurrenceCounter(chunk_rows=chunk)
    for row in rows:
        counter.add(row)
    result = counter.result()
    n, pairs = brute_force(rows)
    assert skill_counts(result) == n
    assert pairs_of(result) == pairs
    assert result.n_rows == sum(1 for r in rows if r)


# --- real data -----------------------------------------------------------------------------


def _real(rel: str) -> Path:
    path = DATA / rel
    if not path.exists():
        pytest.skip(f"real data not found: {path}")
    return path


def test_ifeval_prompts_ingest_with_the_right_counts():
    path = _real("ifeval/input_data.jsonl")
    counts, report = count_skills(path, FieldMapping("instruction_id_list", text_field="prompt"))
    assert (report.rows_read, report.rows_used, report.rows_skipped) == (540, 540, 0)
    assert report.distinct_skills == 25
    rows = [json.loads(x)["instruction_id_list"] for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    n, pairs = brute_force(rows)
    assert skill_counts(counts) == n and pairs_of(counts) == pairs
    assert report.single_skill_rows == sum(1 for r in rows if len(set(r)) == 1)
    assert preview(path, FieldMapping("instruction_id_list"), n=1)[0]["text"].startswith("Write a 300+ word")


def test_instruct_skillmix_ingests_with_the_right_counts():
    path = _real("instruct_skillmix/ism_sda_k2_1000.json")
    mapping = FieldMapping("skills_joined_str", skills_sep=", ")
    counts, report = count_skills(path, mapping)
    assert (report.rows_read, report.rows_used, report.rows_skipped) == (1000, 1000, 0)
    assert report.distinct_skills == 942
    # brute force over all 1,000 records must match exactly
    records = json.loads(path.read_text(encoding="utf-8"))
    rows = [[s.strip() for s in r["skills_joined_str"].split(", ") if s.strip()] for r in records]
    n, pairs = brute_force(rows)
    assert skill_counts(counts) == n and pairs_of(counts) == pairs
    assert extract_text(records[0]).startswith(records[0]["instruction"][:20])
    graph, _, _ = ingest_graph(path, mapping)
    assert graph.n_skills == 942 and graph.n_rows == 1000


def test_parquet_nested_struct_and_literal_dotted_columns(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    nested = tmp_path / "nested.parquet"
    pq.write_table(pa.Table.from_pylist([INFINITY, dict(INFINITY, label={"ability_en": ["x", "y"]})]), nested)
    counts, report = count_skills(nested, FieldMapping("label.ability_en"))
    assert report.rows_skipped == 0
    assert skill_counts(counts) == {"Coding": 1, "sorting": 1, "coding": 1, "x": 1, "y": 1}
    assert preview(nested, FieldMapping("label.ability_en"), n=1)[0]["text"] == "Sort this list."

    dotted = tmp_path / "dotted.parquet"
    pq.write_table(pa.table({"label.ability_en": [["a", "b"], ["b"]], "other": [1, 2]}), dotted)
    counts, _ = count_skills(dotted, FieldMapping("label.ability_en"))
    assert pairs_of(counts) == {("a", "b"): 1} and skill_counts(counts) == {"a": 1, "b": 2}

    _, report = count_skills(dotted, FieldMapping("nope"))
    assert report.skipped_by_reason == {"missing field": 2}


def test_tab_separated_file_with_another_extension_is_sniffed(tmp_path):
    path = tmp_path / "d.txt"
    path.write_text("prompt\tskills\nhello, world\ta|b\n")
    counts, report = count_skills(path, FieldMapping("skills", skills_sep="|", format="csv"))
    assert report.rows_skipped == 0 and pairs_of(counts) == {("a", "b"): 1}


_BAD_LINES = {
    "invalid JSON": '{"s": ["a"',
    "not UTF-8": b'{"s": ["\xff"]}',
    "not a JSON object": "[1, 2]",
    "missing field": '{"t": ["a"]}',
    "empty field": '{"s": [" "]}',
    "wrong type": '{"s": 12}',
}


@settings(max_examples=40, deadline=None)
@given(
    items=st.lists(
        st.one_of(
            st.lists(st.sampled_from(["a", "b", "c", "d", " a", "B"]), min_size=1, max_size=5),
            st.sampled_from(sorted(_BAD_LINES)),
        ),
        max_size=40,
    )
)
def test_every_line_is_either_used_or_reported(tmp_path_factory, items):
    path = tmp_path_factory.mktemp("prop") / "p.jsonl"
    lines = [{"s": it} if isinstance(it, list) else _BAD_LINES[it] for it in items]
    write_lines(path, lines)
    counts, report = count_skills(path, FieldMapping("s", casefold=True))
    expected_bad = [(i, it) for i, it in enumerate(items, 1) if isinstance(it, str)]
    assert [(b.line, b.kind) for b in report.skipped] == expected_bad
    assert report.rows_read == len(items) == report.rows_used + report.rows_skipped
    good = [[s.strip().casefold() for s in it] for it in items if isinstance(it, list)]
    n, pairs = brute_force(good)
    assert skill_counts(counts) == n and pairs_of(counts) == pairs
    assert report.single_skill_rows == sum(1 for r in good if len(set(r)) == 1)

"""Ingest limits and messages (issue 12): a capped row, null items, what an unreadable input
is, damaged-array wording, keys with dots inside nested objects."""

from __future__ import annotations

import json
import os

import pytest

from steps_engine.cli import main
from steps_engine.data.ingest import (
    FieldMapping,
    IngestError,
    check_input_file,
    count_skills,
    get_field,
    iter_records,
    split_path,
)


def test_a_5000_skill_row_is_capped_and_reported(tmp_path):
    p = tmp_path / "d.jsonl"
    big = [f"s{i}" for i in range(5000)]
    rows = [{"skills": ["a", "b"]}, {"skills": big}, {"skills": ["a", "s1"]}]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    counts, report = count_skills(p, FieldMapping("skills"))
    # the long row keeps s0..s63: C(64, 2) = 2016 pairs, plus a-b and a-s1 from the other rows
    assert counts.n_pairs == 64 * 63 // 2 + 2
    assert counts.n_skills == 2 + 64  # a, b and s0..s63
    assert report.noted_by_reason == {"truncated": 1}
    assert report.noted[0].line == 2 and "5000 skills, counted the first 64" in report.noted[0].reason
    assert "truncated: 1" in report.summary()
    again = json.loads(json.dumps(report.to_json()))
    assert type(report).from_json(again).noted[0].line == 2
    p.write_text(json.dumps({"skills": big[:100]}) + "\n")
    counts, uncapped = count_skills(p, FieldMapping("skills", max_skills=None))
    assert counts.n_pairs == 100 * 99 // 2 and not uncapped.noted  # C(100, 2): no cap, nothing noted


def test_cli_cap_flag_and_report(tmp_path, capsys):
    p = tmp_path / "d.jsonl"
    p.write_text(json.dumps({"skills": [f"s{i}" for i in range(10)]}) + "\n" + json.dumps({"skills": ["s0", "x"]}) + "\n")
    assert main(["taxonomy", str(p), "--skills-field", "skills", "--max-skills-per-row", "4", "--height", "2",
                 "--out", str(tmp_path / "o"), "--quiet", "--json"]) == 0
    cap = capsys.readouterr()
    assert "changed line 1: truncated: 10 skills, counted the first 4" in cap.err
    summary = json.loads(cap.out.splitlines()[-1])
    assert summary["skills"] == 5 and summary["rows_changed"] == {"truncated": 1}
    with pytest.raises(ValueError, match="max_skills"):
        FieldMapping("skills", max_skills=1)


def test_null_items_are_dropped_and_reported(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text('{"skills": [null, "a", "b"]}\n{"skills": ["a", "c"]}\n{"skills": [null, null, "c"]}\n')
    counts, report = count_skills(p, FieldMapping("skills"))
    assert report.rows_used == 3 and report.noted_by_reason == {"null items": 2}
    assert [(n.line, n.reason.split(":")[1].strip()) for n in report.noted] == [
        (1, "1 null item(s) in 'skills' dropped"), (3, "2 null item(s) in 'skills' dropped")]


@pytest.mark.parametrize("kind, words", [("missing", "no such file"), ("dangling", "does not exist"),
                                         ("loop", "symbolic link loop"), ("fifo", "FIFO"),
                                         ("devnull", "character device"), ("folder", "a folder")])
def test_unreadable_inputs_are_named_for_what_they_are(tmp_path, capsys, kind, words):
    p = tmp_path / "in.jsonl"
    if kind == "dangling":
        p.symlink_to(tmp_path / "gone.jsonl")
    elif kind == "loop":
        p.symlink_to(p)
    elif kind == "fifo":
        os.mkfifo(p)
    elif kind == "devnull":
        p = "/dev/null"
    elif kind == "folder":
        p.mkdir()
    with pytest.raises(IngestError, match=words):
        check_input_file(p)
    with pytest.raises(IngestError, match=words):
        list(iter_records(p, "jsonl"))
    assert main(["taxonomy", str(p), "--skills-field", "s", "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert words in err and (kind == "missing" or "not found" not in err)


def test_damaged_array_message_has_no_doubled_word(tmp_path):
    p = tmp_path / "d.json"
    p.write_text('[{"skills": ["a", "b"]},\n {"skills": ["a, c]}]')  # a string runs on to the end
    bad = [r for _, r in iter_records(p) if not isinstance(r, dict)]
    assert len(bad) == 1 and "at at" not in bad[0].reason
    assert "Unterminated string starting at file line 2" in bad[0].reason, bad[0].reason


@pytest.mark.parametrize("path, parts", [
    ("a.b", ["a", "b"]), ('meta["a.b"]', ["meta", "a.b"]), ('meta["a.b"].c', ["meta", "a.b", "c"]),
    ("['x.y']", ["x.y"]), ('m["a.b"]["c.d"]', ["m", "a.b", "c.d"]), ("a.0.b", ["a", "0", "b"])])
def test_split_path(path, parts):
    assert split_path(path) == parts


def test_a_dotted_key_inside_a_nested_object_can_be_addressed(tmp_path):
    rec = {"meta": {"a.b": ["x", "y"], "a": {"b": ["wrong"]}}}
    assert get_field(rec, 'meta["a.b"]') == ["x", "y"]
    assert get_field(rec, "meta.a.b") == ["wrong"]
    with pytest.raises(ValueError, match="not closed"):
        FieldMapping('meta["a.b')
    p = tmp_path / "d.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in [rec, {"meta": {"a.b": ["x", "z"]}}]))
    counts, report = count_skills(p, FieldMapping('meta["a.b"]'))
    assert sorted(counts.skills) == ["x", "y", "z"] and report.rows_skipped == 0


def test_a_dotted_key_in_a_parquet_struct_column(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "d.parquet"
    pq.write_table(pa.table({"meta": [{"a.b": ["x", "y"]}, {"a.b": ["y", "z"]}], "other": [1, 2]}), p)
    counts, report = count_skills(p, FieldMapping('meta["a.b"]'))
    assert sorted(counts.skills) == ["x", "y", "z"] and report.rows_used == 2

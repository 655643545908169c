"""The block logic of the Ray engine, without Ray: cutting files into blocks / chunks, counting
each block, merging in order. Each must give exactly what the single-process path gives."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from steps_engine.data.cooccurrence import CooccurrenceCounter, merge_counts
from steps_engine.data.ingest import FieldMapping, count_skills, iter_records
from steps_engine.data.ray_counting import count_block, input_files, merge_block_results, plan_blocks
from steps_engine.semantic.ray_tagging import _read_chunks, plan_reads

SKILLS = ["a", "b", "c", "d", "e", "f"]
MAP = FieldMapping("skills", max_skills=3)  # rows of 4 skills are truncated (and noted)

# one line of a JSONL file: a good row, a bad row of some kind, or a blank line
LINE = st.one_of(
    st.lists(st.sampled_from(SKILLS), min_size=1, max_size=4).map(lambda s: json.dumps({"skills": s}).encode()),
    st.sampled_from([b'{"skills": ["a", null, "b"]}', b"{broken", b"[1, 2]", b'{"other": 1}', b'{"skills": []}', b'{"skills": 3}',
                     b'{"skills": ["a", "\xff"]}', b"", b"   ", b"\t", b"\xef\xbb\xbf{}"]),
)


def _same_counts(a, b):
    assert a.skills == b.skills and a.n_rows == b.n_rows
    for name in ("counts", "pair_src", "pair_dst", "pair_count"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def _report(rep):
    d = rep.to_json()
    d.pop("seconds")
    return d


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(LINE, max_size=40), bom=st.booleans(), newline_at_end=st.booleans(),
       block=st.integers(1, 200))
def test_blocks_of_a_jsonl_file_count_and_report_like_one_pass(tmp_path_factory, lines, bom, newline_at_end, block):
    path = tmp_path_factory.mktemp("b") / "x.jsonl"
    data = b"\n".join(lines) + (b"\n" if newline_at_end and lines else b"")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    want_counts, want_rep = count_skills(path, MAP)
    files = input_files(path)
    blocks = plan_blocks(files, None, block)
    assert sum(b.nbytes for b in blocks) == path.stat().st_size
    counts, rep = merge_block_results(path, files, ((b, count_block(b, MAP)) for b in blocks))
    _same_counts(counts, want_counts)
    assert _report(rep) == _report(want_rep)  # bad rows with the same file line numbers


def test_jsonl_blocks_start_after_a_newline(tmp_path):
    # lines of 10 bytes (9 + newline): cuts at 25 and 50 move to the next line starts, 30 and 60
    path = tmp_path / "x.jsonl"
    path.write_bytes(b"".join(b'{"s":%03d}\n' % i for i in range(8)))
    blocks = plan_blocks([path], None, 25)
    assert [(b.start, b.end) for b in blocks] == [(0, 30), (30, 60), (60, 80)]


def test_merging_blocks_in_order_equals_one_counter():
    rng = np.random.default_rng(3)
    rows = [list(rng.choice(SKILLS, size=rng.integers(1, 5), replace=False)) for _ in range(300)]
    whole = CooccurrenceCounter(chunk_rows=7)
    parts = []
    for lo in range(0, 300, 37):
        c = CooccurrenceCounter(chunk_rows=5)
        for r in rows[lo : lo + 37]:
            c.add(r)
            whole.add(r)
        parts.append(c.result())
    _same_counts(merge_counts(parts), whole.result())


def test_parquet_row_groups_become_blocks_numbered_from_their_first_record(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"skills": ["a", "b"] if i % 3 else ["c"], "pad": "x" * 200} for i in range(100)]
    rows[57]["skills"] = None  # record 58: an empty field
    path = tmp_path / "x.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=10)
    files = input_files(path)
    blocks = plan_blocks(files, None, 1500)  # about one row group per block
    assert len(blocks) > 3 and blocks[1].first_record == 1 + sum(10 for _ in blocks[0].row_groups)
    counts, rep = merge_block_results(path, files, ((b, count_block(b, MAP)) for b in blocks))
    want_counts, want_rep = count_skills(path, MAP)
    _same_counts(counts, want_counts)
    assert _report(rep) == _report(want_rep)
    assert [(b.line, b.unit) for b in rep.skipped] == [(58, "record")]


def test_a_folder_lists_its_shards_in_order_and_skips_hidden_files(tmp_path):
    for name in ["part-1.jsonl", "part-0.jsonl", "_SUCCESS", ".part-0.jsonl.crc", "notes.txt", "sub/part-2.parquet"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    assert [p.relative_to(tmp_path).as_posix() for p in input_files(tmp_path)] == [
        "part-0.jsonl", "part-1.jsonl", "sub/part-2.parquet"]
    with pytest.raises(ValueError, match="no .jsonl"):
        input_files(_empty(tmp_path))


def _empty(tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    (d / "readme.md").write_text("no data")
    return d


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(LINE, max_size=40), bom=st.booleans(), newline_at_end=st.booleans(), per=st.integers(1, 9))
def test_tagging_chunks_found_from_bytes_are_the_chunks_of_tag_file(tmp_path_factory, lines, bom, newline_at_end, per):
    path = tmp_path_factory.mktemp("t") / "x.jsonl"
    data = b"\n".join(lines) + (b"\n" if newline_at_end and lines else b"")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    records = [(line, rec) for line, rec in iter_records(path)]
    want = [records[i : i + per] for i in range(0, len(records), per)]
    tasks, total = plan_reads(path, per)
    got = [chunk for t in tasks for _, chunk in _read_chunks(str(path), t, per)]
    assert total == len(records)
    assert [[(n, repr(r)) for n, r in c] for c in got] == [[(n, repr(r)) for n, r in c] for c in want]
    numbers = [k for t in tasks for k, _ in _read_chunks(str(path), t, per)]
    assert numbers == list(range(len(want)))


def test_parquet_tagging_chunks_cross_row_groups(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"instruction": f"task {i}", "skills": ["a"]} for i in range(95)]
    path = tmp_path / "x.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=7)
    tasks, total = plan_reads(path, 20)
    got = [chunk for t in tasks for _, chunk in _read_chunks(str(path), t, 20)]
    assert total == 95 and [len(c) for c in got] == [20, 20, 20, 20, 15]
    assert [n for c in got for n, _ in c] == list(range(1, 96))
    assert [r["instruction"] for c in got for _, r in c] == [f"task {i}" for i in range(95)]

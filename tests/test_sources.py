"""Inputs as they come: every shape of the same rows gives the same graph as the plain JSONL."""

from __future__ import annotations

import bz2
import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from steps_engine.data.ingest import FieldMapping, count_skills, iter_records
from steps_engine.data.sources import SourceError, resolve, split_suffixes
from steps_engine.taxonomy.build import build_taxonomy, ingest_graph, save_taxonomy

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "assets" / "demo" / "demo.jsonl"
MAPPING = FieldMapping("skills", text_field="instruction")


@pytest.fixture(scope="module")
def rows():
    return [json.loads(x) for x in DEMO.read_text(encoding="utf-8").splitlines() if x.strip()]


@pytest.fixture(scope="module")
def reference():
    graph, report, _ = ingest_graph(DEMO, MAPPING)
    return graph, report


def same_graph(a, b, rows: bool = True) -> None:
    assert a.skills == b.skills
    np.testing.assert_array_equal(a.counts, b.counts)
    np.testing.assert_array_equal(a.src, b.src)
    np.testing.assert_array_equal(a.dst, b.dst)
    np.testing.assert_array_equal(a.cooc, b.cooc)
    np.testing.assert_array_equal(a.weight, b.weight)  # same counts -> bit-identical weights
    assert not rows or a.n_rows == b.n_rows


def _jsonl(rows) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode("utf-8")


def _thirds(rows):
    k = len(rows) // 3
    return [rows[:k], rows[k : 2 * k], rows[2 * k :]]


def test_suffixes_give_format_and_compression():
    assert split_suffixes("a.jsonl.zst") == ("jsonl", "zstd")
    assert split_suffixes("part-0.parquet") == ("parquet", None)
    assert split_suffixes("x.csv.bz2") == ("csv", "bz2")
    assert split_suffixes("notes.txt") == (None, None)


def _make(kind: str, tmp: Path, rows) -> object:
    """The demo rows in one input shape; returns what to pass as the source."""
    if kind == "parquet_folder":
        d = tmp / "shards"
        d.mkdir()
        for i, part in enumerate(_thirds(rows)):
            pq.write_table(pa.Table.from_pylist(part), d / f"train-{i:05d}-of-00003.parquet")
        (d / "README.md").write_text("not data")
        return d
    if kind == "glob_gz":
        for i, part in enumerate(_thirds(rows)):
            (tmp / f"part{i}.jsonl.gz").write_bytes(gzip.compress(_jsonl(part)))
        (tmp / "other.jsonl").write_bytes(_jsonl(rows[:5]))  # not matched by the glob
        return str(tmp / "part*.jsonl.gz")
    if kind == "zst":
        zstandard = pytest.importorskip("zstandard")
        p = tmp / "all.jsonl.zst"
        p.write_bytes(zstandard.ZstdCompressor().compress(_jsonl(rows)))
        return p
    if kind == "bz2_csv":
        import csv
        import io

        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["id", "instruction", "skills"])
        for r in rows:
            w.writerow([r["id"], r["instruction"], json.dumps(r["skills"])])
        p = tmp / "all.csv.bz2"
        p.write_bytes(bz2.compress(buf.getvalue().encode("utf-8")))
        return p
    if kind == "save_to_disk":
        datasets = pytest.importorskip("datasets")
        d = tmp / "saved"
        datasets.Dataset.from_list(rows).save_to_disk(str(d), num_shards=2)
        return d
    if kind == "dataset":
        datasets = pytest.importorskip("datasets")
        return datasets.Dataset.from_list(rows)
    if kind == "dataframe":
        import pandas as pd

        return pd.DataFrame(rows)
    if kind == "arrow_table":
        return pa.Table.from_pylist(rows)
    if kind == "list_of_dicts":
        return list(rows)
    if kind == "generator":
        return (r for r in rows)
    if kind == "memory_url":
        fsspec = pytest.importorskip("fsspec")
        fs = fsspec.filesystem("memory")
        base = f"/steps-test-{tmp.name}"
        for i, part in enumerate(_thirds(rows)):
            with fs.open(f"{base}/data/p{i}.jsonl", "wb") as fh:
                fh.write(_jsonl(part))
        return f"memory://{base}/data/*.jsonl"
    raise AssertionError(kind)


KINDS = ["parquet_folder", "glob_gz", "zst", "bz2_csv", "save_to_disk", "dataset", "dataframe", "arrow_table",
         "list_of_dicts", "generator", "memory_url"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_input_shape_gives_the_graph_of_the_plain_jsonl(kind, tmp_path, rows, reference):
    source = _make(kind, tmp_path, rows)
    graph, report, _ = ingest_graph(source, MAPPING)
    same_graph(graph, reference[0])
    assert (report.rows_read, report.rows_used, report.rows_skipped) == (len(rows), len(rows), 0)


def test_a_bad_row_in_a_shard_names_the_shard_and_its_line(tmp_path, rows):
    for i, part in enumerate(_thirds(rows[:9])):
        data = _jsonl(part)
        if i == 1:  # second line of the second shard is broken; third has no skills
            lines = data.split(b"\n")
            lines[1] = b'{"id": "x", "skills": ["a",'
            lines[2] = b'{"id": "y", "instruction": "no skills"}'
            data = b"\n".join(lines)
        (tmp_path / f"s{i}.jsonl.gz").write_bytes(gzip.compress(data))
    _, report = count_skills(tmp_path, MAPPING)
    assert report.rows_read == 9 and report.rows_skipped == 2
    got = [(b.file, b.line, b.kind) for b in report.skipped]
    assert got == [("s1.jsonl.gz", 2, "invalid JSON"), ("s1.jsonl.gz", 3, "missing field")]
    assert str(report.skipped[0]).startswith("s1.jsonl.gz: line 2: invalid JSON")
    assert report.to_json()["skipped"][0]["file"] == "s1.jsonl.gz"


def test_records_of_several_shards_are_numbered_across_the_input(tmp_path, rows):
    for i, part in enumerate(_thirds(rows[:6])):
        (tmp_path / f"p{i}.jsonl").write_bytes(_jsonl(part))
    lines = [line for line, _ in iter_records(tmp_path)]
    assert lines == [1, 2, 3, 4, 5, 6]  # unique, so seed source ids never collide across shards


def test_unresolvable_inputs_say_why(tmp_path):
    with pytest.raises(SourceError, match="matches no file"):
        resolve(str(tmp_path / "*.jsonl"))
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(SourceError, match="a folder with no data file"):
        resolve(tmp_path)
    with pytest.raises(SourceError, match="cannot tell the format"):
        resolve(tmp_path / "notes.txt")
    with pytest.raises(SourceError, match="no such file"):
        resolve(tmp_path / "missing.jsonl")


def test_a_dataset_dict_in_memory_asks_for_a_split(rows):
    datasets = pytest.importorskip("datasets")
    dd = datasets.DatasetDict({"train": datasets.Dataset.from_list(rows[:3])})
    with pytest.raises(ValueError, match="pass one split"):
        count_skills(dd, MAPPING)


def test_input_json_keeps_every_shard_with_its_hash_and_a_moved_shard_is_found_by_hash(tmp_path, rows):
    import hashlib

    from steps_engine.synthesis.seeds import build_seed_index, load_input_spec

    data = tmp_path / "data"
    data.mkdir()
    for i, part in enumerate(_thirds(rows)):
        pq.write_table(pa.Table.from_pylist(part), data / f"p{i}.parquet")
    tax = build_taxonomy(data, MAPPING, height=2)
    out = save_taxonomy(tax, tmp_path / "tax")
    spec = json.loads((out / "input.json").read_text())
    assert [Path(s["path"]).name for s in spec["shards"]] == ["p0.parquet", "p1.parquet", "p2.parquet"]
    for s in spec["shards"]:
        assert s["sha256"] == hashlib.sha256(Path(s["path"]).read_bytes()).hexdigest()
    index = build_seed_index(load_input_spec(out))
    assert index.n_records == len(rows) and not index.problems
    # move one shard next to the taxonomy folder: found again by name + sha256
    shutil.move(data / "p1.parquet", tmp_path / "p1.parquet")
    spec2 = load_input_spec(out)
    assert spec2["shard_paths"][1] == str(tmp_path / "p1.parquet") and spec2["relocated"]
    assert build_seed_index(spec2).n_records == len(rows)
    # a moved shard whose bytes changed is not taken; the message says how to point at it
    (tmp_path / "p1.parquet").write_bytes(b"changed")
    with pytest.raises(ValueError, match="put it back or write its new location into"):
        load_input_spec(out)


def test_steps_taxonomy_cli_reads_a_folder_of_parquet_shards(tmp_path, rows, capsys):
    from steps_engine.cli import main

    src = _make("parquet_folder", tmp_path, rows)
    assert main(["taxonomy", str(src), "--skills-field", "skills", "--height", "2", "--out", str(tmp_path / "t"),
                 "--quiet", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["rows_used"] == len(rows)


def test_a_hub_datasets_parquet_shards_through_hf_paths(tmp_path, rows, reference):
    """`hf://datasets/...` end to end against the loopback Hub stand-in: the graph equals the plain
    JSONL's, input.json keeps each shard's sha256, and a dry run finds seed examples over hf://."""
    import hashlib
    import io
    import os
    import subprocess
    import sys

    pytest.importorskip("huggingface_hub")
    from fake_hub_server import FakeHub

    files = {}
    for i, part in enumerate(_thirds(rows)):
        buf = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(part), buf)
        files[f"data/train-{i:05d}-of-00003.parquet"] = buf.getvalue()
    files["README.md"] = b"---\nlicense: mit\n---\n# someone's dataset\n"
    combos = tmp_path / "combos.jsonl"
    combos.write_text(json.dumps({"skills": ["estimation", "energy_and_climate"], "start": "estimation"}) + "\n")
    with FakeHub() as hub:
        hub.add_repo("me/instruct", files)
        # HF_HUB_OFFLINE=0: in case the calling shell runs offline (the embedder no longer sets it)
        env = {**os.environ, "HF_ENDPOINT": hub.endpoint, "HF_HUB_OFFLINE": "0", "PYTHONPATH": str(ROOT)}
        for args in (["taxonomy", "hf://datasets/me/instruct/data", "--skills-field", "skills", "--text-field",
                      "instruction", "--height", "2", "--out", str(tmp_path / "t"), "-q"],
                     ["synthesize", str(tmp_path / "t"), "--combos", str(combos), "--model", "m", "--dry-run",
                      "--out", str(tmp_path / "run" / "r.jsonl"), "--quiet"]):
            r = subprocess.run([sys.executable, "-m", "steps_engine", *args], env=env, capture_output=True, text=True,
                               timeout=300)
            assert r.returncode == 0, r.stderr[-2000:]
    from steps_engine.taxonomy.build import load_taxonomy

    same_graph(load_taxonomy(tmp_path / "t").graph, reference[0], rows=False)  # graph.csv keeps no row count
    assert json.loads((tmp_path / "t" / "ingest_report.json").read_text())["rows_used"] == len(rows)
    spec = json.loads((tmp_path / "t" / "input.json").read_text())
    assert spec["path"] == "hf://datasets/me/instruct/data"
    assert [(s["path"], s["sha256"]) for s in spec["shards"]] == [
        (f"hf://datasets/me/instruct/{name}", hashlib.sha256(data).hexdigest())
        for name, data in sorted(files.items()) if name.endswith(".parquet")]
    prompt = json.loads((tmp_path / "run" / "prompts.jsonl").read_text().splitlines()[0])
    assert all(isinstance(s["source_id"], str) and s["source_id"].startswith("demo-") for s in prompt["seeds"])

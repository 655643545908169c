"""`--engine ray` on a local Ray cluster of 2 CPUs started here (one for the module): counting
and tagging give exactly the single-process results, bad rows of every shard are reported with
file and line, and a worker killed mid-run is recovered with nothing lost or doubled.
Without `--engine ray` Ray is never imported."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import _embedding_fakes
from _embedding_fakes import CountingEmbedder
from steps_engine.cli import main
from steps_engine.data.ingest import FieldMapping, count_skills
from steps_engine.semantic.tagging import TagConfig, load_vocabulary, tag_file

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "assets" / "demo" / "demo.jsonl"
IFEVAL = REPO.parent / "shared" / "data" / "ifeval" / "input_data.jsonl"
TAX_FILES = ("graph.csv", "skills.csv", "taxonomy.json")


@pytest.fixture(scope="module")
def cluster():
    ray = pytest.importorskip("ray")
    import ray.cloudpickle

    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
    # workers cannot import modules of tests/: send the fakes and this module's helpers by value
    ray.cloudpickle.register_pickle_by_value(_embedding_fakes)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield ray
    ray.shutdown()


def _taxonomy(tmp_path, name, src, field, *extra):
    out = tmp_path / name
    assert main(["taxonomy", str(src), "--skills-field", field, "--height", "3", "--out", str(out), "--quiet", *extra]) == 0
    return out


def _same_folders(a: Path, b: Path):
    for name in TAX_FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    ra, rb = (json.loads((d / "ingest_report.json").read_text()) for d in (a, b))
    ra.pop("seconds"), rb.pop("seconds")
    return ra, rb


@pytest.mark.parametrize("src,field", [(DEMO, "skills"), (IFEVAL, "instruction_id_list")], ids=["demo", "ifeval"])
def test_taxonomy_on_ray_writes_the_same_graph_skills_and_tree(cluster, tmp_path, src, field):
    if not src.exists():
        pytest.skip(f"{src} not available")
    local = _taxonomy(tmp_path, "local", src, field)
    # 16 KB blocks: the demo (about 260 KB) and IFEval (about 200 KB) are cut into 13+ tasks
    flags = ["--engine", "ray", "--block-mb", "0.016"]
    if src == IFEVAL:  # as a user would: another process joining the running cluster by its address
        ray_out = tmp_path / "ray"
        cmd = [sys.executable, "-m", "steps_engine", "taxonomy", str(src), "--skills-field", field, "--height", "3",
               "--out", str(ray_out), "--quiet", *flags, "--ray-address", cluster.get_runtime_context().gcs_address]
        res = subprocess.run(cmd, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr[-2000:]
    else:
        ray_out = _taxonomy(tmp_path, "ray", src, field, *flags)
    ra, rb = _same_folders(local, ray_out)
    assert ra == rb
    assert json.loads((local / "input.json").read_text()) == json.loads((ray_out / "input.json").read_text())


def _write_shards(folder: Path, rows: list[dict], sizes: list[int], row_group_size: int):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir()
    start = 0
    for k, n in enumerate(sizes):
        pq.write_table(pa.Table.from_pylist(rows[start : start + n]), folder / f"train-{k:05d}-of-{len(sizes):05d}.parquet",
                       row_group_size=row_group_size)
        start += n


def test_sharded_parquet_on_ray_equals_one_file_in_one_process(cluster, tmp_path):
    rows = [json.loads(line) for line in DEMO.read_text().splitlines() if line.strip()]
    rows = [{"instruction": r["instruction"], "skills": r["skills"]} for r in rows]
    _write_shards(tmp_path / "shards", rows, [200, 250, len(rows) - 450], row_group_size=40)
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "all.parquet")
    local = _taxonomy(tmp_path, "local", tmp_path / "all.parquet", "skills")
    ray_out = _taxonomy(tmp_path, "ray", tmp_path / "shards", "skills", "--engine", "ray", "--block-mb", "0.004")
    ra, rb = _same_folders(local, ray_out)
    assert (ra["rows_read"], ra["rows_used"], ra["rows_skipped"]) == (rb["rows_read"], rb["rows_used"], 0)
    spec = json.loads((ray_out / "input.json").read_text())
    shards = sorted((tmp_path / "shards").iterdir())
    assert spec["sha256"] is None and spec["format"] == "parquet"
    assert spec["shards"] == [{"path": str(p), "sha256": hashlib.sha256(p.read_bytes()).hexdigest()} for p in shards]


def test_bad_rows_in_several_shards_are_all_reported_with_file_and_line(cluster, tmp_path, capsys):
    good = [json.dumps({"instruction": f"t{i}", "skills": ["a", "b", "c"][: 1 + i % 3]}) for i in range(600)]
    folder = tmp_path / "shards"
    folder.mkdir()
    # shard 0: line 150 invalid JSON; shard 1: line 3 missing field, line 101 wrong type;
    # shard 2: line 101 not UTF-8 (the byte 0xff), line 102 blank (not a row), line 103 empty list
    s0 = good[:300]
    s0.insert(149, "{oops")
    s1 = good[300:450]
    s1.insert(2, json.dumps({"instruction": "no skills"}))
    s1.insert(100, json.dumps({"skills": 7}))
    s2 = good[450:]
    s2[100:100] = ['{"skills": ["\udcff"]}', "", json.dumps({"skills": []})]
    for k, lines in enumerate([s0, s1, s2]):
        data = "\n".join(lines).encode("utf-8", "surrogateescape") + b"\n"
        (folder / f"part-{k}.jsonl").write_bytes(data)
    out = _taxonomy(tmp_path, "ray", folder, "skills", "--engine", "ray", "--block-mb", "0.002")
    rep = json.loads((out / "ingest_report.json").read_text())
    got = [(Path(b["file"]).name, b["line"], b["reason"].split(":")[0]) for b in rep["skipped"]]
    assert got == [("part-0.jsonl", 150, "invalid JSON"), ("part-1.jsonl", 3, "missing field"),
                   ("part-1.jsonl", 101, "wrong type"), ("part-2.jsonl", 101, "not UTF-8"),
                   ("part-2.jsonl", 103, "empty field")]
    assert rep["rows_read"] == 605 and rep["rows_used"] == 600 and rep["rows_skipped"] == 5
    err = capsys.readouterr().err
    assert f"{folder / 'part-1.jsonl'}: skipped line 101: wrong type" in err
    # the same rows in one file, counted in one process: the same graph
    (tmp_path / "all.jsonl").write_bytes(b"".join((folder / f"part-{k}.jsonl").read_bytes() for k in range(3)))
    local = _taxonomy(tmp_path, "local", tmp_path / "all.jsonl", "skills")
    for name in ("graph.csv", "skills.csv"):
        assert (local / name).read_bytes() == (out / name).read_bytes()


def _kill_once(marker: str, fn):
    """fn, but the first call anywhere on the cluster (marker file created exclusively) SIGKILLs
    its own worker process midway."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return fn(*args, **kwargs)
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        os.kill(os.getpid(), signal.SIGKILL)

    return wrapped


def test_a_worker_killed_while_counting_is_replaced_and_nothing_is_lost_or_doubled(cluster, tmp_path):
    from steps_engine.data.ray_counting import count_block, count_skills_ray

    mapping = FieldMapping("skills", text_field="instruction")
    marker = tmp_path / "killed"

    def block_fn(block, m):
        if block.index == 5:
            return _kill_once(str(marker), count_block)(block, m)
        return count_block(block, m)

    counts, report = count_skills_ray(DEMO, mapping, block_bytes=16_000, block_fn=block_fn)
    want, want_report = count_skills(DEMO, mapping)
    assert marker.exists()  # a worker really died on block 5
    assert counts.skills == want.skills and counts.n_rows == want.n_rows == 587
    for name in ("counts", "pair_src", "pair_dst", "pair_count"):
        assert np.array_equal(getattr(counts, name), getattr(want, name))
    assert report.rows_read == want_report.rows_read


def test_tagging_on_ray_gives_the_same_tags_in_the_same_order(cluster, tmp_path):
    vocab, _ = load_vocabulary(DEMO, "skills")
    src = tmp_path / "in.jsonl"  # the demo with a bad row and blank lines inside
    lines = DEMO.read_text().splitlines()
    src.write_text("\n".join(lines[:100] + ["{not json", ""] + lines[100:300] + ["", ""] + lines[300:]) + "\n")
    config = TagConfig(top_k=3)
    want = tag_file(src, tmp_path / "local.jsonl", vocab, CountingEmbedder(dim=16), config, chunk_records=64)
    from steps_engine.semantic.ray_tagging import tag_file_ray

    marker = tmp_path / "killed"

    class DyingOnce(CountingEmbedder):  # kills its actor once, in the middle of the run
        def encode(self, texts, batch_size=64, progress=None):
            if len(texts) > 40 and self.calls > 6:
                _kill_once(str(marker), lambda: None)()
            return super().encode(texts, batch_size, progress)

    got = tag_file_ray(src, tmp_path / "ray.jsonl", vocab, functools.partial(DyingOnce, dim=16), config,
                       batch_size=64, concurrency=2)
    assert marker.exists()
    assert (tmp_path / "ray.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    assert got == want
    assert got.records == 588 and got.tagged == 587 and [b.split(":")[0] for b in got.bad_rows] == ["line 101"]


def test_tagging_on_ray_interrupted_in_each_pass_resumes_to_the_local_output(cluster, tmp_path):
    from steps_engine.semantic.ray_tagging import tag_file_ray

    vocab, _ = load_vocabulary(DEMO, "skills")
    src = tmp_path / "in.jsonl"
    src.write_text("".join(DEMO.read_text().splitlines(keepends=True)[:300]))
    config = TagConfig(top_k=3)
    tag_file(src, tmp_path / "local.jsonl", vocab, CountingEmbedder(dim=16), config, chunk_records=50, resume=False)
    out, factory = tmp_path / "ray.jsonl", functools.partial(CountingEmbedder, dim=16)

    def stop_at(stage, when):
        def progress(s, done, total):
            if s == stage and done >= when:
                raise KeyboardInterrupt
        return progress

    for stage, when in (("scan", 100), ("tag", 150)):  # 6 chunks: stop after 2 scanned, then after 3 tagged
        with pytest.raises(KeyboardInterrupt):
            tag_file_ray(src, out, vocab, factory, config, batch_size=50, concurrency=2, progress=stop_at(stage, when))
        assert not out.exists()
    got = tag_file_ray(src, out, vocab, factory, config, batch_size=50, concurrency=2)
    assert got.resumed == 150 and "resuming the interrupted run" in got.notes[0] and "pass 1 done" in got.notes[0]
    assert out.read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    assert not (tmp_path / "ray.jsonl.partial").exists()


def test_steps_tag_engine_ray_matches_the_local_command(cluster, tmp_path, monkeypatch, capsys):
    from steps_engine.semantic import embeddings

    monkeypatch.setattr(embeddings, "get_embedder", lambda *a, **k: CountingEmbedder(dim=16))
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [json.loads(line) for line in DEMO.read_text().splitlines() if line.strip()][:300]
    src = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist(rows), src, row_group_size=64)
    common = ["tag", str(src), "--vocab", str(DEMO), "--top-k", "4", "--batch-size", "50", "--quiet"]
    assert main(common + ["--out", str(tmp_path / "a.jsonl")]) == 0
    assert main(common + ["--out", str(tmp_path / "b.jsonl"), "--engine", "ray", "--concurrency", "2"]) == 0
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert len((tmp_path / "b.jsonl").read_text().splitlines()) == 300


def test_without_engine_ray_ray_is_never_imported(tmp_path):
    code = f"""
import sys
sys.path.insert(0, {str(REPO / 'tests')!r})
from _embedding_fakes import CountingEmbedder
from steps_engine.semantic import embeddings
embeddings.get_embedder = lambda *a, **k: CountingEmbedder(dim=8)
from steps_engine.cli import main
assert main(["taxonomy", {str(DEMO)!r}, "--skills-field", "skills", "--out", {str(tmp_path / 't')!r}, "--quiet"]) == 0
assert main(["tag", {str(DEMO)!r}, "--vocab", {str(DEMO)!r}, "--out", {str(tmp_path / 'x.jsonl')!r}, "--quiet"]) == 0
bad = sorted(m for m in sys.modules if m == "ray" or m.startswith("ray."))
assert not bad, bad
print("no ray")
"""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "no ray" in res.stdout


def test_engine_ray_without_ray_installed_is_a_clear_error(tmp_path, monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    rc = main(["taxonomy", str(DEMO), "--skills-field", "skills", "--out", str(tmp_path / "t"), "--engine", "ray", "--quiet"])
    assert rc == 2
    assert "pip install 'steps-studio[ray]'" in capsys.readouterr().err

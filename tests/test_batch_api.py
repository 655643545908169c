"""The Batch API end to end: split at the limits, submit / status / fetch against a loopback
server, a kill between upload and batch creation, pass-through request parameters."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from fake_batch_server import FakeBatchAPI
from steps_engine.cli import main
from steps_engine.synthesis import batch_api
from steps_engine.synthesis.batch import (
    MAX_BYTES,
    MAX_REQUESTS,
    batch_input_files,
    check_batch_input_line,
    split_lines,
    write_dry_run,
)
from steps_engine.synthesis.prompts import DEFAULT_TEMPLATE, template_hash
from steps_engine.synthesis.runner import load_combinations, prepare_jobs, read_results, synthesize
from test_synthesis import make_combos, make_taxonomy

REPO = Path(__file__).resolve().parents[1]
KEY = "sk-test-" + uuid.uuid4().hex


@pytest.fixture()
def setup(tmp_path):
    tax = make_taxonomy(tmp_path)
    combos = tmp_path / "combos.jsonl"
    make_combos(combos)  # 20 combinations
    return tax, combos


def dry_run(tax, combos, folder: Path, max_requests: int) -> list:
    from steps_engine.synthesis.run_identity import run_fingerprint

    jobs, _ = prepare_jobs(tax, load_combinations(combos)[0], model="gpt-4o-mini")
    for job in jobs:  # as synthesize's dry run stamps them
        job.run = run_fingerprint(tax, seed=0, params={"temperature": 0.7}, agent_filter_model=None)
    write_dry_run(jobs, folder, model="gpt-4o-mini", template_hash_=template_hash(DEFAULT_TEMPLATE),
                  params={"temperature": 0.7}, max_requests=max_requests)
    return jobs


# ---------------------------------------------------------------------------------------
# Split


def test_the_limits_are_the_batch_apis():
    assert (MAX_REQUESTS, MAX_BYTES) == (50_000, 200_000_000)


def test_split_at_exactly_the_request_limit():
    line = b'{"x":1}\n'
    assert [len(p) for p in split_lines([line] * 50_000)] == [50_000]
    assert [len(p) for p in split_lines([line] * 50_001)] == [50_000, 1]
    assert [len(p) for p in split_lines([line] * 100_001)] == [50_000, 50_000, 1]
    assert split_lines([]) == []


def test_split_at_exactly_the_byte_limit():
    line = b"0123456789\n"  # 11 bytes
    assert [len(p) for p in split_lines([line] * 3, max_bytes=33)] == [3]  # 33 bytes fit exactly
    assert [len(p) for p in split_lines([line] * 4, max_bytes=33)] == [3, 1]  # the 34th byte opens part 2
    assert [len(p) for p in split_lines([line] * 7, max_requests=2, max_bytes=1000)] == [2, 2, 2, 1]
    with pytest.raises(ValueError, match="request 2 is 12 bytes"):
        split_lines([line, b"0123456789A\n"], max_bytes=11)


def test_dry_run_writes_parts_and_removes_stale_ones(setup, tmp_path):
    tax, combos = setup
    folder = tmp_path / "dry"
    jobs = dry_run(tax, combos, folder, max_requests=7)
    files = batch_input_files(folder)
    assert [f.name for f in files] == [f"batch_input-0000{i}-of-00003.jsonl" for i in (1, 2, 3)]
    lines = [json.loads(l) for f in files for l in f.read_text().splitlines()]
    assert [len(f.read_text().splitlines()) for f in files] == [7, 7, 6]
    assert [l["custom_id"] for l in lines] == [j.id for j in jobs]
    for line in lines:
        check_batch_input_line(line)
    dry_run(tax, combos, folder, max_requests=50_000)  # everything fits again: one file, parts gone
    assert [f.name for f in batch_input_files(folder)] == ["batch_input.jsonl"]
    assert not list(folder.glob("batch_input-*"))


# ---------------------------------------------------------------------------------------
# Submit / status / fetch


def client_for(srv):
    return batch_api.openai_client(api_key=KEY, base_url=srv.base_url)


def test_submit_status_fetch_import_every_answer_once(setup, tmp_path):
    tax, combos = setup
    folder = tmp_path / "dry"
    jobs = dry_run(tax, combos, folder, max_requests=7)
    with FakeBatchAPI(polls_to_complete=2) as srv:
        srv.fail_ids = {jobs[4].id}
        client = client_for(srv)
        parts = batch_api.submit(folder, client)
        assert [p.requests for p in parts] == [7, 7, 6] and len(srv.batches) == 3
        assert batch_api.submit(folder, client) and len(srv.batches) == 3  # resumed: nothing created twice
        assert {p.status for p in batch_api.status(folder, client)} == {"in_progress"}
        out = folder / "results.jsonl"
        rep = batch_api.fetch(folder, client, out)
        assert rep.finished == 3 and rep.imported == {"ok": 19, "failed": 1}
        recs = read_results(out)[0]
        assert sorted(r["id"] for r in recs) == sorted(j.id for j in jobs)
        failed = [r for r in recs if r["status"] == "failed"]
        assert [r["id"] for r in failed] == [jobs[4].id] and failed[0]["reason"].startswith("HTTP 500")
        ok = next(r for r in recs if r["status"] == "ok")
        assert ok["source"] == "batch" and ok["usage"]["total_tokens"] == 120 and ok["skills"] and ok["seeds"]
        rep2 = batch_api.fetch(folder, client, out)  # fetching again writes nothing
        assert rep2.imported == {} and rep2.skipped == 20 and len(out.read_text().splitlines()) == 20
    state = (folder / "batch_state.json").read_text()
    assert KEY not in state and "batch-" in state
    assert all(auth == f"Bearer {KEY}" for _, _, auth in srv.log)


def test_the_batch_results_match_a_live_run_record_for_record(setup, tmp_path):
    """Import through the Batch path gives the same fields as `--import-batch` of the same answers."""
    tax, combos = setup
    folder = tmp_path / "dry"
    dry_run(tax, combos, folder, max_requests=50_000)
    with FakeBatchAPI() as srv:
        client = client_for(srv)
        batch_api.submit(folder, client)
        batch_api.fetch(folder, client, folder / "a.jsonl")
    synthesize(tax, combos, model="gpt-4o-mini", out=folder / "b.jsonl", import_batch=folder / "batch_output-00001.jsonl",
               template=None, api_key=None)
    a = {r["id"]: r for r in read_results(folder / "a.jsonl")[0]}
    b = {r["id"]: r for r in read_results(folder / "b.jsonl")[0]}
    assert a.keys() == b.keys()
    for cid in a:
        assert a[cid] == b[cid]


def _submit_cli(folder: Path, srv) -> subprocess.Popen:
    env = {**os.environ, "OPENAI_API_KEY": KEY, "PYTHONPATH": str(REPO)}
    env.pop("OPENAI_BASE_URL", None)
    return subprocess.Popen([sys.executable, "-m", "steps_engine", "batch", "submit", str(folder),
                             "--base-url", srv.base_url], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_a_kill_between_upload_and_batch_creation_never_creates_a_batch_twice(setup, tmp_path):
    tax, combos = setup
    folder = tmp_path / "dry"
    dry_run(tax, combos, folder, max_requests=7)
    with FakeBatchAPI() as srv:
        srv.batch_create_delay = 30.0  # the server creates the batch, then holds the answer
        proc = _submit_cli(folder, srv)
        assert srv.create_started.wait(60), proc.communicate(timeout=30)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        state = json.loads((folder / "batch_state.json").read_text())["parts"]
        assert state[0]["input_file_id"] and state[0]["batch_id"] is None  # uploaded, batch id never recorded
        srv.batch_create_delay = 0.0
        proc = _submit_cli(folder, srv)
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 0, stderr.decode()[-2000:]
        assert len(srv.batches) == 3  # the first batch was found again by its metadata
        assert sum(f["purpose"] == "batch" for f in srv.files.values()) == 3  # and its file not re-uploaded
        rep = batch_api.fetch(folder, client_for(srv), folder / "results.jsonl")
        assert rep.imported == {"ok": 20}
        assert KEY.encode() not in stderr and KEY not in stdout.decode()


def test_fetch_before_the_batches_finish_exits_4_and_says_what_runs(setup, tmp_path, monkeypatch, capsys):
    tax, combos = setup
    folder = tmp_path / "dry"
    dry_run(tax, combos, folder, max_requests=50_000)
    with FakeBatchAPI(polls_to_complete=10) as srv:
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        assert main(["batch", "submit", str(folder), "--base-url", srv.base_url]) == 0
        code = main(["batch", "fetch", str(folder), "--base-url", srv.base_url, "--json"])
        out = capsys.readouterr().out
        assert code == 4 and "still running: batch-" in out
        assert json.loads(out.splitlines()[-1])["pending"] == ["batch-0002"]


def test_batch_cli_without_a_dry_run_explains(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    assert main(["batch", "submit", str(tmp_path)]) == 2
    assert "run `steps synthesize --dry-run` first" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------
# Pass-through request parameters


def test_params_pass_through_to_batch_bodies_and_live_requests(setup, tmp_path, monkeypatch, capsys):
    from fake_openai_server import FakeOpenAI

    tax, combos = setup
    pfile = tmp_path / "params.json"
    pfile.write_text(json.dumps({"seed": 7, "max_completion_tokens": 100}))
    args = ["synthesize", str(tax), "--combos", str(combos), "--model", "gpt-4o-mini", "--limit", "2",
            "--param", 'response_format={"type": "json_object"}', "--param", "max_completion_tokens=900",
            "--param", "service_tier=flex", "--params-file", str(pfile)]
    assert main([*args, "--dry-run", "--out", str(tmp_path / "dry" / "r.jsonl")]) == 0
    body = json.loads((tmp_path / "dry" / "batch_input.jsonl").read_text().splitlines()[0])["body"]
    assert body["response_format"] == {"type": "json_object"} and body["max_completion_tokens"] == 900
    assert body["service_tier"] == "flex" and body["seed"] == 7 and body["temperature"] == 0.7
    seen = []
    with FakeOpenAI() as srv:
        orig = srv._handle

        def spy(h, method):
            n = int(h.headers.get("Content-Length") or 0)
            raw = h.rfile.read(n)
            seen.append(json.loads(raw))
            import io

            h.rfile = io.BytesIO(raw)
            return orig(h, method)

        srv._handle = spy
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        assert main([*args, "--base-url", srv.base_url, "--out", str(tmp_path / "live" / "r.jsonl"), "--quiet"]) == 0
    assert seen and all(b["response_format"] == {"type": "json_object"} and b["max_completion_tokens"] == 900
                        for b in seen)
    capsys.readouterr()
    assert main([*args[:6], "--param", "messages=[]", "--dry-run", "--out", str(tmp_path / "x.jsonl")]) == 2
    assert "cannot be passed through" in capsys.readouterr().err
    assert main([*args[:6], "--param", "novalue", "--dry-run", "--out", str(tmp_path / "x.jsonl")]) == 2

"""Synthesis: seeds, prompts, parsing, the resumable runner against a real loopback server."""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from _synthesis_fixtures import fast
from fake_openai_server import FakeOpenAI
from steps_engine.synthesis.batch import check_batch_input_line
from steps_engine.synthesis.parsing import OutputError, check_messages, normalized_hash, parse_conversation
from steps_engine.synthesis.prompts import DEFAULT_TEMPLATE, build_messages, render_template, template_hash
from steps_engine.synthesis.seeds import build_seed_index, load_input_spec, pick_seeds
from steps_engine.synthesis.runner import (
    ResultsFile,
    combination_id,
    prepare_jobs,
    read_results,
    synthesize,
)

SKILLS = ["alpha", "beta", "gamma", "delta", "epsilon"]
REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------
# Fixtures: a tiny tagged dataset, a hand-made taxonomy, combinations


def make_dataset(path: Path) -> list[dict]:
    rng = random.Random(7)
    rows = []
    for i in range(40):
        k = 1 + i % 3
        tags = rng.sample(SKILLS, k)
        rows.append({"id": f"r{i:03d}", "instruction": f"Task {i} using {' and '.join(tags)}.",
                     "output": f"Done {i}.", "skills": tags})
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")
        fh.write("{broken json\n")  # one bad row, must be skipped and reported
    return rows


def make_taxonomy(tmp: Path) -> Path:
    """root -> c1 {alpha, beta, gamma}, c2 {delta, epsilon}."""
    from steps_engine.taxonomy.tree import EncodingTree

    d = tmp / "tax"
    d.mkdir()
    data = tmp / "data.jsonl"
    make_dataset(data)
    # nodes: 0 root, 1 c1, 2 c2, 3..5 leaves of c1, 6..7 leaves of c2
    tree = EncodingTree.from_parents(
        [-1, 0, 0, 1, 1, 1, 2, 2], [-1, -1, -1, 0, 1, 2, 3, 4], SKILLS,
        ids=["root", "c1", "c2", "l0", "l1", "l2", "l3", "l4"],
        labels=["root", "cluster one", "cluster two"] + SKILLS,
    )
    tree.save(d / "taxonomy.json")
    import hashlib

    spec = {"path": str(data), "format": "jsonl", "skills_field": "skills", "skills_sep": None,
            "text_field": None, "casefold": False, "sha256": hashlib.sha256(data.read_bytes()).hexdigest()}
    (d / "input.json").write_text(json.dumps(spec))
    return d


def make_combos(path: Path, n: int | None = None) -> list[dict]:
    combos = []
    for k in (2, 3):
        for c in itertools.combinations(SKILLS, k):
            combos.append({"skills": list(c), "start": c[0], "gain": 0.1 * len(combos), "step_gains": [],
                           "lca": "c1" if set(c) <= {"alpha", "beta", "gamma"} else
                                  ("c2" if set(c) <= {"delta", "epsilon"} else "root"),
                           "strategy": "steps", "scope": "global"})
    combos = combos[:n] if n else combos
    path.write_text("".join(json.dumps(c) + "\n" for c in combos))
    return combos


@pytest.fixture()
def setup(tmp_path):
    tax = make_taxonomy(tmp_path)
    combos = tmp_path / "combos.jsonl"
    make_combos(combos)
    return tax, combos


# ---------------------------------------------------------------------------------------
# Seeds


def test_seed_index_keeps_fewest_tag_candidates_and_reports_bad_rows(setup):
    tax, _ = setup
    spec = load_input_spec(tax)
    idx = build_seed_index(spec, SKILLS, per_skill=3, seed=1)
    rows = [json.loads(l) for l in open(spec["path"]) if l.startswith("{\"")]
    for skill in SKILLS:
        cands = idx.candidates[skill]
        assert len(cands) == 3
        tagged = sorted(len(r["skills"]) for r in rows if skill in r["skills"])
        assert [c.n_tags for c in cands] == tagged[:3]  # the fewest-tag records are kept
        for c in cands:
            row = next(r for r in rows if r["id"] == c.source_id)
            assert skill in row["skills"] and c.text == row["instruction"]
    assert any("line 41" in p for p in idx.problems)


def test_pick_seeds_is_seeded_and_never_reuses_a_record(setup):
    tax, _ = setup
    idx = build_seed_index(load_input_spec(tax), SKILLS, per_skill=20, seed=0)
    for combo in itertools.combinations(SKILLS, 3):
        a = pick_seeds(idx, list(combo), start=combo[0], seed=5)
        b = pick_seeds(idx, list(combo), start=combo[0], seed=5)
        assert [s.source_id for s in a] == [s.source_id for s in b]
        ids = [s.source_id for s in a]
        assert len(set(ids)) == len(ids) and None not in ids
        for s in a:  # the pick has the fewest tags among its skill's candidates
            assert s.n_tags == min(c.n_tags for c in idx.candidates[s.skill])
    picks = {tuple(s.source_id for s in pick_seeds(idx, ["alpha", "beta"], seed=s)) for s in range(20)}
    assert len(picks) > 1  # the seed matters


def test_source_id_falls_back_to_line_number(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"skills": ["x"], "prompt": "p1"}\n\n{"skills": ["x", "y"], "prompt": "p2"}\n')
    spec = {"path": str(data), "format": "jsonl", "skills_field": "skills"}
    idx = build_seed_index(spec, None, per_skill=5)
    assert [c.source_id for c in idx.candidates["x"]] == [1, 3]
    assert idx.candidates["y"][0].text == "p2"


# ---------------------------------------------------------------------------------------
# Prompts


def test_build_messages_lists_every_skill_and_example(setup):
    tax, combos = setup
    jobs, _ = prepare_jobs(tax, [{"skills": ["alpha", "delta"], "start": "alpha"}], model="m")
    msgs = jobs[0].messages
    assert len(msgs) == 1 and msgs[0]["role"] == "user"
    text = msgs[0]["content"]
    assert "- alpha\n- delta" in text
    for s in jobs[0].seeds:
        assert s.text in text
    assert '{"messages": [{"role": "user"' in text  # literal JSON braces survive rendering
    assert jobs[0].taxonomy_path == []  # alpha and delta meet at the root


def test_template_rejects_unknown_placeholders_and_never_formats_attributes():
    with pytest.raises(ValueError, match="unknown placeholder"):
        render_template("Use {skils}", {"skills": "x"})
    assert render_template("{k.__class__}", {"k": 1}) == "{k.__class__}"  # left as text
    assert render_template("{k} {x.y} {k}", {"k": 2}) == "2 {x.y} 2"
    assert template_hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_taxonomy_path_comes_from_the_lca(setup):
    tax, _ = setup
    jobs, _ = prepare_jobs(tax, [{"skills": ["beta", "gamma"], "lca": "c1"}, {"skills": ["delta", "epsilon"]}], model="m")
    assert jobs[0].taxonomy_path == ["c1"] and jobs[0].taxonomy_labels == ["cluster one"]
    assert jobs[1].taxonomy_path == ["c2"]  # computed when lca is absent


# ---------------------------------------------------------------------------------------
# Parsing


def test_parse_accepts_fences_and_surrounding_text():
    conv = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    body = json.dumps({"messages": conv})
    assert parse_conversation(body) == conv
    assert parse_conversation("Sure!\n```json\n" + body + "\n```\nbye") == conv
    assert parse_conversation("Here you go: " + body + " -- done {not json}") == conv
    assert parse_conversation('x {"a": "}"} ' + body) == conv  # braces inside strings
    assert parse_conversation(json.dumps(conv)) == conv  # a bare list of turns


@pytest.mark.parametrize(
    "messages, reason",
    [
        ([], "non-empty"),
        ([{"role": "assistant", "content": "a"}], "alternate"),
        ([{"role": "user", "content": "q"}, {"role": "user", "content": "q2"}], "alternate"),
        ([{"role": "user", "content": "q"}, {"role": "assistant", "content": "  "}], "empty"),
        ([{"role": "user", "content": "q"}], "end with an assistant"),
        ([{"role": "tool", "content": "q"}], "role"),
    ],
)
def test_bad_conversations_are_rejected_with_a_reason(messages, reason):
    with pytest.raises(OutputError, match=reason):
        check_messages(messages)


def test_leading_system_turn_is_allowed():
    msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    assert check_messages(msgs) == msgs


def test_parse_never_evaluates_python():
    with pytest.raises(OutputError):
        parse_conversation("__import__('os').system('echo hacked')")


def test_normalized_hash_ignores_case_space_and_punctuation():
    a = [{"role": "user", "content": "Hello,  World!"}, {"role": "assistant", "content": "Yes."}]
    b = [{"role": "user", "content": "hello world"}, {"role": "assistant", "content": "yes"}]
    c = [{"role": "user", "content": "hello world"}, {"role": "assistant", "content": "no"}]
    assert normalized_hash(a) == normalized_hash(b) != normalized_hash(c)


# ---------------------------------------------------------------------------------------
# The runner against the loopback server


def test_normal_run_writes_one_ok_record_per_combination(setup, server, tmp_path):
    tax, combos = setup
    out = tmp_path / "run" / "results.jsonl"
    events = []
    rep = synthesize(tax, combos, model="fake-model", out=out, base_url=server.base_url,
                     concurrency=3, progress=events.append, **fast())
    recs = [json.loads(l) for l in out.read_text().splitlines()]
    assert rep.ok == len(recs) == 20 and rep.failed == rep.rejected == 0
    assert server.requests == 20 and rep.requests == 20 and rep.retries == 0
    assert rep.usage == {"prompt_tokens": 2000, "completion_tokens": 400, "total_tokens": 2400}
    assert events[-1]["done"] == 20 and events[-1]["total"] == 20
    th = template_hash(DEFAULT_TEMPLATE)
    for r in recs:
        assert r["status"] == "ok" and r["model"] == "fake-model" and r["template_hash"] == th
        assert r["id"] == combination_id(r["skills"], r["start"], th, "fake-model")
        assert r["k"] == len(r["skills"]) and len(r["seeds"]) == r["k"]
        assert [m["role"] for m in r["messages"]] == ["user", "assistant"]
        assert r["usage"]["total_tokens"] == 120
    assert len({r["id"] for r in recs}) == 20
    by_skills = {tuple(r["skills"]): r for r in recs}
    assert by_skills[("alpha", "beta")]["taxonomy_path"] == ["c1"]
    assert by_skills[("alpha", "delta")]["taxonomy_path"] == []


def test_429_and_500_are_retried_and_counted(setup, server, tmp_path):
    tax, combos = setup
    server.retry_after = "0.2"
    server.script += ["429", "500", "500", "ok"]
    out = tmp_path / "r.jsonl"
    rep = synthesize(tax, combos, model="m", out=out, base_url=server.base_url, concurrency=1, limit=2, **fast())
    assert rep.ok == 2 and rep.retries == 3 and rep.requests == 5 == server.requests
    recs = read_results(out)[0]
    assert [r["retries"] for r in recs] == [3, 0]


def test_retries_run_out_and_the_failure_is_recorded_then_retried_alone(setup, server, tmp_path):
    tax, combos = setup
    server.script += ["500"] * 3  # first combination: 1 attempt + 2 retries, all 500
    out = tmp_path / "r.jsonl"
    rep = synthesize(tax, combos, model="m", out=out, base_url=server.base_url, concurrency=1, limit=3,
                     max_retries=2, **fast())
    assert (rep.ok, rep.failed, rep.requests) == (2, 1, 5)
    failed = [r for r in read_results(out)[0] if r["status"] == "failed"]
    assert len(failed) == 1 and "HTTP 500" in failed[0]["reason"] and failed[0]["retries"] == 2
    # a normal restart skips everything, the failure included
    rep = synthesize(tax, combos, model="m", out=out, base_url=server.base_url, limit=3, **fast())
    assert rep.todo == 0 and server.requests == 5
    # --retry-failed runs only the failed combination
    rep = synthesize(tax, combos, model="m", out=out, base_url=server.base_url, limit=3, retry_failed=True, **fast())
    assert rep.todo == 1 and rep.ok == 1 and server.requests == 6
    recs = [json.loads(l) for l in out.read_text().splitlines()]
    assert len(recs) == 3 and len({r["id"] for r in recs}) == 3 and all(r["status"] == "ok" for r in recs)
    history = (tmp_path / "r.jsonl.failed.jsonl").read_text().splitlines()
    assert json.loads(history[0])["id"] == failed[0]["id"]


def test_a_hang_past_the_timeout_is_retried(setup, tmp_path):
    tax, combos = setup
    with FakeOpenAI(hang_seconds=5.0) as srv:
        srv.script += ["hang", "ok"]
        rep = synthesize(tax, combos, model="m", out=tmp_path / "r.jsonl", base_url=srv.base_url, concurrency=1,
                         limit=1, **fast(timeout=0.5))
    assert rep.ok == 1 and rep.retries == 1 and rep.requests == 2


def test_timeouts_exhausting_retries_fail_with_reason(setup, tmp_path):
    tax, combos = setup
    with FakeOpenAI(default="hang", hang_seconds=5.0) as srv:
        rep = synthesize(tax, combos, model="m", out=tmp_path / "r.jsonl", base_url=srv.base_url, limit=1,
                         max_retries=1, **fast(timeout=0.3))
        assert srv.requests == 2
    rec = read_results(tmp_path / "r.jsonl")[0][0]
    assert rec["status"] == "failed" and rec["reason"].startswith("timeout")


def test_malformed_fenced_and_bad_role_outputs(setup, server, tmp_path):
    tax, combos = setup
    server.script += ["malformed", "fenced", "bad_roles", "bad_body", "ok"]
    out = tmp_path / "r.jsonl"
    rep = synthesize(tax, combos, model="m", out=out, base_url=server.base_url, concurrency=1, limit=4, **fast())
    recs = read_results(out)[0]
    assert [r["status"] for r in recs] == ["rejected", "ok", "rejected", "ok"]
    assert recs[0]["raw"].startswith('{"messages"') and "JSON" in recs[0]["reason"]
    assert "alternate" in recs[2]["reason"] and "raw" in recs[2]
    assert recs[3]["retries"] == 1  # the non-JSON HTTP body was retried
    assert rep.requests == 5


def test_near_duplicate_outputs_are_rejected(setup, server, tmp_path):
    tax, combos = setup
    server.default = "dup"
    out = tmp_path / "r.jsonl"
    rep = synthesize(tax, combos, model="m", out=out, base_url=server.base_url, concurrency=2, limit=4, **fast())
    recs = read_results(out)[0]
    assert rep.ok == 1 and rep.rejected == 3
    first = next(r for r in recs if r["status"] == "ok")
    assert all(r["reason"] == f"near-duplicate of {first['id']}" for r in recs if r["status"] == "rejected")


def test_cache_hits_make_no_request(setup, server, tmp_path):
    tax, combos = setup
    out = tmp_path / "r.jsonl"
    cache = tmp_path / "cache"
    synthesize(tax, combos, model="m", out=out, base_url=server.base_url, limit=5, cache_dir=cache, **fast())
    assert server.requests == 5
    first = read_results(out)[0]
    out.unlink()
    rep = synthesize(tax, combos, model="m", out=out, base_url=server.base_url, limit=5, cache_dir=cache, **fast())
    assert server.requests == 5 and rep.cache_hits == 5 and rep.requests == 0
    assert rep.usage["total_tokens"] == 0  # cached answers cost nothing
    again = read_results(out)[0]
    assert {r["id"]: r["messages"] for r in again} == {r["id"]: r["messages"] for r in first}
    assert all(r["cached"] for r in again)


def test_torn_last_line_is_repaired_on_restart(setup, server, tmp_path):
    tax, combos = setup
    out = tmp_path / "r.jsonl"
    synthesize(tax, combos, model="m", out=out, base_url=server.base_url, limit=3, **fast())
    lines = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:2]) + lines[2][:25])  # crash mid-write of the third record
    assert any("incomplete" in p for p in read_results(out)[1])
    rep = synthesize(tax, combos, model="m", out=out, base_url=server.base_url, limit=3, **fast())
    assert rep.todo == 1 and any("incomplete last line" in p for p in rep.problems)
    recs = [json.loads(l) for l in out.read_text().splitlines()]
    assert len(recs) == 3 and len({r["id"] for r in recs}) == 3


def test_second_writer_on_the_same_file_is_refused(tmp_path):
    out = tmp_path / "r.jsonl"
    with ResultsFile(out):
        with pytest.raises(ValueError, match="another run"):
            with ResultsFile(out):
                pass


def test_the_key_is_never_written_nor_shown(setup, server, tmp_path):
    tax, combos = setup
    key = "sk-test-" + uuid.uuid4().hex
    server.script += ["echo_key", "malformed"]
    out = tmp_path / "r.jsonl"
    rep = synthesize(tax, combos, model="m", out=out, base_url=server.base_url, limit=4, concurrency=1,
                     **fast(api_key=key))
    assert any(e["authorization"] == f"Bearer {key}" for e in server.log)  # it was sent...
    failed = [r for r in read_results(out)[0] if r["status"] == "failed"]
    assert failed and "401" in failed[0]["reason"] and "***" in failed[0]["reason"]
    assert key not in json.dumps(rep.to_json()) and key not in rep.summary()
    from steps_engine.export import export

    export(out, fmt="chat", out=tmp_path / "export" / "train.jsonl")
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) >= 5
    for p in written:  # ...and written nowhere
        assert key.encode() not in p.read_bytes(), p


def test_dry_run_writes_prompts_and_a_valid_batch_file_without_requests(setup, server, tmp_path):
    tax, combos = setup
    out = tmp_path / "dry" / "results.jsonl"
    rep = synthesize(tax, combos, model="gpt-x", out=out, dry_run=True, base_url=server.base_url,
                     params={"temperature": 0.5, "max_tokens": 800}, **fast())
    assert rep.dry_run and server.requests == 0 and not out.exists()
    prompts = [json.loads(l) for l in Path(rep.prompts_path).read_text().splitlines()]
    batch = [json.loads(l) for l in Path(rep.batch_path).read_text().splitlines()]
    assert len(prompts) == len(batch) == 20
    for p, b in zip(prompts, batch):
        check_batch_input_line(b)
        assert b["custom_id"] == p["id"] and b["body"]["messages"] == p["messages"]
        assert b["body"]["model"] == "gpt-x" and b["body"]["max_tokens"] == 800
    assert len({b["custom_id"] for b in batch}) == 20


def test_no_key_means_dry_run(setup, tmp_path, monkeypatch):
    tax, combos = setup
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    rep = synthesize(tax, combos, model="m", out=tmp_path / "r.jsonl")
    assert rep.dry_run and (tmp_path / "batch_input.jsonl").exists()
    assert any("no API key" in p for p in rep.problems)


def test_batch_output_imports_into_the_results_format(setup, tmp_path):
    tax, combos = setup
    rep = synthesize(tax, combos, model="m", out=tmp_path / "r.jsonl", dry_run=True, limit=4)
    batch = [json.loads(l) for l in Path(rep.batch_path).read_text().splitlines()]
    conv = lambda i: json.dumps({"messages": [{"role": "user", "content": f"q{i}"},
                                              {"role": "assistant", "content": f"a{i}"}]})
    lines = []
    for i, b in enumerate(batch[:3]):
        body = {"id": f"c{i}", "object": "chat.completion", "model": "m-2025",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": conv(i) if i != 1 else "oops"}}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}
        lines.append({"id": f"batch_req_{i}", "custom_id": b["custom_id"],
                      "response": {"status_code": 200, "request_id": f"req{i}", "body": body}, "error": None})
    lines.append({"id": "batch_req_3", "custom_id": batch[3]["custom_id"], "response": None,
                  "error": {"code": "server_error", "message": "boom"}})
    bo = tmp_path / "batch_output.jsonl"
    bo.write_text("".join(json.dumps(l) + "\n" for l in lines) + "garbage\n")
    out = tmp_path / "r.jsonl"
    rep = synthesize(tax, combos, model="m", out=out, limit=4, import_batch=bo, api_key=None)
    recs = read_results(out)[0]
    assert [r["status"] for r in recs] == ["ok", "rejected", "ok", "failed"]
    assert [r["id"] for r in recs] == [b["custom_id"] for b in batch]
    assert recs[3]["reason"] == "batch error server_error: boom" and rep.usage["total_tokens"] == 45
    assert any("line 5" in p for p in rep.problems)
    rep = synthesize(tax, combos, model="m", out=out, limit=4, import_batch=bo)  # idempotent
    assert rep.done == 0 and len(out.read_text().splitlines()) == 4


# ---------------------------------------------------------------------------------------
# Crash safety: SIGKILL a CLI run in a subprocess, restart, check exactly-once


def _cli(tax, combos, out, server, key, *extra):
    env = {**os.environ, "OPENAI_API_KEY": key, "PYTHONPATH": str(REPO)}
    env.pop("OPENAI_BASE_URL", None)
    cmd = [sys.executable, "-m", "steps_engine", "synthesize", str(tax), "--combos", str(combos), "--model", "m",
           "--base-url", server.base_url, "--concurrency", "3", "--out", str(out), "--quiet", "--no-cache", *extra]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _count_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


@pytest.mark.parametrize("kill_after", [(2, 9), (5, 14)])
def test_sigkill_mid_run_then_restart_does_every_combination_exactly_once(setup, tmp_path, kill_after):
    tax, combos = setup
    key = "sk-test-" + uuid.uuid4().hex
    out = tmp_path / "r.jsonl"
    with FakeOpenAI(delay=0.05) as srv:
        for target in kill_after:
            proc = _cli(tax, combos, out, srv, key)
            deadline = time.monotonic() + 60  # generous: only guards against a hang
            while _count_lines(out) < target and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
            assert _count_lines(out) < 20  # killed before the end
        proc = _cli(tax, combos, out, srv, key, "--json")
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 0, stderr.decode()[-2000:]
    summary = json.loads(stdout.decode().splitlines()[-1])
    recs = [json.loads(l) for l in out.read_text().splitlines()]
    ids = [r["id"] for r in recs]
    assert len(ids) == len(set(ids)) == 20
    assert all(r["status"] == "ok" for r in recs)
    assert summary["skipped"] + summary["ok"] == 20
    assert key not in out.read_text() and key.encode() not in stderr


# ---------------------------------------------------------------------------------------
# Retry policy and the OpenAI client's error mapping


def test_backoff_honours_retry_after_and_caps_with_jitter():
    import asyncio

    from steps_engine.llm import Completion, LLMError, RetryPolicy, complete_with_retries
    from steps_engine.llm.base import ChatClient

    class Scripted(ChatClient):
        model = "m"

        def __init__(self, errors):
            self.errors, self.calls = list(errors), 0

        async def complete(self, messages, params):
            self.calls += 1
            if self.errors:
                raise self.errors.pop(0)
            return Completion("ok")

    sleeps = []

    async def fake_sleep(s):
        sleeps.append(s)

    policy = RetryPolicy(max_retries=4, base_delay=1.0, max_delay=10.0)
    errs = [LLMError("429", retryable=True, retry_after=2.5), LLMError("500", retryable=True),
            LLMError("500", retryable=True), LLMError("429", retryable=True, retry_after=99)]
    client = Scripted(errs)
    comp, retries = asyncio.run(complete_with_retries(client, [], {}, policy, random.Random(0), sleep=fake_sleep))
    assert comp.text == "ok" and retries == 4 and client.calls == 5
    assert sleeps[0] == 2.5 and 0 <= sleeps[1] <= 2.0 and 0 <= sleeps[2] <= 4.0 and sleeps[3] == 10.0
    # not retryable: raised at once
    client = Scripted([LLMError("400", retryable=False)])
    with pytest.raises(LLMError) as info:
        asyncio.run(complete_with_retries(client, [], {}, policy, random.Random(0), sleep=fake_sleep))
    assert client.calls == 1 and info.value.retries == 0
    with pytest.raises(ValueError, match="max_retries"):
        RetryPolicy(max_retries=-1)


@pytest.mark.parametrize(
    "behaviour, retryable, text",
    [("429", True, "HTTP 429"), ("500", True, "HTTP 500"), ("bad_body", True, "invalid response"),
     ("echo_key", False, "HTTP 401")],
)
def test_openai_client_maps_server_errors(server, behaviour, retryable, text):
    import asyncio

    from steps_engine.llm import LLMError
    from steps_engine.llm.openai_client import OpenAIChatClient

    key = "sk-test-" + uuid.uuid4().hex
    server.retry_after = "1.5"
    server.script.append(behaviour)

    async def go():
        client = OpenAIChatClient("m", api_key=key, base_url=server.base_url, timeout=5)
        try:
            return await client.complete([{"role": "user", "content": "hi"}], {})
        finally:
            await client.aclose()

    with pytest.raises(LLMError) as info:
        asyncio.run(go())
    err = info.value
    assert err.retryable is retryable and text in err.reason and key not in str(err)
    assert err.retry_after == (1.5 if behaviour == "429" else None)
    assert server.requests == 1  # the openai package's own retries are off


def test_unreachable_endpoint_is_a_retryable_connection_error(tmp_path, setup):
    import socket

    tax, combos = setup
    with socket.socket() as s:  # a free port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rep = synthesize(tax, combos, model="m", out=tmp_path / "r.jsonl", base_url=f"http://127.0.0.1:{port}/v1",
                     limit=1, max_retries=2, **fast())
    rec = read_results(tmp_path / "r.jsonl")[0][0]
    assert rep.failed == 1 and rep.retries == 2 and rec["reason"].startswith("connection error")


# ---------------------------------------------------------------------------------------
# Real data: IFEval prompts with their 1-3 instruction ids


IFEVAL = REPO.parent / "shared" / "data" / "ifeval" / "input_data.jsonl"


@pytest.mark.skipif(not IFEVAL.exists(), reason="../shared/data not present")
def test_seeds_on_ifeval_are_real_fewest_tag_examples(tmp_path):
    rows = {}
    for line in IFEVAL.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        rows[r["key"]] = r
    spec = {"path": str(IFEVAL), "format": "jsonl", "skills_field": "instruction_id_list", "text_field": "prompt"}
    idx = build_seed_index(spec, None, per_skill=5, seed=0)
    skills = sorted({s for r in rows.values() for s in r["instruction_id_list"]})
    assert sorted(idx.candidates) == skills and not idx.problems
    rng = random.Random(1)
    for _ in range(200):
        combo = rng.sample(skills, rng.randint(2, 5))
        seeds = pick_seeds(idx, combo, start=combo[0], seed=9)
        assert len({s.source_id for s in seeds}) == len(combo)  # no record twice
        for s in seeds:
            row = rows[s.source_id]  # the "key" field is the source id
            assert s.skill in row["instruction_id_list"] and s.text == row["prompt"]
            tagged = [r for r in rows.values() if s.skill in r["instruction_id_list"]]
            if len(tagged) >= len(combo):  # enough examples: the pick has the fewest tags possible
                assert s.n_tags <= sorted(len(r["instruction_id_list"]) for r in tagged)[len(combo) - 1]


def test_bad_combination_lines_are_reported_with_line_numbers(setup, tmp_path):
    from steps_engine.synthesis.runner import load_combinations

    tax, _ = setup
    p = tmp_path / "c.jsonl"
    p.write_text('{"skills": ["alpha", "beta"]}\nnot json\n{"skills": []}\n\n{"skills": ["alpha", "alpha"]}\n'
                 '{"skills": ["alpha"], "start": "beta"}\n')
    combos, problems = load_combinations(p)
    assert len(combos) == 1
    assert [pr.split(": ")[1] for pr in problems] == ["line 2", "line 3", "line 5", "line 6"]
    rep = synthesize(tax, p, model="m", out=tmp_path / "r.jsonl", dry_run=True)
    assert rep.todo == 1 and len(rep.problems) >= 4


def test_cli_synthesize_rejects_bad_arguments(setup, tmp_path, capsys):
    from steps_engine.cli import main

    tax, combos = setup
    base = ["synthesize", str(tax), "--combos", str(combos), "--model", "m", "--out", str(tmp_path / "r.jsonl")]
    assert main(base + ["--concurrency", "0"]) == 2
    assert main(["synthesize", str(tmp_path), "--combos", str(combos), "--model", "m", "--out", "x"]) == 2
    bad = tmp_path / "t.txt"
    bad.write_text("Use {skils}")
    assert main(base + ["--template", str(bad)]) == 2
    assert "unknown placeholder" in capsys.readouterr().err
    assert main(base + ["--show-prompt", "0"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["messages"][0]["role"] == "user" and "- alpha\n- beta" in shown["messages"][0]["content"]


def test_cli_combos_file_with_no_valid_line_exits_2(setup, tmp_path, capsys):
    from steps_engine.cli import main

    tax, _ = setup
    junk = tmp_path / "junk.jsonl"
    junk.write_text("not json\n[1, 2]\n")
    out = tmp_path / "r.jsonl"
    assert main(["synthesize", str(tax), "--combos", str(junk), "--model", "m", "--dry-run", "--quiet",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no valid combination (2 bad line(s))" in err and "line 1" in err
    assert not (tmp_path / "prompts.jsonl").exists()


def test_batch_answers_matching_no_combination_are_reported(setup, tmp_path):
    # a Batch input made with one --model, imported with another: the ids differ, nothing imports
    tax, combos = setup
    rep = synthesize(tax, combos, model="m", out=tmp_path / "r.jsonl", dry_run=True, limit=2)
    batch = [json.loads(l) for l in Path(rep.batch_path).read_text().splitlines()]
    body = {"id": "c", "object": "chat.completion", "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "{}"}}]}
    bo = tmp_path / "batch_output.jsonl"
    bo.write_text("".join(json.dumps({"id": f"b{i}", "custom_id": b["custom_id"], "error": None,
                                      "response": {"status_code": 200, "body": body}}) + "\n"
                          for i, b in enumerate(batch)))
    rep = synthesize(tax, combos, model="other-model", out=tmp_path / "r2.jsonl", import_batch=bo, api_key=None)
    assert rep.done == 0
    assert any("2 of 2 answer(s) match no combination" in p and "--model" in p for p in rep.problems), rep.problems


def test_records_without_text_are_not_cited_as_examples(setup):
    # a wrong text field used to give seeds with a source_id but no text: provenance cited an
    # example the prompt never showed, and no warning was given
    tax, _ = setup
    spec = {**load_input_spec(tax), "text_field": "no_such_field"}
    idx = build_seed_index(spec, SKILLS, per_skill=3, seed=1)
    assert idx.candidates == {}
    assert any("40 record(s)" in p and "'no_such_field'" in p for p in idx.problems), idx.problems
    seeds = pick_seeds(idx, ["alpha", "beta"])
    assert [s.source_id for s in seeds] == [None, None]

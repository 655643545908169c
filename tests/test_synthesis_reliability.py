"""Synthesis under faults: kills during --retry-failed, cache poisoning, slow servers, honest
exit codes, a key echoed by the server (issue 12)."""

from __future__ import annotations

import json
import signal
import socket
import time
import uuid
from pathlib import Path

import pytest

from fake_openai_server import FakeOpenAI
from steps_engine.cli import EXIT_DRY_RUN, EXIT_NOTHING_DONE, EXIT_OK, EXIT_PARTIAL, main
from steps_engine.synthesis.runner import read_results, synthesize
from _synthesis_fixtures import fast
from test_synthesis import _cli, _count_lines, setup  # noqa: F401  (setup is a fixture)


def _lines(path: Path) -> list[dict]:
    return [json.loads(l) for l in path.read_text().splitlines()]


@pytest.mark.parametrize("kill_after", [(2, 8)])
def test_sigkill_during_retry_failed_then_rerun_keeps_every_combination_once(setup, tmp_path, kill_after):
    tax, combos = setup
    key = "sk-test-" + uuid.uuid4().hex
    out = tmp_path / "r.jsonl"
    with FakeOpenAI(default="500") as srv:  # first pass: all 20 combinations fail
        rep = synthesize(tax, combos, model="m", out=out, base_url=srv.base_url, max_retries=0, use_cache=False,
                         **fast(api_key=key))
    assert rep.status == "nothing" and [r["status"] for r in _lines(out)] == ["failed"] * 20
    with FakeOpenAI(delay=0.05) as srv:
        for target in kill_after:  # the retries run in a CLI subprocess that is SIGKILLed
            start = _count_lines(out)
            proc = _cli(tax, combos, out, srv, key, "--retry-failed")
            deadline = time.monotonic() + 60  # only guards against a hang
            while _count_lines(out) < start + target and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            assert proc.returncode == -signal.SIGKILL
            ids = {r["id"] for r in read_results(out)[0]}
            assert len(ids) == 20  # the failed record stays until its retry is written
        # a plain rerun: nothing to do, but every combination is there exactly once
        rep = synthesize(tax, combos, model="m", out=out, base_url=srv.base_url, use_cache=False, **fast(api_key=key))
        assert rep.todo == 0 and rep.status == "done"
        recs = _lines(out)
        assert len(recs) == len({r["id"] for r in recs}) == 20
        still_failed = sum(r["status"] == "failed" for r in recs)
        assert 0 < still_failed < 20
        rep = synthesize(tax, combos, model="m", out=out, base_url=srv.base_url, use_cache=False, retry_failed=True,
                         **fast(api_key=key))
    assert rep.todo == rep.ok == still_failed and rep.status == "done"
    recs = _lines(out)
    assert len(recs) == len({r["id"] for r in recs}) == 20 and all(r["status"] == "ok" for r in recs)
    history = _lines(tmp_path / "r.jsonl.failed.jsonl")
    assert len(history) == len({json.dumps(h, sort_keys=True) for h in history}) == 20  # each old failure once


def test_a_rejected_answer_is_not_cached_and_a_retry_asks_again(setup, tmp_path):
    tax, combos = setup
    out, cache = tmp_path / "r.jsonl", tmp_path / "cache"
    with FakeOpenAI(default="malformed") as srv:
        rep = synthesize(tax, combos, model="m", out=out, base_url=srv.base_url, limit=3, cache_dir=cache, **fast())
        assert rep.rejected == 3 and srv.requests == 3
        srv.default = "ok"
        rep = synthesize(tax, combos, model="m", out=out, base_url=srv.base_url, limit=3, cache_dir=cache,
                         retry_failed=True, **fast())
        assert srv.requests == 6 and rep.cache_hits == 0 and rep.ok == 3  # asked again, not replayed
    assert [r["status"] for r in _lines(out)] == ["ok"] * 3


def test_the_cache_key_includes_the_endpoint(setup, tmp_path):
    tax, combos = setup
    cache = tmp_path / "cache"
    with FakeOpenAI() as one, FakeOpenAI() as two:
        synthesize(tax, combos, model="m", out=tmp_path / "a.jsonl", base_url=one.base_url, limit=4, cache_dir=cache,
                   **fast())
        rep = synthesize(tax, combos, model="m", out=tmp_path / "b.jsonl", base_url=two.base_url, limit=4,
                         cache_dir=cache, **fast())
        assert two.requests == 4 and rep.cache_hits == 0
        rep = synthesize(tax, combos, model="m", out=tmp_path / "c.jsonl", base_url=one.base_url + "/", limit=4,
                         cache_dir=cache, **fast())
        assert rep.cache_hits == 4 and one.requests == 4  # the same endpoint still hits


def test_timeout_is_a_total_deadline_not_per_read(setup, tmp_path):
    # the server sends the whole answer over 4 s, one piece every 0.2 s: no single read waits 1 s
    tax, combos = setup
    with FakeOpenAI(default="trickle", trickle_seconds=4.0) as srv:
        rep = synthesize(tax, combos, model="m", out=tmp_path / "r.jsonl", base_url=srv.base_url, limit=1,
                         max_retries=0, **fast(timeout=1.0))
        assert srv.requests == 1
    rec = read_results(tmp_path / "r.jsonl")[0][0]
    assert rep.failed == 1 and rec["status"] == "failed" and rec["reason"].startswith("timeout"), rec["reason"]


def test_a_trickled_answer_within_the_deadline_is_fine(setup, tmp_path):
    tax, combos = setup
    with FakeOpenAI(default="trickle", trickle_seconds=0.2) as srv:
        rep = synthesize(tax, combos, model="m", out=tmp_path / "r.jsonl", base_url=srv.base_url, limit=1,
                         max_retries=0, **fast(timeout=5.0))
    assert rep.ok == 1


def _args(tax, combos, out, *extra):
    return ["synthesize", str(tax), "--combos", str(combos), "--model", "m", "--out", str(out), "--quiet",
            "--limit", "3", "--max-retries", "0", "--no-cache", *extra]


def test_exit_codes_say_whether_the_work_happened(setup, tmp_path, monkeypatch, capsys):
    tax, combos = setup
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-" + uuid.uuid4().hex)
    with socket.socket() as s:  # a free port with nobody listening
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    assert main(_args(tax, combos, tmp_path / "u.jsonl", "--base-url", dead)) == EXIT_NOTHING_DONE
    assert "nothing synthesized" in capsys.readouterr().out
    with FakeOpenAI(default="echo_key") as srv:  # 401 on every call
        assert main(_args(tax, combos, tmp_path / "k.jsonl", "--base-url", srv.base_url)) == EXIT_NOTHING_DONE
    with FakeOpenAI() as srv:
        srv.script += ["500"]
        assert main(_args(tax, combos, tmp_path / "p.jsonl", "--base-url", srv.base_url, "--concurrency", "1")) \
            == EXIT_PARTIAL
        assert "--retry-failed" in capsys.readouterr().out
        assert main(_args(tax, combos, tmp_path / "p.jsonl", "--base-url", srv.base_url, "--retry-failed")) == EXIT_OK
        assert main(_args(tax, combos, tmp_path / "p.jsonl", "--base-url", srv.base_url)) == EXIT_OK  # all done
    assert main(_args(tax, combos, tmp_path / "d" / "r.jsonl", "--dry-run")) == EXIT_OK
    monkeypatch.delenv("OPENAI_API_KEY")
    capsys.readouterr()
    assert main(_args(tax, combos, tmp_path / "n" / "r.jsonl")) == EXIT_DRY_RUN
    assert "no API key" in capsys.readouterr().out


def test_import_batch_matching_nothing_exits_3(setup, tmp_path, monkeypatch, capsys):
    tax, combos = setup
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    rep = synthesize(tax, combos, model="m", out=tmp_path / "r.jsonl", dry_run=True, limit=2)
    body = {"id": "c", "object": "chat.completion", "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "{}"}}]}
    bo = tmp_path / "batch_output.jsonl"
    bo.write_text("".join(json.dumps({"id": f"b{i}", "custom_id": json.loads(l)["custom_id"], "error": None,
                                      "response": {"status_code": 200, "body": body}}) + "\n"
                          for i, l in enumerate(Path(rep.batch_path).read_text().splitlines())))
    argv = ["synthesize", str(tax), "--combos", str(combos), "--model", "other", "--out", str(tmp_path / "o.jsonl"),
            "--quiet", "--import-batch", str(bo)]
    assert main(argv) == EXIT_NOTHING_DONE
    assert "nothing imported" in capsys.readouterr().err


def test_a_key_echoed_in_a_normal_answer_is_in_no_written_byte(setup, tmp_path):
    tax, combos = setup
    key = "sk-test-" + uuid.uuid4().hex
    out = tmp_path / "run" / "r.jsonl"
    with FakeOpenAI(default="echo_key_ok") as srv:
        rep = synthesize(tax, combos, model="m", out=out, base_url=srv.base_url, limit=4, **fast(api_key=key))
    assert rep.ok == 4
    recs = read_results(out)[0]
    assert all("(your key is ***)" in r["messages"][1]["content"] for r in recs)
    from steps_engine.export import export

    for fmt in ("chat", "parquet"):
        export(out, fmt=fmt, out=tmp_path / f"export-{fmt}" / ("train.parquet" if fmt == "parquet" else "train.jsonl"))
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(".cache" in str(p) for p in written) and len(written) >= 8
    for p in written:
        assert key.encode() not in p.read_bytes(), p


def test_short_placeholder_keys_are_not_scrubbed_from_text():
    from steps_engine.llm.base import scrub

    assert scrub("ask ollama", "ollama") == "ask ollama"  # local servers take any key: not a secret
    assert scrub("key sk-abcdefgh1234 here", "sk-abcdefgh1234") == "key *** here"


def test_synthesize_refuses_to_append_results_to_its_combinations_file(setup, capsys):
    tax, combos = setup
    before = combos.read_bytes()
    assert main(["synthesize", str(tax), "--combos", str(combos), "--model", "m", "--dry-run", "--quiet",
                 "--out", str(combos)]) == 2
    assert "is the input" in capsys.readouterr().err and combos.read_bytes() == before

"""Opt-in: synthesize against a real local llama.cpp server (scripts/serve_local_llm.sh).

Skipped unless STEPS_TEST_LOCAL_LLM=1 and a server answers at STEPS_LOCAL_LLM_URL
(default http://127.0.0.1:8088/v1). Checks the results file format, not output quality:
the 270M model rarely writes a usable conversation, so `rejected` is a valid outcome here.
Answers are capped at 256 tokens so the test takes about a minute on 2 cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
URL = os.environ.get("STEPS_LOCAL_LLM_URL", "http://127.0.0.1:8088/v1").rstrip("/")
MODEL = os.environ.get("STEPS_LOCAL_LLM_MODEL", "gemma")
N = 3


def _server_answers() -> str | None:
    """None if the server lists its models, else why not."""
    try:
        with urllib.request.urlopen(URL + "/models", timeout=5) as resp:
            json.loads(resp.read())
        return None
    except (OSError, ValueError) as exc:
        return f"no OpenAI-compatible server at {URL}: {exc}"


def _skip_reason() -> str | None:
    if os.environ.get("STEPS_TEST_LOCAL_LLM") != "1":
        return "opt-in: set STEPS_TEST_LOCAL_LLM=1 and run scripts/serve_local_llm.sh"
    return _server_answers()


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")


def _steps(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "steps_engine", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=1800)


def test_three_combinations_through_the_local_server_give_well_formed_records(tmp_path):
    demo = tmp_path / "demo"
    r = _steps("demo", "--out", str(demo))
    assert r.returncode == 0, r.stderr
    combos = [json.loads(l) for l in (demo / "combos.jsonl").read_text().splitlines()][:N]
    assert len(combos) == N

    out = tmp_path / "results.jsonl"
    env = {**os.environ, "OPENAI_API_KEY": "local"}
    r = _steps("synthesize", str(demo), "--combos", str(demo / "combos.jsonl"), "--model", MODEL,
               "--base-url", URL, "--limit", str(N), "--concurrency", "1", "--timeout", "600",
               "--max-retries", "1", "--max-tokens", "256", "--no-cache", "--quiet", "--out", str(out), "--json", env=env)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["ok"] + summary["rejected"] == N, summary  # the server answered every request
    assert summary["failed"] == 0 and summary["requests"] >= N

    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == N
    records = [json.loads(l) for l in lines]
    assert len({rec["id"] for rec in records}) == N
    wanted = {tuple(c["skills"]) for c in combos}
    assert {tuple(rec["skills"]) for rec in records} == wanted
    for rec in records:
        assert rec["model"] == MODEL
        assert rec["k"] == len(rec["skills"]) and rec["start"] == rec["skills"][0]
        assert [s["skill"] for s in rec["seeds"]] == rec["skills"]
        assert len(rec["template_hash"]) == 64
        assert rec["cached"] is False
        assert rec["usage"]["completion_tokens"] > 0
        if rec["status"] == "ok":
            msgs = rec["messages"]
            assert rec["reason"] is None
            body = [m for m in msgs if m["role"] != "system"]
            assert [m["role"] for m in body] == ["user", "assistant"] * (len(body) // 2)
            assert all(m["content"].strip() for m in msgs)
        else:
            assert rec["status"] == "rejected"
            assert rec["reason"] and isinstance(rec["raw"], str)

"""LLM rerank inside tagging: `tag_file(..., reranker=)` and `steps tag --rerank-model`, against
the loopback server (a model that reranks, a broken reply, a kill and resume)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from steps_engine.semantic.tagging import TagConfig, Vocabulary, tag_file

from _embedding_fakes import CountingEmbedder
from fake_openai_server import FakeOpenAI

REPO = Path(__file__).resolve().parents[1]
SKILLS = [f"skill_{c}" for c in "abcdefghij"]


def _records(path: Path, n: int) -> None:
    lines = [json.dumps({"id": i, "instruction": f"Record {i}: a task about topic {i % 5}.", "output": "Done."})
             for i in range(n)]
    lines.insert(2, "{broken")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _skills(path: Path) -> list[list[str]]:
    return [json.loads(x)["skills"] for x in path.read_text(encoding="utf-8").splitlines()]


def test_tag_file_rerank_reorders_candidates_and_keeps_order_on_failure(tmp_path):
    from steps_engine.llm import ResponseCache
    from steps_engine.llm.openai_client import OpenAIChatClient
    from steps_engine.semantic.tagging_llm import LLMReranker

    src = tmp_path / "in.jsonl"
    _records(src, 6)
    vocab, emb = Vocabulary(SKILLS), CountingEmbedder(dim=16)
    cfg = TagConfig(top_k=3, center_min_records=2)
    tag_file(src, tmp_path / "p5.jsonl", vocab, emb, TagConfig(top_k=5, center_min_records=2))
    plain5 = _skills(tmp_path / "p5.jsonl")  # the similarity ranking's top 5 per record
    with FakeOpenAI(default="rerank") as srv:
        srv.markers = {"Record 4:": "tags_broken"}
        client = OpenAIChatClient("m", api_key=None, base_url=srv.base_url, timeout=5)
        rr = LLMReranker(client, k=3, concurrency=2, cache=ResponseCache(tmp_path / "llm"))
        out = tmp_path / "out.jsonl"
        report = tag_file(src, out, vocab, emb, cfg, reranker=rr, rerank_candidates=5)
        assert srv.requests == 6
        got = _skills(out)
        # The fake model answers the 5 candidates last first; the reranked tags are its first 3.
        for row in (0, 1, 3, 4, 6):
            assert got[row] == plain5[row][::-1][:3]
        assert got[2] == []  # the bad row's placeholder
        assert got[5] == plain5[5][:3]  # record 4: broken reply -> similarity order kept
        assert report.rerank_failed == ["line 6: reply had no usable answer: 'Sorry, I cannot label this example.'"]
        assert report.tagged == 6 and "1 LLM rerank failures" in report.summary()
        # Rerun: the five good replies come from the cache; the broken one was not cached.
        srv.markers = {}
        report = tag_file(src, out, vocab, emb, cfg, reranker=rr, rerank_candidates=5)
        assert srv.requests == 7 and report.rerank_failed == []
        assert _skills(out)[5] == plain5[5][::-1][:3]


def test_steps_tag_rerank_cli_exit_codes_and_messages(tmp_path, monkeypatch, capsys):
    from steps_engine.cli import main

    src, vocab = tmp_path / "in.jsonl", tmp_path / "vocab.txt"
    _records(src, 4)
    vocab.write_text("\n".join(SKILLS) + "\n", encoding="utf-8")
    out = str(tmp_path / "out.jsonl")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-rerank")
    monkeypatch.setenv("STEPS_CACHE_DIR", str(tmp_path / "emb"))
    monkeypatch.setattr("steps_engine.semantic.embeddings.get_embedder", lambda *a, **k: CountingEmbedder(dim=16))
    with FakeOpenAI(default="rerank") as srv:
        srv.markers = {"Record 1:": "tags_broken"}
        args = ["tag", str(src), "--vocab", str(vocab), "--rerank-model", "m", "--llm-base-url", srv.base_url,
                "--top-k", "2", "--rerank-candidates", "4", "--out", out, "--quiet", "--json"]
        assert main(args) == 4  # some rerank requests failed: the work happened, partly
        captured = capsys.readouterr()
        assert "line 2: reply had no usable answer" in captured.err and "similarity order kept" in captured.err
        assert json.loads(captured.out.splitlines()[-1])["rerank_failed"] == 1
        srv.markers = {}
        assert main(args) == 0
        assert srv.requests == 5  # 4 + the one that failed
    assert "sk-test-rerank" not in Path(out).read_text() + "".join(p.read_text() for p in Path(f"{out}.llm-cache").rglob("*.json"))
    assert main(["tag", str(src), "--vocab", str(vocab), "--rerank-model", "m", "--llm-model", "m",
                 "--llm-base-url", "http://127.0.0.1:9/v1", "--out", out]) == 2
    assert "drop one" in capsys.readouterr().err


def test_steps_tag_rerank_killed_then_resumed_asks_only_for_what_is_missing(tmp_path):
    from steps_engine.data.ingest import extract_text
    from steps_engine.semantic.embeddings import DEFAULT_MODEL_ID, EmbeddingCache
    from steps_engine.semantic.embeddings.cache import text_key

    src, vocab_file, out = tmp_path / "in.jsonl", tmp_path / "vocab.txt", tmp_path / "out.jsonl"
    _records(src, 30)
    vocab_file.write_text("\n".join(SKILLS) + "\n", encoding="utf-8")
    # Seed the subprocess's embedding cache with every text it embeds (skill phrases, instructions),
    # so it never loads the model.
    vocab = Vocabulary(SKILLS)
    cfg = TagConfig()
    texts = vocab.phrases(cfg.template) + [p for t in cfg.phrasings for p in vocab.phrases(t)]
    texts += [extract_text(json.loads(x)) for x in src.read_text().splitlines() if x.startswith("{\"")]
    texts = list(dict.fromkeys(texts))
    vecs = CountingEmbedder(dim=384).encode(texts)
    EmbeddingCache(tmp_path / "emb").put(DEFAULT_MODEL_ID, [text_key(t) for t in texts], vecs)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OPENAI_API_KEY": "sk-test-rerank", "STEPS_CACHE_DIR": str(tmp_path / "emb")}
    env.pop("OPENAI_BASE_URL", None)
    with FakeOpenAI(default="rerank", delay=0.05) as srv:
        cmd = [sys.executable, "-m", "steps_engine", "tag", str(src), "--vocab", str(vocab_file), "--no-response",
               "--rerank-model", "m", "--llm-base-url", srv.base_url, "--llm-concurrency", "2",
               "--rerank-candidates", "6", "--out", str(out), "--quiet"]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60  # only guards against a hang
        while srv.requests < 10 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
        assert not out.exists()  # nothing half-written
        saved = len(list(Path(f"{out}.llm-cache").rglob("*.json")))
        assert 0 < saved < 30
        before = srv.requests
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr.decode()[-2000:]
        assert srv.requests - before == 30 - saved
    rows = _skills(out)
    assert len(rows) == 31 and all(len(r) == 5 for i, r in enumerate(rows) if i != 2)
    assert "sk-test-rerank" not in out.read_text() + stderr.decode()

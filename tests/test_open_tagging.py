"""Open-vocabulary tagging: tag normalisation, canonical vocabularies, `steps tag --open`
against the loopback server (with a kill and resume), and the cross-validation used to
choose the embedding tagger's method."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from steps_engine.semantic.canonical_tags import CanonConfig, canonicalise, normalise_tag
from steps_engine.semantic.crossval import cross_validate, grid_fit
from steps_engine.semantic.tagging import load_vocabulary

from _embedding_fakes import CountingEmbedder
from fake_openai_server import FakeOpenAI

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- normal forms
@pytest.mark.parametrize("raw, expected", [
    ("Public Speaking", "public_speaking"),
    ("public-speaking skills", "public_speaking"),  # trailing "skill(s)" dropped
    ("  PUBLIC   speaking ", "public_speaking"),
    ("SQL queries", "sql_query"),  # -ies -> -y
    ("Colour Theory", "color_theory"),  # British spelling
    ("color theories", "color_theory"),
    ("Data Analyses", "data_analysis"),  # irregular plural
    ("analysing data", "analyzing_data"),
    ("Organisation of Classes", "organization_of_class"),  # -isation, -sses
    ("mathematics & physics", "mathematics_and_physics"),  # -ics words keep their s
    ("business", "business"),  # -ss kept
    ("skills", "skill"),  # a lone "skill" stays
    ("!!!", ""),
])
def test_normalise_tag(raw, expected):
    assert normalise_tag(raw) == expected


# ---------------------------------------------------------------- canonicalisation
# Record lists of raw tags (the hand-made list) and the phrase vectors the fake embedder gives.
RECORDS = [
    ["Public Speaking", "Budget Planning"],  # R1
    ["public_speaking", "budgeting"],  # R2
    ["public-speaking skills", "Budgeting", "Colour Theory"],  # R3
    ["PUBLIC  speaking", "SQL queries", "color theories"],  # R4
    ["sql query", "database design", "data analysis"],  # R5
    ["SQL Queries", "Database Design", "Data Analyses"],  # R6
    ["analysing data", "knitting"],  # R7
    ["database design", "database designs", "schema design"],  # R8
    ["schema design", "sql query"],  # R9
]
_E = np.eye(8)
TABLE = {
    "public speaking": _E[0],
    "budgeting": _E[1],
    "budget planning": _E[1] + 0.3 * _E[6],  # cos with budgeting = 1/sqrt(1.09) = 0.958 -> synonym
    "sql query": _E[2],
    "database design": _E[3],
    "schema design": _E[3] + 0.5 * _E[2],  # cos with database design = 1/sqrt(1.25) = 0.894, but named together in R8
    "color theory": _E[4],
    "data analysis": _E[5],
    "analyzing data": _E[5] + 0.8 * _E[6],  # cos 1/sqrt(1.64) = 0.781: not a synonym (< 0.85), rare -> mapped (>= 0.7)
    "knitting": _E[7],  # rare and like nothing: dropped
}


def test_canonicalise_hand_made_list():
    canon = canonicalise(RECORDS, CountingEmbedder(dim=8, table=TABLE))
    # Normal-form counts: public_speaking 4 (R1-R4), sql_query 3 (R4, R5, R6, R9 -> 4), database_design 3
    # (R5, R6, R8; R8's two spellings count once), budgeting 2 + budget_planning 1 merged -> 3 records,
    # data_analysis 2 + analyzing_data (rare, mapped) -> 3, color_theory 2, schema_design 2, knitting dropped.
    got = {t.name: t.count for t in canon.tags}
    assert got == {"public_speaking": 4, "sql_query": 4, "budgeting": 3, "database_design": 3, "data_analysis": 3,
                   "color_theory": 2, "schema_design": 2}
    assert [t.name for t in canon.tags][:2] == ["public_speaking", "sql_query"]  # by count, then name
    ps = next(t for t in canon.tags if t.name == "public_speaking")
    assert ps.absorbed == {"Public Speaking": 1, "public_speaking": 1, "public-speaking skills": 1, "PUBLIC  speaking": 1}
    dd = next(t for t in canon.tags if t.name == "database_design")
    assert dd.absorbed == {"database design": 2, "Database Design": 1, "database designs": 1}
    assert [(a, b) for a, b, _ in canon.synonym_merges] == [("budget_planning", "budgeting")]
    assert canon.synonym_merges[0][2] == pytest.approx(0.958, abs=1e-3)
    assert [(a, b) for a, b, _ in canon.rare_mapped] == [("analyzing_data", "data_analysis")]
    assert canon.dropped == [("knitting", 1)]
    assert canon.mapping["knitting"] is None and canon.mapping["Budget Planning"] == "budgeting"
    assert canon.apply(["SQL Queries", "sql query", "knitting", "Schema design"]) == ["sql_query"]  # unseen raw -> nothing
    assert canon.apply(["schema design", "Budget Planning"]) == ["schema_design", "budgeting"]


def test_tags_named_together_are_not_merged_unless_allowed():
    emb = CountingEmbedder(dim=8, table=TABLE)
    assert canonicalise(RECORDS, emb).mapping["schema design"] == "schema_design"
    # With the co-occurrence guard off, schema_design (count 2) joins database_design (count 3).
    loose = canonicalise(RECORDS, emb, CanonConfig(max_cooc=1.0))
    assert loose.mapping["schema design"] == "database_design"
    assert ("schema_design", "database_design") in [(a, b) for a, b, _ in loose.synonym_merges]
    # A higher min_count makes color_theory rare too; nothing is similar to it, so it is dropped.
    strict = canonicalise(RECORDS, emb, CanonConfig(min_count=3))
    assert ("color_theory", 2) in strict.dropped and strict.mapping["Colour Theory"] is None
    with pytest.raises(ValueError, match="merge_sim must be in"):
        canonicalise(RECORDS, emb, CanonConfig(merge_sim=1.5))


def test_vocab_txt_lists_counts_and_absorbed_tags_and_loads_as_a_vocabulary(tmp_path):
    canon = canonicalise(RECORDS, CountingEmbedder(dim=8, table=TABLE))
    text = canon.vocab_txt()
    assert "budgeting\t3\tBudget Planning (1); Budgeting (1); budgeting (1)" in text.splitlines()
    assert "# dropped (rare, nothing similar): knitting (1)" in text
    path = tmp_path / "vocab.txt"
    path.write_text(text, encoding="utf-8")
    vocab, problems = load_vocabulary(path)
    assert vocab.skills == [t.name for t in canon.tags] and problems == []


# ---------------------------------------------------------------- open tagging, loopback server
def _untagged(path: Path, n: int) -> list[str]:
    topics = ["public speaking", "budget planning", "sql joins", "colour theory"]
    lines = [json.dumps({"id": i, "instruction": f"Record {i}: help me with {topics[i % 4]}.", "output": "Sure."})
             for i in range(n)]
    lines.insert(3, "{broken")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return lines


REPLIES = {"public speaking": ["Public Speaking", "presentation skills"], "budget planning": ["Budgeting"],
           "sql joins": ["SQL Queries", "joins"], "colour theory": ["Colour Theory", "design"]}


def test_open_tag_file_against_the_loopback_server(tmp_path):
    from steps_engine.llm import ResponseCache
    from steps_engine.llm.openai_client import OpenAIChatClient
    from steps_engine.semantic.open_tagging import open_tag_file
    from steps_engine.semantic.tagging_llm import LLMOpenTagger

    src, out, vocab = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "vocab.txt"
    _untagged(src, 8)
    with FakeOpenAI(default="tags") as srv:
        srv.tag_replies = dict(REPLIES)
        srv.markers = {"Record 5:": "tags_broken"}  # one refusal
        client = OpenAIChatClient("m", api_key=None, base_url=srv.base_url, timeout=5)
        tagger = LLMOpenTagger(client, concurrency=3, cache=ResponseCache(tmp_path / "cache"))
        emb = CountingEmbedder(dim=256)  # random directions: no two tags are similar
        report = open_tag_file(src, out, vocab, tagger, emb, CanonConfig(min_count=1))
        assert srv.requests == 8
        rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
        assert len(rows) == 9 and rows[3]["_bad_row"]["line"] == 4
        assert rows[0]["skills"] == ["public_speaking", "presentation"] and rows[0]["skills_open"][0] == "public_speaking"
        assert rows[1]["skills"] == ["budgeting"]
        assert rows[6]["id"] == 5 and rows[6]["skills"] == [] and rows[6]["skills_open"] == []
        assert report.llm_failed == ["line 7: reply had no usable answer: 'Sorry, I cannot label this example.'"]
        assert report.tagged == 7 and report.records == 9 and len(report.bad_rows) == 1
        names = load_vocabulary(vocab)[0].skills
        assert set(names) == {"public_speaking", "presentation", "budgeting", "sql_query", "join", "color_theory", "design"}
        # Rerun: every good reply comes from the cache; the refusal was not cached, so it is asked again.
        srv.markers = {}
        report = open_tag_file(src, out, vocab, tagger, emb, CanonConfig(min_count=1))
        assert srv.requests == 9 and report.llm_failed == [] and report.tagged == 8


def _open_cli(src, out, srv, *extra):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OPENAI_API_KEY": "sk-test-open",
           "STEPS_CACHE_DIR": str(Path(out).parent / "emb-cache")}
    env.pop("OPENAI_BASE_URL", None)
    cmd = [sys.executable, "-m", "steps_engine", "tag", str(src), "--open", "--llm-model", "m",
           "--llm-base-url", srv.base_url, "--llm-concurrency", "2", "--out", str(out), "--quiet", *extra]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_steps_tag_open_killed_then_resumed_asks_only_for_what_is_missing(tmp_path):
    from steps_engine.semantic.embeddings import DEFAULT_MODEL_ID, EmbeddingCache
    from steps_engine.semantic.embeddings.cache import text_key

    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _untagged(src, 24)
    cache = tmp_path / "out.jsonl.llm-cache"
    # Seed the subprocess's embedding cache with distinct directions for the tag phrases it will
    # embed, so it never loads the model (a missing phrase would only make the test slower).
    phrases = ["public speaking", "presentation", "budgeting", "sql query", "join", "color theory", "design"]
    EmbeddingCache(tmp_path / "emb-cache").put(DEFAULT_MODEL_ID, [text_key(t) for t in phrases],
                                               np.eye(len(phrases), 384, dtype=np.float32))
    with FakeOpenAI(default="tags", delay=0.05) as srv:
        srv.tag_replies = dict(REPLIES)
        proc = _open_cli(src, out, srv)
        deadline = time.monotonic() + 60  # only guards against a hang
        while srv.requests < 8 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
        assert not out.exists()  # nothing half-written
        saved = len(list(cache.rglob("*.json")))
        assert 0 < saved < 24
        before = srv.requests
        proc = _open_cli(src, out, srv, "--json")
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr.decode()[-2000:]
        assert srv.requests - before == 24 - saved  # the resumed run asked only for the missing replies
    summary = json.loads(stdout.decode().splitlines()[-1])
    assert summary["records"] == 25 and summary["tagged"] == 24 and summary["bad_rows"] == 1
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [r.get("id") for r in rows if "id" in r] == list(range(24))
    vocab = (tmp_path / "vocab.txt").read_text(encoding="utf-8")
    assert "public_speaking\t6\t" in vocab  # records 0, 4, ..., 20
    assert "sk-test-open" not in out.read_text() + vocab + stderr.decode()


def test_steps_tag_open_refuses_unclear_requests(tmp_path, capsys):
    from steps_engine.cli import main

    src = tmp_path / "in.jsonl"
    _untagged(src, 2)
    out = str(tmp_path / "o.jsonl")
    assert main(["tag", str(src), "--open", "--out", out]) == 2
    assert "--open needs --llm-model" in capsys.readouterr().err
    (tmp_path / "v.txt").write_text("a\n")
    assert main(["tag", str(src), "--open", "--llm-model", "m", "--vocab", str(tmp_path / "v.txt"), "--out", out]) == 2
    assert "--open builds its own vocabulary" in capsys.readouterr().err
    assert main(["tag", str(src), "--out", out]) == 2
    assert "give --vocab FILE" in capsys.readouterr().err


def test_llm_reranker_keeps_only_candidates_and_falls_back_on_failure(tmp_path):
    from steps_engine.llm.openai_client import OpenAIChatClient
    from steps_engine.semantic.tagging_llm import LLMReranker

    with FakeOpenAI(default="tags") as srv:
        srv.tag_replies = {"Plan a budget": ["budgeting", "invented_skill", "Public Speaking"]}
        srv.markers = {"Fix my SQL": "tags_broken"}
        client = OpenAIChatClient("m", api_key=None, base_url=srv.base_url, timeout=5)
        rr = LLMReranker(client, k=2, concurrency=2)
        got = rr(["Plan a budget", "Fix my SQL"], [["public_speaking", "sql", "budgeting"], ["sql", "budgeting", "x"]])
    assert got == [["budgeting", "public_speaking"], ["sql", "budgeting"]]  # invented name ignored; failure keeps order
    assert [i for i, _ in rr.failures] == [1]


# ---------------------------------------------------------------- cross-validation
# Metric table: candidate -> slice -> recall. Seeing slice a would make "x" win (mean 0.467 vs 0.2).
TABLE_CV = {"x": {"a": 1.0, "b": 0.2, "c": 0.2}, "y": {"a": 0.0, "b": 0.3, "c": 0.3}}


def test_cross_validation_never_shows_the_held_out_slice_to_fit():
    seen = []

    def metric(cand, data):
        return TABLE_CV[cand][data]

    inner = grid_fit(["x", "y"], metric)

    def fit(train):
        seen.append(tuple(train))
        with pytest.raises(TypeError):
            train["extra"] = "a"  # read-only view
        return inner(train)

    res = cross_validate({"a": "a", "b": "b", "c": "c"}, fit, metric)
    assert seen == [("b", "c"), ("a", "c"), ("a", "b")]
    # fold a: train b, c -> y (0.3 > 0.2), scores 0.0 on a; folds b, c: train has a -> x (0.6 > 0.15), scores 0.2.
    assert [f.model for f in res.folds] == ["y", "x", "x"]
    assert res.values() == [0.0, 0.2, 0.2]
    assert res.mean == pytest.approx(0.4 / 3) and res.worst == 0.0 and res.worst_slice == "a"


def test_cross_validation_with_named_figures_and_disjointness():
    data = {"a": {"v1": 0.5, "v2": 0.7}, "b": {"v1": 0.6, "v2": 0.4}}
    res = cross_validate(data, lambda train: "m", lambda m, d: d)
    assert res.values("v1") == [0.5, 0.6] and res.worst == 0.4 and res.worst_slice == "b / v2"
    with pytest.raises(ValueError, match="slices 'a' and 'b' share record 3"):
        cross_validate({"a": [1, 2, 3], "b": [3, 4]}, lambda t: None, lambda m, d: 0.0, ids=lambda d: d)
    with pytest.raises(ValueError, match="at least 2 slices"):
        cross_validate({"a": 1}, lambda t: None, lambda m, d: 0.0)
    # ties go to the earlier candidate
    assert grid_fit(["p", "q"], lambda c, d: 1.0)({"a": 0}) == "p"

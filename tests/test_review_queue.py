"""The review queue: the engine module (filters, bulk decisions, counts) and the page through
AppTest on the bundled demo samples, with the quality check and the loopback judge."""

import json
import uuid

import pytest

pytest.importorskip("streamlit")

from test_app import demo_template, metric, no_errors, open_page, ws_dir  # noqa: E402,F401  (fixtures)
from steps_engine.curation.workspace import Workspace  # noqa: E402
from steps_engine.studio import review as rq  # noqa: E402


def demo_records() -> list[dict]:
    return [json.loads(line) for line in rq.DEMO_SAMPLES.read_text(encoding="utf-8").splitlines()]


def test_demo_samples_are_marked_and_each_planted_flaw_is_caught(tmp_path):
    from steps_engine.quality import CheckConfig, check
    from steps_engine.synthesis.runner import read_results

    recs = demo_records()
    assert len(recs) == 26 and all(r["demo"] and "demo data" in r["provenance_note"] for r in recs)
    out = tmp_path / "checked.jsonl"
    check(rq.DEMO_SAMPLES, out, config=CheckConfig(decontaminate=(str(rq.DEMO_BENCHMARK),)))
    got = {r["id"]: r["reasons"] for r in read_results(out)[0]}
    flawed = {r["id"] for r in recs if "deliberate flaw" in r["provenance_note"]}
    assert got["demo-sample-019"] == ["copies_seed"]
    assert got["demo-sample-020"] == ["near_duplicate"] and got["demo-sample-026"] == ["near_duplicate"]
    assert got["demo-sample-022"] == ["rule:refusal"] and got["demo-sample-024"] == ["rule:truncated"]
    assert got["demo-sample-023"][0] == "rule:meta_commentary" and got["demo-sample-025"] == ["contaminated"]
    assert got["demo-sample-021"] == []  # a skill left out: only the judge can tell
    assert all(got[i] == [] for i in got if i not in flawed)  # no clean sample flagged


def test_filters_sort_bulk_decisions_and_counts():
    records = [
        {"id": "a", "status": "ok", "skills": ["x", "y"], "k": 2, "reasons": [], "quality": {"judge": {"score": 8}}},
        {"id": "b", "status": "rejected", "skills": ["x", "y"], "k": 2, "reasons": ["near_duplicate"],
         "quality": {"near_duplicate": {"of": "a", "jaccard": 0.9}, "judge": None}},
        {"id": "c", "status": "ok", "skills": ["x", "y", "z"], "k": 3, "reasons": [], "quality": {"judge": {"score": 3}}},
    ]
    df = rq.queue_frame(records, {"c": "rejected"})
    assert df.set_index("id")["cluster"].to_dict() == {"a": "a", "b": "a", "c": "c"}
    assert df.set_index("id")["cluster_size"].to_dict() == {"a": 2, "b": 2, "c": 1}
    assert rq.filter_frame(df, sort="score")["id"].tolist() == ["a", "c", "b"]  # unscored last
    assert rq.filter_frame(df, sort="score_low")["id"].tolist() == ["c", "a", "b"]
    assert rq.filter_frame(df, reason="near_duplicate")["id"].tolist() == ["b"]
    assert rq.filter_frame(df, reason="none")["id"].tolist() == ["a", "c"]
    assert rq.filter_frame(df, ks=[3])["id"].tolist() == ["c"]
    assert rq.filter_frame(df, score_range=(5, 10))["id"].tolist() == ["a"]
    assert rq.filter_frame(df, decisions=["unreviewed"], cluster="a")["id"].tolist() == ["a", "b"]
    review = rq.set_decisions({"c": "rejected"}, ["a", "b"], "accepted")
    assert review == {"a": "accepted", "b": "accepted", "c": "rejected"}
    assert rq.set_decisions(review, ["a"], "unreviewed") == {"b": "accepted", "c": "rejected"}
    assert rq.counts(rq.queue_frame(records, review)) == {"samples": 3, "reviewed": 3, "accepted": 2, "rejected": 1,
                                                          "rejected_by_checks": 1}
    with pytest.raises(ValueError):
        rq.set_decisions({}, ["a"], "maybe")


def test_review_queue_on_demo_samples_check_bulk_reject_and_export(ws_dir, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    at = open_page("synthesize")
    no_errors(at)
    at.button(key="syn_demo").click().run()
    no_errors(at)
    assert metric(at, "Samples") == "26" and metric(at, "Rejected by checks") == "not checked"
    at.button(key="syn_check").click().run()  # the demo benchmark file is filled in by default
    no_errors(at)
    assert metric(at, "Rejected by checks") == "7"
    at.selectbox(key="rq_reason").set_value("near_duplicate").run()
    assert len([r for r in at.radio if r.key and r.key.startswith("review_")]) == 2
    at.button(key="rq_bulk_rejected").click().run()
    no_errors(at)
    assert metric(at, "Rejected in review") == "2"
    at.selectbox(key="rq_reason").set_value("none").run()  # the 19 samples no check rejected: one page
    at.radio(key="review_demo-sample-021").set_value("reject").run()  # the skill left out
    at.radio(key="review_demo-sample-001").set_value("accept").run()
    assert metric(at, "Reviewed") == "4" and metric(at, "Accepted") == "1"
    review = Workspace(ws_dir).read_json("results/review.json")
    assert review == {"demo-sample-020": "rejected", "demo-sample-026": "rejected",
                      "demo-sample-021": "rejected", "demo-sample-001": "accepted"}
    at.switch_page("pages/export.py").run()
    assert metric(at, "Rejected by checks") == "7" and metric(at, "Rejected in review") == "1"  # 021; 020/026 were already out
    at.button(key="exp_run").click().run()
    no_errors(at)
    rows = (ws_dir / "exports" / "chat" / "dataset.jsonl").read_text().splitlines()
    assert len(rows) == 26 - 7 - 1
    card = (ws_dir / "exports" / "chat" / "README.md").read_text()
    assert "| review:rejected | 3 |" in card  # review decisions apart ...
    assert "| near_duplicate | 2 |" in card and "| copies_seed | 1 |" in card  # ... from automatic reasons


def test_check_quality_with_the_loopback_judge_shows_scores_and_verdicts(ws_dir):
    from fake_openai_server import FakeOpenAI

    key = "sk-review-" + uuid.uuid4().hex
    with FakeOpenAI() as server:
        at = open_page("synthesize")
        at.button(key="syn_demo").click().run()
        at.text_input(key="syn_base_url").set_value(server.base_url)
        at.text_input(key="syn_key").set_value(key)
        at.text_input(key="syn_judge").set_value("fake-judge")
        at.checkbox(key="syn_all_skills").check()
        at.button(key="syn_check").click().run()
        no_errors(at)
        judged = server.requests
    assert judged == 26 - 7  # only samples that passed the automatic checks are judged
    assert metric(at, "Rejected by checks") != "7"  # the judge found skills missing
    at.selectbox(key="rq_sort").set_value("score_low").run()
    no_errors(at)
    assert at.dataframe, "per-skill verdicts not shown"
    for path in ws_dir.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path


def test_demo_samples_are_not_offered_to_another_taxonomy(tmp_path, monkeypatch):
    # the demo samples in an IFEval-like workspace would be exported as that dataset's samples
    from steps_engine.data.ingest import FieldMapping
    from steps_engine.studio import state as studio_state

    data = tmp_path / "mine.jsonl"
    data.write_text("".join(json.dumps({"skills": s, "text": f"row {i}"}) + "\n"
                            for i, s in enumerate([["a", "b"], ["b", "c"], ["a", "c"], ["c", "d"]])))
    ws = Workspace(tmp_path / "ws")
    studio_state.build_into_workspace(ws, data, FieldMapping("skills", text_field="text"), height=2)
    assert rq.demo_sample_skills_missing(ws)[:2] == ["ab_test_design", "budgeting"]
    with pytest.raises(ValueError, match=r"not in this taxonomy \(e\.g\. 'ab_test_design'\)"):
        rq.load_demo_samples(ws)
    assert not ws.path(*rq.RESULTS).exists()
    monkeypatch.setenv("STEPS_WORKSPACE", str(ws.root))
    at = open_page("synthesize")
    no_errors(at)
    assert not [b for b in at.button if b.key == "syn_demo"]


def test_the_demo_taxonomy_holds_every_demo_sample_skill(ws_dir):
    assert rq.demo_sample_skills_missing(Workspace(ws_dir)) == []

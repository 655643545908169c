"""Several generations per combination (`--n`), request parameters, the agent template and
its cached LLM pre-filter, against the loopback server."""

from __future__ import annotations

import json
import uuid
from collections import Counter

import pytest

from _synthesis_fixtures import fast
from test_synthesis import make_combos, make_taxonomy
from steps_engine.synthesis.prompts import AGENT_TEMPLATE, DEFAULT_TEMPLATE, load_template, template_hash
from steps_engine.synthesis.runner import combination_id, generation_id, prepare_jobs, read_results, synthesize


@pytest.fixture()
def setup(tmp_path):
    tax = make_taxonomy(tmp_path)
    combos = tmp_path / "combos.jsonl"
    make_combos(combos, n=4)
    return tax, combos


def test_n3_then_n5_makes_exactly_five_per_combination(setup, server, tmp_path):
    tax, combos = setup
    out = tmp_path / "r.jsonl"
    params = {"temperature": 0.9, "seed": 100}
    rep = synthesize(tax, combos, model="m", out=out, base_url=server.base_url, n=3, params=params, **fast())
    assert rep.ok == 12 and server.requests == 12
    rep = synthesize(tax, combos, model="m", out=out, base_url=server.base_url, n=5, params=params, **fast())
    assert rep.skipped == 12 and rep.ok == 8 and server.requests == 20  # only generations 3 and 4 were asked
    recs = read_results(out)[0]
    per_combo = Counter(tuple(r["skills"]) for r in recs)
    assert sorted(per_combo.values()) == [5, 5, 5, 5] and len({r["id"] for r in recs}) == 20
    for r in recs:
        base = combination_id(r["skills"], r["start"], template_hash(DEFAULT_TEMPLATE), "m")
        assert r["id"] == generation_id(base, r["generation"]) and 0 <= r["generation"] < 5
    assert generation_id("abc", 0) == "abc" and generation_id("abc", 3) == "abc-g3"
    # temperature passes through; generation g sends seed 100 + g, so the five answers differ
    assert {b["temperature"] for b in server.bodies} == {0.9}
    assert sorted(Counter(b["seed"] for b in server.bodies).items()) == [(100 + g, 4) for g in range(5)]
    assert all(r["status"] == "ok" for r in recs)


def test_generations_without_a_request_seed_do_not_share_a_cache_entry(setup, server, tmp_path):
    tax, combos = setup
    first = json.loads(combos.read_text().splitlines()[0])
    jobs, _ = prepare_jobs(tax, [first], model="m", n=2)
    assert [j.generation for j in jobs] == [0, 1] and jobs[0].messages == jobs[1].messages
    out = tmp_path / "r.jsonl"
    synthesize(tax, combos, model="m", out=out, base_url=server.base_url, n=2, limit=1, **fast())
    assert server.requests == 2  # the second generation was not answered from the first one's cache


def test_extra_request_parameters_pass_through_the_cli(setup, server, tmp_path, monkeypatch, capsys):
    from steps_engine.cli import main

    tax, combos = setup
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-" + uuid.uuid4().hex)
    code = main(["synthesize", str(tax), "--combos", str(combos), "--model", "m", "--base-url", server.base_url,
                 "--out", str(tmp_path / "r.jsonl"), "--limit", "1", "--quiet", "--request-seed", "7",
                 "--param", "max_completion_tokens=800", "--param", 'response_format={"type": "json_object"}',
                 "--param", "user=curator"])
    assert code == 0, capsys.readouterr().err
    body = server.bodies[0]
    assert body["max_completion_tokens"] == 800 and body["response_format"] == {"type": "json_object"}
    assert body["user"] == "curator" and body["seed"] == 7
    code = main(["synthesize", str(tax), "--combos", str(combos), "--model", "m", "--out", str(tmp_path / "r2.jsonl"),
                 "--param", "novalue"])
    assert code == 2 and "KEY=VALUE" in capsys.readouterr().err


def test_agent_template_asks_for_a_goal_real_data_plan_act_and_check(setup):
    tax, combos = setup
    assert load_template("agent") == AGENT_TEMPLATE and load_template(None) == DEFAULT_TEMPLATE
    jobs, _ = prepare_jobs(tax, [{"skills": ["alpha", "beta", "gamma"]}], model="m", template=AGENT_TEMPLATE)
    text = jobs[0].messages[0]["content"]
    assert "no single\nskill can reach alone" in text and "table" in text and "JSON object" in text and "log" in text
    assert "plan" in text and "checking the result" in text
    assert "- alpha\n- beta\n- gamma" in text and all(s.text in text for s in jobs[0].seeds)


def test_agent_prefilter_is_cached_recorded_in_provenance_and_rejects(setup, server, tmp_path):
    tax, combos = setup
    server.markers["Skills: alpha, delta"] = "agent_no"  # the filter prompt lists the sorted skills
    out = tmp_path / "r.jsonl"
    rep = synthesize(tax, combos, model="m", out=out, base_url=server.base_url, template=AGENT_TEMPLATE,
                     agent_filter_model="m", concurrency=1, **fast())
    recs = {tuple(r["skills"]): r for r in read_results(out)[0]}
    no = recs[("alpha", "delta")]
    assert no["status"] == "rejected" and no["reason"].startswith("agent_filter no") and no["messages"] is None
    yes = [r for k, r in recs.items() if k != ("alpha", "delta")]
    assert all(r["status"] == "ok" and r["agent_filter"]["verdict"] == "yes" for r in yes)
    assert rep.ok == 3 and rep.rejected == 1
    assert server.requests == 4 + 3  # four filter questions, three syntheses
    out.unlink()
    rep = synthesize(tax, combos, model="m", out=out, base_url=server.base_url, template=AGENT_TEMPLATE,
                     agent_filter_model="m", **fast())
    assert server.requests == 7 and rep.cache_hits == 3  # everything came from the cache
    assert all(r["agent_filter"]["cached"] for r in read_results(out)[0])

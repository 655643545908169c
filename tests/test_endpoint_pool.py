"""Synthesis over several endpoints: the pool's choice, limits and rests on scripted clients (a
fake clock, no sleeping), then the runner and the CLI against three loopback servers, one of them
failing, hanging or dropping connections: every combination exactly once."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import uuid

import pytest

from fake_openai_server import FakeOpenAI
from steps_engine.cli import main
from steps_engine.llm.base import ChatClient, Completion, LLMError
from steps_engine.llm.pool import EndpointPool, read_endpoints, redact_url
from steps_engine.synthesis.runner import read_results, synthesize
from _synthesis_fixtures import fast
from test_synthesis import _cli, _count_lines, make_combos, make_taxonomy


class Scripted(ChatClient):
    """Answers "ok", fails ("fail": retryable 500, "bad": 400) or waits for `gate`."""

    def __init__(self, name: str, behaviour: str = "ok", gate: asyncio.Event | None = None):
        self.model, self.name, self.behaviour, self.gate = "m", name, behaviour, gate
        self.calls = self.in_flight = self.max_in_flight = 0

    async def complete(self, messages, params):
        self.calls += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            await asyncio.sleep(0)
            if self.behaviour == "fail":
                raise LLMError("HTTP 500: boom", retryable=True)
            if self.behaviour == "bad":
                raise LLMError("HTTP 400: bad request", retryable=False)
            return Completion(text=self.name)
        finally:
            self.in_flight -= 1


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _run(coro):
    return asyncio.run(coro)


MSG = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize("limits,expected", [
    # fewest in flight, ties to the one that served fewest, then the first listed:
    # calls go A B C A B C A -> 3, 2, 2 in flight
    (None, [3, 2, 2]),
    # A at most 1: A B C, then B C B C -> 1, 3, 3
    ([1, None, None], [1, 3, 3]),
])
def test_requests_go_to_the_endpoint_with_fewest_in_flight_within_its_limit(limits, expected):
    async def scenario():
        gate = asyncio.Event()
        clients = [Scripted(n, gate=gate) for n in "ABC"]
        pool = EndpointPool(clients, list("ABC"), max_in_flight=limits)
        tasks = [asyncio.create_task(pool.complete(MSG, {})) for _ in range(7)]
        for _ in range(5):
            await asyncio.sleep(0)
        in_flight = [c.in_flight for c in clients]
        gate.set()
        texts = sorted(c.text for c in await asyncio.gather(*tasks))
        return in_flight, texts, [c.max_in_flight for c in clients], pool.stats()

    in_flight, texts, peaks, stats = _run(scenario())
    assert in_flight == expected == peaks
    assert texts == sorted("A" * expected[0] + "B" * expected[1] + "C" * expected[2])
    assert [s["served"] for s in stats] == expected


def test_an_endpoint_failing_three_times_in_a_row_is_rested_then_probed():
    async def scenario():
        clock = Clock()
        a, b, c = Scripted("A", "fail"), Scripted("B"), Scripted("C")
        pool = EndpointPool([a, b, c], list("ABC"), max_failures=3, rest_seconds=10, max_rest=300, clock=clock)
        answers = [(await pool.complete(MSG, {})).text for _ in range(10)]
        # calls 1-3 try A first (it has served fewest), fail over to B, C, B; A is then rested
        assert answers[:3] == ["B", "C", "B"] and a.calls == 3
        assert pool.stats()[0]["resting"] and pool.stats()[0]["rests"] == 1
        assert "A" not in answers and a.calls == 3  # calls 4-10 never reach A
        clock.now = 10.0  # rest over: one probe, which fails, rests it for 20 s
        await pool.complete(MSG, {})
        assert a.calls == 4 and pool.stats()[0]["rests"] == 2
        clock.now = 29.9
        await pool.complete(MSG, {})
        assert a.calls == 4
        a.behaviour = "ok"  # A recovers; the probe at 30 s succeeds
        clock.now = 30.0
        assert (await pool.complete(MSG, {})).text == "A"
        assert not pool.stats()[0]["resting"] and pool.stats()[0]["served"] == 1
        return pool.stats()

    stats = _run(scenario())
    assert [s["failures"] for s in stats] == [4, 0, 0]
    assert sum(s["served"] for s in stats) == 13


def test_a_non_retryable_error_is_raised_at_once_and_not_held_against_the_endpoint():
    a, b = Scripted("A", "bad"), Scripted("B")
    pool = EndpointPool([a, b], ["A", "B"])
    with pytest.raises(LLMError, match="HTTP 400") as exc:
        _run(pool.complete(MSG, {}))
    assert not exc.value.retryable and b.calls == 0 and pool.stats()[0]["failures"] == 0


def test_when_every_endpoint_fails_the_last_error_goes_to_the_caller():
    clients = [Scripted(n, "fail") for n in "ABC"]
    pool = EndpointPool(clients, ["http://u:secret@a:1/v1", "http://b:2/v1", "http://c:3/v1"])
    with pytest.raises(LLMError) as exc:
        _run(pool.complete(MSG, {}))
    assert exc.value.retryable and [c.calls for c in clients] == [1, 1, 1]
    assert exc.value.reason == "http://c:3/v1: HTTP 500: boom"
    assert "secret" not in json.dumps(pool.stats()) and pool.stats()[0]["endpoint"] == "http://a:1/v1"


def test_pool_arguments_are_checked():
    with pytest.raises(ValueError, match="same model"):
        other = Scripted("B")
        other.model = "other"
        EndpointPool([Scripted("A"), other])
    with pytest.raises(ValueError, match="max_in_flight"):
        EndpointPool([Scripted("A")], max_in_flight=0)
    assert redact_url("https://user:pw@host:8000/v1") == "https://host:8000/v1"


def test_endpoints_file_lines_and_errors(tmp_path):
    f = tmp_path / "endpoints.txt"
    f.write_text("# vLLM replicas\nhttp://a:8000/v1 4\n\n  http://b:8000/v1   # no limit\n")
    assert read_endpoints(f) == [("http://a:8000/v1", 4), ("http://b:8000/v1", None)]
    f.write_text("http://a:8000/v1\nhttp://b:8000/v1 zero\n")
    with pytest.raises(ValueError, match=r"line 2: MAX_IN_FLIGHT must be an integer >= 1, got 'zero'"):
        read_endpoints(f)
    f.write_text("a:8000\n")
    with pytest.raises(ValueError, match="line 1: expected 'URL"):
        read_endpoints(f)


# ---------------------------------------------------------------------------------------
# Against three loopback servers


@pytest.fixture()
def setup(tmp_path):
    tax = make_taxonomy(tmp_path)
    combos = tmp_path / "combos.jsonl"
    make_combos(combos)
    return tax, combos


def _exactly_once(out):
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    ids = [r["id"] for r in recs]
    assert len(ids) == len(set(ids)) == 20 and all(r["status"] == "ok" for r in recs)


def test_a_failing_endpoint_is_rested_and_every_combination_is_done_once(setup, tmp_path):
    tax, combos = setup
    out = tmp_path / "r.jsonl"
    with FakeOpenAI() as a, FakeOpenAI(default="500") as bad, FakeOpenAI() as c:
        rep = synthesize(tax, combos, model="m", out=out, base_url=[a.base_url, bad.base_url, c.base_url],
                         concurrency=3, **fast())
        served = (a.requests, bad.requests, c.requests)
    _exactly_once(out)
    assert rep.ok == 20 and rep.failed == 0
    stats = {e["endpoint"]: e for e in rep.endpoints}
    assert stats[bad.base_url]["served"] == 0 and stats[bad.base_url]["rests"] >= 1
    assert stats[bad.base_url]["failures"] == served[1] >= 3  # every request it got failed
    assert stats[a.base_url]["served"] + stats[c.base_url]["served"] == 20 == served[0] + served[2]


def test_a_hanging_endpoint_from_an_endpoints_file_is_rested(setup, tmp_path, capsys, monkeypatch):
    tax, combos = setup
    out = tmp_path / "r.jsonl"
    # the good servers need 0.6 s per answer, 2 at a time each: 20 answers take at least 3 s, while
    # the hung endpoint's requests time out at 1 s and 2 s (2 in flight): its 3rd failure rests it
    with FakeOpenAI(delay=0.6) as a, FakeOpenAI(default="hang", hang_seconds=30) as hung, FakeOpenAI(delay=0.6) as c:
        f = tmp_path / "endpoints.txt"
        f.write_text(f"{a.base_url} 2\n{hung.base_url} 2\n{c.base_url} 2\n")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-" + uuid.uuid4().hex)
        rc = main(["synthesize", str(tax), "--combos", str(combos), "--model", "m", "--endpoints", str(f),
                   "--concurrency", "4", "--timeout", "1", "--out", str(out), "--quiet", "--no-cache"])
    assert rc == 0
    _exactly_once(out)
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if x.startswith(f"{hung.base_url}:"))
    assert line.startswith(f"{hung.base_url}: 0 answered") and "rested 0 time(s)" not in line


def test_flags_for_several_endpoints_are_checked(setup, tmp_path, capsys):
    tax, combos = setup
    base = ["synthesize", str(tax), "--combos", str(combos), "--model", "m", "--out", str(tmp_path / "r.jsonl")]
    assert main(base + ["--base-url", "http://a/v1", "--base-url", "http://a/v1"]) == 2
    assert "repeats an endpoint" in capsys.readouterr().err
    (tmp_path / "e.txt").write_text("http://a/v1\n")
    assert main(base + ["--base-url", "http://a/v1", "--endpoints", str(tmp_path / "e.txt")]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(base + ["--base-url", "http://a/v1", "--endpoint-concurrency", "0"]) == 2


def test_sigkill_with_three_endpoints_one_dropping_then_restart_is_exactly_once(setup, tmp_path):
    tax, combos = setup
    key = "sk-test-" + uuid.uuid4().hex
    out = tmp_path / "r.jsonl"
    with FakeOpenAI(delay=0.05) as a, FakeOpenAI(default="drop") as drop, FakeOpenAI(delay=0.05) as c:
        urls = ["--base-url", drop.base_url, "--base-url", c.base_url]
        proc = _cli(tax, combos, out, a, key, *urls)
        deadline = time.monotonic() + 60  # only guards against a hang
        while _count_lines(out) < 6 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL and _count_lines(out) < 20
        proc = _cli(tax, combos, out, a, key, *urls, "--json")
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 0, stderr.decode()[-2000:]
    _exactly_once(out)
    summary = json.loads(stdout.decode().splitlines()[-1])
    assert summary["skipped"] + summary["ok"] == 20 and summary["skipped"] >= 6
    assert {e["endpoint"]: e["served"] for e in summary["endpoints"]}[drop.base_url] == 0
    assert key not in out.read_text() and key.encode() not in stderr
    assert read_results(out)[1] == []

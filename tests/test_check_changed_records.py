"""`steps check` ties each verdict to the results record it was given (`quality.input`): a record
re-generated under the same id (`synthesize --retry-failed`) or edited is checked afresh, an
unchanged one is not sent to the judge again (the judge's response cache is off here, so only
the matching can spare the request), and check outputs from before the field still load."""

from __future__ import annotations

import json

from _synthesis_fixtures import fast
from steps_engine.quality import CheckConfig, check
from steps_engine.quality.check import input_key
from steps_engine.synthesis.runner import read_results, synthesize
from test_synthesis import make_combos, make_taxonomy

JUDGE = CheckConfig(judge_model="j", rules=None, dedup=None)  # the fake answers are short and alike


def _judge(server, **kw):
    return dict(base_url=server.base_url, use_cache=False, concurrency=1, **fast(**kw))


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_record_regenerated_by_retry_failed_is_checked_afresh_and_the_others_are_not_rejudged(tmp_path, server):
    tax = make_taxonomy(tmp_path)
    combos = tmp_path / "combos.jsonl"
    make_combos(combos)
    results, out = tmp_path / "r.jsonl", tmp_path / "checked.jsonl"
    server.script += ["500"] * 3  # the first combination fails (1 attempt + 2 retries)
    rep = synthesize(tax, combos, model="m", out=results, base_url=server.base_url, concurrency=1, limit=3,
                     max_retries=2, **fast())
    assert (rep.ok, rep.failed) == (2, 1)
    failed_id = next(r["id"] for r in read_results(results)[0] if r["status"] == "failed")

    before = server.requests
    rep = check(results, out, config=JUDGE, **_judge(server))
    assert server.requests - before == 2 and rep.judged == 2 and rep.passed_through == 1
    first = {r["id"]: r for r in _lines(out)}
    assert first[failed_id]["reasons"] == ["synthesis_failed"]

    rep = synthesize(tax, combos, model="m", out=results, base_url=server.base_url, limit=3, retry_failed=True,
                     **fast())
    assert rep.todo == 1 and rep.ok == 1
    regenerated = {r["id"]: r for r in read_results(results)[0]}[failed_id]

    before = server.requests
    rep = check(results, out, config=JUDGE, **_judge(server))
    assert server.requests - before == 1  # only the re-generated record went to the judge
    assert (rep.skipped, rep.changed, rep.judged) == (2, 1, 1)
    got = _lines(out)
    assert len(got) == 3 and len({r["id"] for r in got}) == 3  # the old verdict is gone, not shadowed
    now = {r["id"]: r for r in got}
    assert now[failed_id]["status"] == "ok" and "score" in now[failed_id]["quality"]["judge"]
    assert now[failed_id]["messages"] == regenerated["messages"]
    assert now[failed_id]["quality"]["input"] == input_key(regenerated)
    for rid in set(now) - {failed_id}:
        assert now[rid] == first[rid]  # unchanged records keep their verdict, byte for byte
    assert rep.ok + rep.rejected + rep.passed_through == 3  # the counts describe the file as it is

    before = server.requests
    rep = check(results, out, config=JUDGE, **_judge(server))
    assert server.requests == before and (rep.skipped, rep.changed) == (3, 0)


def _results(path, contents):
    recs = [{"id": f"s{i}", "status": "ok", "skills": ["alpha", "beta"],
             "messages": [{"role": "user", "content": f"Question {i}: alpha and beta, {c}"},
                          {"role": "assistant", "content": f"Answer {i}: here is the alpha beta way, {c}."}]}
            for i, c in enumerate(contents)]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return recs


def test_an_edited_record_is_checked_again_and_an_equal_rewrite_is_not(tmp_path, server):
    results, out = tmp_path / "r.jsonl", tmp_path / "c.jsonl"
    recs = _results(results, ["one two three", "four five six", "seven eight nine"])
    check(results, out, config=JUDGE, **_judge(server))
    assert server.requests == 3
    # the same records with their keys in another order and one assistant turn edited
    recs[2]["messages"][1]["content"] = "Answer 2: another alpha beta answer entirely."
    results.write_text("".join(json.dumps(dict(reversed(list(r.items())))) + "\n" for r in recs))
    rep = check(results, out, config=JUDGE, **_judge(server))
    assert server.requests == 4 and (rep.skipped, rep.changed, rep.judged) == (2, 1, 1)
    assert {r["id"]: r["messages"] for r in _lines(out)}["s2"] == recs[2]["messages"]
    assert "changed since checked (again)" in rep.table()


def test_check_outputs_without_the_input_hash_are_matched_by_content(tmp_path, server):
    results, out = tmp_path / "r.jsonl", tmp_path / "c.jsonl"
    recs = _results(results, ["one two three", "four five six"])
    recs.append({"id": "s2", "status": "failed", "reason": "HTTP 500", "skills": ["alpha"], "messages": None})
    results.write_text("".join(json.dumps(r) + "\n" for r in recs))
    check(results, out, config=JUDGE, **_judge(server))
    assert server.requests == 2
    legacy = _lines(out)
    for r in legacy:  # as written before quality.input existed
        r["quality"].pop("input", None)
    out.write_text("".join(json.dumps(r) + "\n" for r in legacy))
    # unchanged: nothing re-judged, nothing rewritten
    rep = check(results, out, config=JUDGE, **_judge(server))
    assert server.requests == 2 and (rep.skipped, rep.changed) == (3, 0)
    assert _lines(out) == legacy
    # the failed record re-generated (appended under its id, as --retry-failed does) and s0 edited
    regen = {"id": "s2", "status": "ok", "skills": ["alpha"],
             "messages": [{"role": "user", "content": "Question 2: alpha please, now"},
                          {"role": "assistant", "content": "Answer 2: the alpha way, in full."}]}
    recs[0]["messages"][1]["content"] += " Edited."
    with results.open("a") as fh:
        fh.write(json.dumps(recs[0]) + "\n" + json.dumps(regen) + "\n")
    rep = check(results, out, config=JUDGE, **_judge(server))
    assert server.requests == 4 and (rep.skipped, rep.changed, rep.judged) == (1, 2, 2)
    now = {r["id"]: r for r in _lines(out)}
    assert len(now) == 3 and now["s2"]["status"] == "ok" and now["s2"]["quality"]["input"] == input_key(regen)
    assert now["s1"] == next(r for r in legacy if r["id"] == "s1")


def test_the_duplicate_of_a_changed_record_is_decided_again(tmp_path, server):
    # s1 is a near-duplicate of s0; s0 is then rewritten into something else: s1 is no longer a
    # duplicate of anything and must not keep its old "near_duplicate of s0" verdict
    results, out = tmp_path / "r.jsonl", tmp_path / "c.jsonl"
    text = "the quick brown fox jumps over the lazy dog near the river bank at dawn today"
    recs = _results(results, [text, text + " again", "something else entirely about alpha and beta here"])
    config = CheckConfig(rules=None)  # near-duplicates on, no judge
    check(results, out, config=config)
    first = {r["id"]: r for r in _lines(out)}
    assert first["s1"]["reasons"] == ["near_duplicate"] and first["s1"]["quality"]["near_duplicate"]["of"] == "s0"
    recs[0]["messages"] = [{"role": "user", "content": "Question 0: a new question on gamma and delta only"},
                           {"role": "assistant", "content": "Answer 0: gamma first, then delta, nothing else alike."}]
    results.write_text("".join(json.dumps(r) + "\n" for r in recs))
    rep = check(results, out, config=config)
    now = {r["id"]: r for r in _lines(out)}
    assert now["s1"]["status"] == "ok" and now["s1"]["quality"]["near_duplicate"] is None
    assert now["s2"] == first["s2"]  # not a duplicate before or after: kept as it was
    assert len(now) == 3 and rep.changed == 1

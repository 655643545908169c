"""The quality stage: dedup, seed copies, decontamination (real IFEval prompts), rules, the
judge's parsing, and the resumable `steps check` against the loopback server."""

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

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fake_openai_server import FakeOpenAI
from steps_engine.quality import BenchmarkIndex, CheckConfig, DedupConfig, RuleConfig, check, check_rules, near_duplicates
from steps_engine.quality.dedup import jaccard, lsh_candidates, minhash_signatures
from steps_engine.quality.judge import VerdictError, decide, parse_verdict
from steps_engine.quality.seedcopy import MIN_SHARED, overlap_coefficient, seed_match, seed_similarity
from steps_engine.quality.text import ngram_hashes, shingle_set, token_ids, words
from steps_engine.synthesis.runner import read_results, synthesize

REPO = Path(__file__).resolve().parents[1]
IFEVAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "ifeval" / "input_data.jsonl"
needs_ifeval = pytest.mark.skipif(not IFEVAL.is_file(), reason="../shared/data/ifeval not present")

WORDS = ("river stone lamp cloud paper window garden pencil ocean violin meadow rocket silver basket candle "
         "forest marble ticket harbor lemon copper saddle tunnel falcon orchard velvet anchor pepper").split()


def prose(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) + str(rng.randint(0, 99)) for _ in range(n))


def conv(user: str, assistant: str) -> list[dict]:
    return [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


def record(i, user, assistant, skills=("alpha", "beta"), seeds=None) -> dict:
    return {"id": f"s{i:04d}", "status": "ok", "skills": list(skills), "k": len(skills),
            "messages": conv(user, assistant), "seeds": seeds or []}


# ---------------------------------------------------------------------------------------
# Text hashing and MinHash


def test_words_normalise_case_punctuation_and_underscores():
    assert words("Hello, WORLD!  python_programming — ok?") == ["hello", "world", "python", "programming", "ok"]


def test_ngram_hashes_count_and_equality():
    ids = token_ids("a b c a b c".split())
    h = ngram_hashes(ids, 3)
    # 6 words -> 4 windows: abc, bca, cab, abc; the first and last are the same trigram
    assert len(h) == 4 and h[0] == h[3] and len(set(h.tolist())) == 3
    assert len(ngram_hashes(ids[:2], 3)) == 1  # shorter than n: the whole sequence is one window


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 60), min_size=1, max_size=80), st.lists(st.integers(0, 60), min_size=1, max_size=80))
def test_minhash_collision_rate_estimates_jaccard(a, b):
    sa, sb = np.unique(token_ids([f"t{x}" for x in a])), np.unique(token_ids([f"t{x}" for x in b]))
    sig = minhash_signatures([sa, sb], num_perm=256)
    estimate = float(np.mean(sig[0] == sig[1]))
    exact = len(set(a) & set(b)) / len(set(a) | set(b))
    # 256 permutations: standard error <= 0.5 / 16 = 0.031; 0.16 is over 5 standard errors
    assert abs(estimate - exact) <= 0.16
    assert jaccard(sa, sb) == pytest.approx(exact)


def test_lsh_candidate_rate_near_the_threshold():
    """Pairs at J in [0.5, 0.6): the default banding makes nearly all of them candidates."""
    rng = random.Random(21)
    base = [prose(rng, 120) for _ in range(60)]
    texts, pairs = list(base), []
    for i, t in enumerate(base):  # replace 13 of 120 words: about 0.89**3 = 70 % of 3-grams survive, J ~ 0.54
        toks = t.split()
        for p in rng.sample(range(len(toks)), 13):
            toks[p] = "z" + str(rng.randint(0, 10**6))
        texts.append(" ".join(toks))
        pairs.append((i, len(texts) - 1))
    sets = [shingle_set(t, 3) for t in texts]
    near = [(a, b) for a, b in pairs if 0.5 <= jaccard(sets[a], sets[b]) < 0.6]
    assert len(near) >= 20
    cands = lsh_candidates(minhash_signatures(sets, 126), 42)
    # each is a candidate with probability >= 1 - (1 - 0.5**3)**42 = 0.9963
    assert sum(a in cands[b] for a, b in near) >= len(near) - 1


def test_lsh_buckets_contain_every_identical_signature_pair():
    sig = np.array([[1, 2, 3, 4], [9, 9, 3, 4], [1, 2, 7, 7], [5, 6, 7, 8]], dtype=np.uint64)
    # 2 bands of 2 rows: doc1 shares band 1 (3, 4) with doc0; doc2 shares band 0 (1, 2) with doc0
    assert lsh_candidates(sig, 2) == [set(), {0}, {0}, set()]


def test_one_word_apart_pairs_are_caught_and_the_first_is_kept():
    rng = random.Random(3)
    texts = [prose(rng, 60) for _ in range(30)]
    base = texts[4].split()
    base[30] = "CHANGED"
    texts.append(" ".join(base))  # index 30: one word from text 4
    texts.append(texts[30])  # index 31: an exact copy of a removed one points at the kept 4
    out = near_duplicates(texts)
    # one changed word touches 3 of 58 trigrams: J = 55 / 61 = 0.9016
    assert out[30] == (4, pytest.approx(55 / 61), "minhash")
    assert out[31] == (4, pytest.approx(55 / 61), "minhash")
    assert all(o is None for i, o in enumerate(out) if i not in (30, 31))


def test_near_duplicates_match_brute_force_greedy():
    rng = random.Random(11)
    for trial in range(5):
        texts = [prose(rng, rng.randint(5, 40)) for _ in range(40)]
        for _ in range(15):  # plant edited copies
            src = rng.choice(texts).split()
            for _ in range(rng.randint(0, 4)):
                src[rng.randrange(len(src))] = "x" + str(rng.randint(0, 9))
            texts.append(" ".join(src))
        rng.shuffle(texts)
        cfg = DedupConfig(threshold=0.7)
        sets = [shingle_set(t, 3) for t in texts]
        expected, kept = [], []
        for i, s in enumerate(sets):  # brute force: first earlier kept with J >= t
            hit = next((j for j in kept if jaccard(s, sets[j]) >= 0.7), None)
            expected.append(hit)
            if hit is None:
                kept.append(i)
        # LSH (42 bands of 3 rows) misses a pair with J >= 0.7 with probability (1 - 0.7**3)**42 = 2e-8
        assert [None if o is None else o[0] for o in near_duplicates(texts, cfg)] == expected


def test_embedding_cosine_catches_paraphrases_minhash_misses():
    from _embedding_fakes import CountingEmbedder

    a = "Could you plan a cheap weekly menu for two people who do not eat meat?"
    b = "Please design an inexpensive vegetarian meal plan covering seven days for a couple."
    c = "What is the boiling point of water at the top of a high mountain?"
    v = np.array([1.0, 0.0, 0.0, 0.0])
    emb = CountingEmbedder(dim=4, table={a: v, b: np.array([0.98, 0.199, 0.0, 0.0]), c: np.array([0.0, 1.0, 0.0, 0.0])})
    vectors = emb.encode([a, b, c])
    # cos(a, b) = 0.98 / |(0.98, 0.199)| = 0.98 / 1.0000 = 0.98; cos(a, c) = cos(b, c) <= 0.2
    assert near_duplicates([a, b, c]) == [None, None, None]  # they share no word trigram
    out = near_duplicates([a, b, c], vectors=vectors, embed_threshold=0.95)
    assert out[0] is None and out[2] is None
    assert out[1][0] == 0 and out[1][2] == "embedding" and out[1][1] == pytest.approx(0.98, abs=1e-3)
    # the same through the check: the embedder sees each record's whole conversation text
    from steps_engine.quality import automatic_checks
    from steps_engine.quality.text import conversation_text

    recs = [record(i, t, "Sure: " + prose(random.Random(i), 30)) for i, t in enumerate([a, b, c])]
    table = {conversation_text(r["messages"]): emb.table[t] for r, t in zip(recs, [a, b, c])}
    found = automatic_checks(recs, CheckConfig(embed_threshold=0.95, rules=None),
                             embedder=CountingEmbedder(dim=4, table=table))
    assert [code for code, _ in found[1][0]] == ["near_duplicate"]
    assert found[1][1]["near_duplicate"]["method"] == "embedding" and found[1][1]["near_duplicate"]["of"] == "s0000"


# ---------------------------------------------------------------------------------------
# Seed copies


def test_seed_copy_is_caught_and_a_new_task_is_not():
    seed = "How do I add a column showing each product's share of total sales in pandas?"
    copied = "Hi! How do I add a column showing each product's share of total sales in pandas? Thanks."
    fresh = "My bakery sells bread and cakes; which item brought in the largest part of revenue last month?"
    a, b = shingle_set(copied, 3), shingle_set(seed, 3)
    # the seed's 14 words give 12 trigrams, all inside the copy: coefficient 12 / 12
    assert overlap_coefficient(a, b) == 1.0
    assert seed_similarity(copied, ["unrelated words here today", seed]) == (1, 1.0)
    assert seed_similarity(fresh, [seed])[1] < 0.2



SEED_A = ("How do I add a column showing each product's share of total sales in pandas? "
          "Can you explain that in more detail please, with the groupby step spelled out?")
SEED_A_RESPONSE = "Use df['share'] = df['sales'] / df['sales'].sum() and format it as a percentage."
SEED_B = "Draft a polite email asking my landlord to fix the broken heating in the flat before winter."
SEED_B_RESPONSE = ("Dear Mr Patel, I am writing about the heating in flat 4, which has not worked since "
                   "Monday. Could you arrange a repair this week? The nights are getting cold. Kind regards, Ana")


def seed_taxonomy(tmp: Path) -> Path:
    """A taxonomy folder whose input is two shards holding the seeds a1 (SEED_A) and b1 (SEED_B)."""
    import hashlib

    data, tax = tmp / "shards", tmp / "tax"
    data.mkdir()
    tax.mkdir()
    rows = [[{"id": "a1", "skills": ["alpha"], "instruction": SEED_A, "output": SEED_A_RESPONSE}],
            [{"id": "b1", "skills": ["beta"], "instruction": SEED_B, "output": SEED_B_RESPONSE}]]
    shards = []
    for i, part in enumerate(rows):
        f = data / f"part-{i}.jsonl"
        f.write_text("".join(json.dumps(r) + "\n" for r in part))
        shards.append({"path": str(f), "sha256": hashlib.sha256(f.read_bytes()).hexdigest()})
    (tax / "input.json").write_text(json.dumps({"path": str(data), "format": None, "skills_field": "skills",
                                                "text_field": None, "shards": shards}))
    return tax


def multi_turn(rid: str, turns: list[str]) -> dict:
    msgs = [{"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(turns)]
    return {"id": rid, "status": "ok", "skills": ["alpha", "beta"], "k": 2, "messages": msgs,
            "seeds": [{"skill": "alpha", "source_id": "a1"}, {"skill": "beta", "source_id": "b1"}]}


def test_seed_copy_in_a_later_user_turn_or_an_assistant_turn_is_caught_and_named(tmp_path):
    rng = random.Random(5)
    later = multi_turn("later", ["I keep a small sales table for my shop. " + prose(rng, 20),
                                 "Happy to help. " + prose(rng, 40),
                                 "Thanks. One more thing: " + SEED_A,  # the seed pasted into user turn 2
                                 "Sure. " + prose(rng, 40)])
    answer = multi_turn("answer", ["My heating died; " + prose(rng, 25),
                                   "Here is a draft. " + SEED_B_RESPONSE,  # the seed's response, copied
                                   "Shorter please. " + prose(rng, 10),
                                   "Of course. " + prose(rng, 30)])
    # Same topics, new wording; user turn 2 is a short phrase that is inside SEED_A: its 8 words
    # give 6 shingles, all in SEED_A (coefficient 6 / 6 = 1.0), but 6 < MIN_SHARED = 8 and SEED_A
    # has 28 shingles, so it is not a copy.
    fresh = multi_turn("fresh", ["Our bakery sold bread, cakes and pies last month; which of them earned the largest "
                                 "part of the revenue, and by how much? " + prose(rng, 10),
                                 "Cakes did. " + prose(rng, 40),
                                 "Can you explain that in more detail please?",
                                 "The cake line brought in most. " + prose(rng, 30)])
    tax = seed_taxonomy(tmp_path)
    res, out = tmp_path / "results.jsonl", tmp_path / "checked.jsonl"
    res.write_text("".join(json.dumps(r) + "\n" for r in (later, answer, fresh)))
    rep = check(res, out, taxonomy_dir=tax)
    assert rep.problems == []
    got = {r["id"]: r for r in read_results(out)[0]}
    assert got["later"]["reasons"] == ["copies_seed"] and got["answer"]["reasons"] == ["copies_seed"]
    assert got["fresh"]["status"] == "ok" and got["fresh"]["reasons"] == []
    sc = got["later"]["quality"]["seed_copy"]
    assert (sc["source_id"], sc["skill"], sc["role"], sc["turn"], sc["message"], sc["field"]) == \
        ("a1", "alpha", "user", 2, 2, "text")
    assert sc["overlap"] == 1.0 and sc["shared"] == 28  # SEED_A: 30 words ("product's" is two), 28 shingles, all in turn 2
    assert "user turn 2 (message 3)" in got["later"]["quality"]["details"]["copies_seed"]
    sc = got["answer"]["quality"]["seed_copy"]
    assert (sc["source_id"], sc["skill"], sc["role"], sc["turn"], sc["message"], sc["field"]) == \
        ("b1", "beta", "assistant", 1, 1, "response")
    assert sc["overlap"] == 1.0
    assert "the response of seed 'b1'" in got["answer"]["quality"]["details"]["copies_seed"]
    sc = got["fresh"]["quality"]["seed_copy"]
    assert sc["role"] == "user" and sc["turn"] == 2 and sc["overlap"] == 1.0 and sc["shared"] == 6 < MIN_SHARED


def test_seed_match_prefers_a_counting_match_and_ignores_roles_crossed():
    msgs = [{"role": "user", "content": SEED_B_RESPONSE}, {"role": "assistant", "content": SEED_B}]
    assert seed_match(msgs, [SEED_A, SEED_B], [SEED_A_RESPONSE, SEED_B_RESPONSE]) is None  # text vs response only
    short = "Can you explain that in more detail please?"
    msgs = [{"role": "user", "content": short}, {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "Framing first. " + SEED_B}]
    m = seed_match(msgs, [SEED_A, SEED_B])
    # SEED_B's 17 words give 15 shingles, all in turn 2: counts, and beats turn 1's 6 / 6
    assert (m.seed, m.message, m.turn, m.counts, m.shared, m.overlap) == (1, 2, 2, True, 15, 1.0)

# ---------------------------------------------------------------------------------------
# Decontamination against real IFEval prompts


def ifeval_prompts() -> list[str]:
    return [json.loads(line)["prompt"] for line in IFEVAL.read_text(encoding="utf-8").splitlines()]


@needs_ifeval
def test_ifeval_prompt_verbatim_and_a_single_13_gram_are_caught_with_file_and_line():
    index = BenchmarkIndex.from_files([IFEVAL])
    prompts = ifeval_prompts()
    assert len(index) + index.too_short == len(prompts) == 540
    line = 57
    target = prompts[line - 1]
    hits = index.check("Please help. " + target + " Thank you!")
    assert hits and hits[0].file == str(IFEVAL) and hits[0].line == line
    ws = words(target)
    assert len(ws) >= 13
    gram13 = " ".join(ws[2:15])
    hits = index.check(f"Something new about lamps. {gram13.upper()}; and more of my own words.")
    assert any(h.line == line for h in hits) and all(h.shared >= 1 for h in hits)
    gram12 = " ".join(ws[2:14])  # 12 words are below the rule
    assert not any(h.line == line for h in index.check(f"lamps {gram12} lamps"))


@needs_ifeval
def test_clean_samples_share_no_13_gram_with_ifeval():
    index = BenchmarkIndex.from_files([IFEVAL])
    rng = random.Random(5)
    clean = [prose(rng, 80) for _ in range(200)]
    assert sum(bool(index.check(t)) for t in clean) == 0


def test_short_benchmark_prompts_match_whole_and_bad_rows_are_reported(tmp_path):
    bench = tmp_path / "bench.jsonl"
    bench.write_text('{"question": "Name three primary colours used in painting today"}\n{broken\n'
                     '{"question": "Hi there"}\n')
    index = BenchmarkIndex.from_files([bench])
    assert len(index) == 1 and index.too_short == 1 and any("line 2" in p for p in index.problems)
    hit = index.check("Quiz: name three primary colours used in painting today, please.")
    assert [(h.line, h.ngram) for h in hit] == [(1, "name three primary colours used in painting today")]
    assert index.check("name three primary colours used in painting") == []  # 7 of 8 words
    csv = tmp_path / "bench.csv"  # another input format, the text field given
    csv.write_text('id,q\n1,"Name three primary colours used in painting today"\n')
    hit = BenchmarkIndex.from_files([csv], text_field="q").check("so: name three primary colours used in painting today")
    assert [(h.file, h.line) for h in hit] == [(str(csv), 2)]  # the file's line: the header is line 1


# ---------------------------------------------------------------------------------------
# Rules


LONG = "Here is the full worked answer with the numbers checked twice. " * 3


@pytest.mark.parametrize("user, assistant, rule", [
    ("Plan my week of meals within a budget of 60 dollars please.", "I'm sorry, but I can't help with that request." + LONG, "refusal"),
    ("Plan my week of meals within a budget of 60 dollars please.", "Skill 1: budgeting. " + LONG, "meta_commentary"),
    ("Plan my week of meals within a budget of 60 dollars please.", "As an AI, I think " + LONG, "meta_commentary"),
    ("Use meal_planning and household_budgeting to plan my week of meals.", LONG, "skill_list_in_prompt"),
    ("Plan my week of meals within a budget of 60 dollars please.", LONG + " and the rest goes to the", "truncated"),
    ("Plan my week of meals within a budget of 60 dollars please.", LONG + "\n```python\nx = 1\n", "truncated"),
    ("Plan?", "Ok.", "length"),
])
def test_each_rule_fires_on_its_flaw(user, assistant, rule):
    rec = record(0, user, assistant, skills=("meal_planning", "household_budgeting"))
    assert rule in [name for name, _ in check_rules(rec)]


def test_a_clean_conversation_passes_every_rule_and_rules_can_be_disabled():
    rec = record(0, "Plan my week of meals within a budget of 60 dollars, with two vegetarian days.", LONG,
                 skills=("meal_planning", "household_budgeting"))
    assert check_rules(rec) == []
    short = record(1, "Plan?", "Ok.")
    assert check_rules(short, RuleConfig(disabled=("length",))) == []
    with pytest.raises(ValueError, match="unknown rule"):
        RuleConfig(disabled=("nope",))


# ---------------------------------------------------------------------------------------
# Judge parsing


SKILLS = ["percentage_calculation", "email_drafting"]
VERDICT = {"skills": [{"skill": "percentage_calculation", "essential": True, "exercised": True, "evidence": "15% of 80"},
                      {"skill": "email_drafting", "essential": True, "exercised": False, "evidence": ""}],
           "self_contained": True, "correct": True, "complete": False, "score": 6, "rationale": "one skill unused"}


def test_judge_json_fenced_prose_and_broken_answers_are_read():
    text = json.dumps(VERDICT)
    for answer in (text, "Sure.\n```json\n" + json.dumps(VERDICT, indent=2) + "\n```\nDone.", "Verdict: " + text + " ok"):
        v = parse_verdict(answer, SKILLS)
        assert v["parsed"] == "json" and v["score"] == 6
        assert v["skills"]["email_drafting"]["exercised"] is False
        assert v["skills"]["percentage_calculation"]["evidence"] == "15% of 80"
    prose_answer = ("- percentage_calculation: essential yes, exercised yes \"15% of 80\"\n"
                    "- email drafting: essential yes, exercised no\nSelf-contained: yes\nOverall score: 7/10")
    v = parse_verdict(prose_answer, SKILLS)
    assert v["parsed"] == "text" and v["score"] == 7 and v["self_contained"] is True
    assert v["skills"]["percentage_calculation"] == {"essential": True, "exercised": True, "evidence": "15% of 80"}
    assert v["skills"]["email_drafting"]["exercised"] is False
    broken = text[:-30]  # truncated JSON: no complete object, the score is still readable
    v = parse_verdict(broken, SKILLS)
    assert v["parsed"] == "text" and v["score"] == 6
    with pytest.raises(VerdictError):
        parse_verdict("Looks fine to me.", SKILLS)
    with pytest.raises(VerdictError):
        parse_verdict('{"score": 42}', SKILLS)  # out of range and no other score


def test_decide_low_score_and_missing_skills():
    v = parse_verdict(json.dumps(VERDICT), SKILLS)
    assert decide(v, SKILLS) == []
    codes = [c for c, _ in decide(v, SKILLS, min_score=7, require_all_skills=True)]
    assert codes == ["judge_low_score", "skill_missing"]
    v["skills"].pop("email_drafting")
    assert "no verdict" in decide(v, SKILLS, require_all_skills=True)[0][1]


# ---------------------------------------------------------------------------------------
# The check runner


def planted_results(path: Path, n_clean: int = 12, seed: int = 1) -> dict:
    """Clean samples plus one of each flaw; returns {id: expected first reason or None}."""
    rng = random.Random(seed)
    recs, expect = [], {}
    seed_text = "Write a short friendly note inviting my neighbours to a garden party on Saturday afternoon."
    for i in range(n_clean):
        recs.append(record(i, "I need help: " + prose(rng, 25), "Sure, here is how: " + prose(rng, 60),
                           seeds=[{"skill": "alpha", "source_id": f"x{i}", "text": prose(rng, 15)}]))
        expect[recs[-1]["id"]] = None
    dup = json.loads(json.dumps(recs[2]))
    dup["id"] = "dup"
    dup["messages"][1]["content"] = dup["messages"][1]["content"].replace(dup["messages"][1]["content"].split()[20], "zzz", 1)
    recs.append(dup)
    expect["dup"] = "near_duplicate"
    cp = record(900, "Hello. " + seed_text + " Keep it brief.", "Dear neighbours, " + prose(rng, 50),
                seeds=[{"skill": "alpha", "source_id": "seed-7", "text": seed_text}])
    cp["id"] = "copy"
    recs.append(cp)
    expect["copy"] = "copies_seed"
    ref = record(901, "Please " + prose(rng, 20), "I'm sorry, but I cannot help with that. " + prose(rng, 40))
    ref["id"] = "refusal"
    recs.append(ref)
    expect["refusal"] = "rule:refusal"
    recs.append({"id": "failed", "status": "failed", "reason": "HTTP 500", "skills": ["alpha"], "messages": None})
    expect["failed"] = "synthesis_failed"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return expect


def test_check_without_judge_sets_status_and_reason_codes(tmp_path):
    res = tmp_path / "results.jsonl"
    expect = planted_results(res)
    out = tmp_path / "checked.jsonl"
    rep = check(res, out)
    got = {r["id"]: r for r in read_results(out)[0]}
    assert set(got) == set(expect)  # every record kept
    for rid, reason in expect.items():
        first = (got[rid]["reasons"] or [None])[0]
        assert first == reason, (rid, got[rid]["reasons"])
    assert got["dup"]["quality"]["near_duplicate"]["of"] == "s0002"
    assert got["dup"]["status"] == "rejected" and got["s0002"]["status"] == "ok"
    assert got["failed"]["status"] == "failed"  # passed through unchanged
    assert rep.ok == 12 and rep.rejected == 3 and rep.passed_through == 1
    assert rep.reasons == {"near_duplicate": 1, "copies_seed": 1, "rule:refusal": 1, "synthesis_failed": 1}
    assert "near_duplicate" in rep.table()
    # a rerun skips everything; other settings on the same --out are refused
    rep = check(res, out)
    assert rep.skipped == 16 and len(out.read_text().splitlines()) == 16
    with pytest.raises(ValueError, match="other settings"):
        check(res, out, config=CheckConfig(dedup=DedupConfig(threshold=0.9)))


def judge_kw(server, **kw):
    base = dict(api_key="sk-test-" + uuid.uuid4().hex, base_url=server.base_url, backoff=0.01, max_backoff=0.05,
                timeout=5.0)
    base.update(kw)
    return base


def test_judge_verdicts_in_every_answer_form_and_decisions(tmp_path, server):
    res = tmp_path / "results.jsonl"
    rng = random.Random(2)
    skills = ("percentage_calculation", "email_drafting")
    recs = [record(i, "Question: " + prose(rng, 20), "Using percentage and an email draft: " + prose(rng, 40), skills)
            for i in range(4)]
    recs.append(record(4, "Question: " + prose(rng, 20), "Only numbers here: " + prose(rng, 40), skills))  # no skill words
    recs.append(record(5, "Question: " + prose(rng, 20), "LOWSCORE percentage email " + prose(rng, 40), skills))
    res.write_text("".join(json.dumps(r) + "\n" for r in recs))
    server.script += ["judge_json", "judge_fenced", "judge_prose", "judge_broken", "judge_json", "judge_json"]
    cfg = CheckConfig(judge_model="judge", min_score=5, require_all_skills=True)
    out = tmp_path / "checked.jsonl"
    rep = check(res, out, config=cfg, concurrency=1, **judge_kw(server))
    got = {r["id"]: r for r in read_results(out)[0]}
    parsed = [got[f"s{i:04d}"]["quality"]["judge"]["parsed"] for i in range(4)]
    assert parsed == ["json", "json", "text", "text"]
    assert all(got[f"s{i:04d}"]["status"] == "ok" and got[f"s{i:04d}"]["quality"]["judge"]["score"] == 9 for i in range(4))
    # record 4 mentions neither skill: fake judge score 9 - 3 * 2 = 3
    assert got["s0004"]["reasons"] == ["judge_low_score", "skill_missing"]
    assert got["s0005"]["reasons"] == ["judge_low_score"] and got["s0005"]["quality"]["judge"]["score"] == 2
    assert rep.judged == 6 and rep.judge_requests == 6 and server.requests == 6
    assert all(b.get("response_format", {}).get("type") == "json_schema" for b in server.bodies)
    assert all(b["temperature"] == 0.0 for b in server.bodies)


def test_judge_falls_back_when_the_endpoint_rejects_response_format(tmp_path, server):
    res = tmp_path / "results.jsonl"
    rng = random.Random(4)
    res.write_text("".join(json.dumps(record(i, "Q " + prose(rng, 20), "alpha beta " + prose(rng, 40))) + "\n"
                           for i in range(3)))
    server.reject_response_format = True
    rep = check(res, tmp_path / "c.jsonl", config=CheckConfig(judge_model="j"), concurrency=1, **judge_kw(server))
    assert rep.judged == 3 and rep.ok == 3
    assert server.requests == 4  # one rejected request, then three without response_format
    assert any("response_format" in p for p in rep.problems)


def test_judge_garbage_and_failures_are_rejected_then_retried_on_request(tmp_path, server):
    res = tmp_path / "results.jsonl"
    rng = random.Random(6)
    res.write_text("".join(json.dumps(record(i, "Q " + prose(rng, 20), "alpha beta " + prose(rng, 40))) + "\n"
                           for i in range(2)))
    server.script += ["judge_garbage", "500"]
    out = tmp_path / "c.jsonl"
    kw = judge_kw(server)
    rep = check(res, out, config=CheckConfig(judge_model="j"), concurrency=1, max_retries=0, **kw)
    assert sorted(rep.reasons) == ["judge_error", "judge_unparsed"] and rep.rejected == 2
    assert kw["api_key"] not in out.read_text()
    rep = check(res, out, config=CheckConfig(judge_model="j"), retry_judge_errors=True, use_cache=False, **kw)
    assert rep.ok == 2 and rep.judged == 2
    assert len(read_results(out)[0]) == 2


def _count_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_sigkill_during_check_resumes_without_judging_twice(tmp_path):
    res = tmp_path / "results.jsonl"
    rng = random.Random(8)
    n = 16
    res.write_text("".join(json.dumps(record(i, "Q " + prose(rng, 20), "alpha beta " + prose(rng, 40))) + "\n"
                           for i in range(n)))
    out = tmp_path / "checked.jsonl"
    key = "sk-test-" + uuid.uuid4().hex
    env = {**os.environ, "OPENAI_API_KEY": key, "PYTHONPATH": str(REPO)}
    env.pop("OPENAI_BASE_URL", None)
    with FakeOpenAI(delay=0.05) as srv:
        cmd = [sys.executable, "-m", "steps_engine", "check", str(res), "--out", str(out), "--judge-model", "j",
               "--judge-base-url", srv.base_url, "--concurrency", "3", "--quiet"]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while _count_lines(out) < 5 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
        first = _count_lines(out)
        assert first < n
        answered_before = srv.requests
        proc = subprocess.run(cmd + ["--json"], env=env, capture_output=True, timeout=60)
        assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    summary = json.loads(proc.stdout.decode().splitlines()[-1])
    recs = [json.loads(l) for l in out.read_text().splitlines()]
    assert sorted(r["id"] for r in recs) == sorted(f"s{i:04d}" for i in range(n))  # each exactly once
    assert all(r["status"] == "ok" and r["quality"]["judge"]["score"] == 9 for r in recs)
    # requests in flight at the kill (at most 3) may be sent again; nothing written is re-judged
    assert srv.requests <= n + 3
    assert srv.requests - answered_before + summary["cache_hits"] >= n - first
    assert summary["skipped"] == first and summary["judged"] == n - first
    assert key not in out.read_text()


@needs_ifeval
def test_scripted_server_outputs_are_caught_end_to_end(tmp_path, server):
    """synthesize through the loopback server scripted to return a one-word near-duplicate, a
    copied seed, an IFEval prompt verbatim and a single 13-gram of another, then `check`."""
    from test_synthesis import make_combos, make_taxonomy

    tax = make_taxonomy(tmp_path)
    combos = tmp_path / "combos.jsonl"
    make_combos(combos)  # 20 combinations
    prompts = ifeval_prompts()
    gram = " ".join(prompts[99].split()[3:16])  # 13 words of the prompt on line 100
    assert len(words(gram)) >= 13
    server.default = "realistic"
    server.script += ["realistic", "one_word", "copy_seed", "insert:" + prompts[56], "insert:" + gram]
    res = tmp_path / "results.jsonl"
    synthesize(tax, combos, model="m", out=res, base_url=server.base_url, concurrency=1, api_key="sk-x",
               backoff=0.01, timeout=5.0)
    recs = read_results(res)[0]
    assert len(recs) == 20 and all(r["status"] == "ok" for r in recs)
    out = tmp_path / "checked.jsonl"
    check(res, out, taxonomy_dir=tax, config=CheckConfig(decontaminate=(str(IFEVAL),)))
    got = read_results(out)[0]  # file order = request order (concurrency 1)
    assert got[1]["reasons"] == ["near_duplicate"] and got[1]["quality"]["near_duplicate"]["of"] == got[0]["id"]
    assert got[2]["reasons"] == ["copies_seed"]
    assert got[3]["reasons"] == ["contaminated"] and got[3]["quality"]["contaminated"][0]["line"] == 57
    assert got[3]["quality"]["contaminated"][0]["file"] == str(IFEVAL)
    assert got[4]["reasons"] == ["contaminated"] and any(c["line"] == 100 for c in got[4]["quality"]["contaminated"])
    clean = [g for i, g in enumerate(got) if i not in (1, 2, 3, 4)]
    assert [g["reasons"] for g in clean] == [[]] * 16  # no false positive on the 16 clean samples


# ---------------------------------------------------------------------------------------
# Export integration


def test_export_of_checked_results_reports_drops_and_judge_scores(tmp_path, server):
    from steps_engine.export import export

    res = tmp_path / "results.jsonl"
    planted_results(res)
    out = tmp_path / "checked.jsonl"
    check(res, out, config=CheckConfig(judge_model="j"), **judge_kw(server))
    rep = export(out, fmt="chat", out=tmp_path / "ds" / "train.jsonl")
    assert rep.records == 12
    assert rep.quality["dropped"] == {"near_duplicate": 1, "copies_seed": 1, "rule:refusal": 1, "synthesis_failed": 1}
    card = (tmp_path / "ds" / "README.md").read_text()
    assert "## Quality checks" in card and "| near_duplicate | 1 |" in card and "| copies_seed | 1 |" in card
    rows = [json.loads(l) for l in (tmp_path / "ds" / "train.jsonl").read_text().splitlines()]
    assert all("score" in r["metadata"]["judge"] for r in rows)
    scores = rep.quality["scores"]
    assert sum(scores.values()) == 12 and "Judge scores of the 12 exported" in card



def test_cli_errors_and_exit_status(tmp_path, monkeypatch, capsys):
    from steps_engine.cli import main

    res = tmp_path / "results.jsonl"
    planted_results(res)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)

    def steps(*args) -> tuple[int, str, str]:
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    code, _, err = steps("check", res, "--out", tmp_path / "c.jsonl", "--judge-model", "j")
    assert code == 2 and "API key" in err
    code, _, err = steps("check", res, "--out", tmp_path / "c.jsonl", "--decontaminate", tmp_path / "nope.jsonl")
    assert code == 2 and "nope.jsonl" in err
    code, _, err = steps("check", res, "--out", tmp_path / "c.jsonl", "--min-score", "5")
    assert code == 2 and "judge" in err
    code, _, err = steps("check", res, "--out", res)
    assert code == 2 and "destroy the input" in err
    code, _, err = steps("check", tmp_path / "missing.jsonl", "--out", tmp_path / "c.jsonl")
    assert code == 2 and "not found" in err
    code, out, _ = steps("check", res, "--out", tmp_path / "c.jsonl", "--json", "--quiet")
    assert code == 0 and json.loads(out.splitlines()[-1])["reasons"]["near_duplicate"] == 1
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    with FakeOpenAI(default="500") as srv:  # every judge request fails: nothing done (3), reason judge_error
        code, _, err = steps("check", res, "--out", tmp_path / "j.jsonl", "--judge-model", "j", "--judge-base-url",
                             srv.base_url, "--max-retries", "0", "--quiet")
        assert code == 3 and "--retry-judge-errors" in err
        srv.default = "ok"
        srv.script += ["500"]  # one of the twelve fails: partial (4)
        code, _, err = steps("check", res, "--out", tmp_path / "k.jsonl", "--judge-model", "j", "--judge-base-url",
                             srv.base_url, "--max-retries", "0", "--quiet", "--concurrency", "1")
        assert code == 4 and "1 record(s) have no verdict" in err


def test_judge_cost_is_estimated_before_and_max_cost_stops_then_resumes(tmp_path, server):
    from steps_engine.llm.cost import Budget, Price, TokenCounter
    from steps_engine.quality import estimate_judge
    from steps_engine.quality.judge import build_judge_messages

    res = tmp_path / "results.jsonl"
    expect = planted_results(res)  # 12 clean records reach the judge; 3 flawed and 1 failed do not
    cfg = CheckConfig(judge_model="judge-m")
    prices = {"judge-m": Price("judge-m", 1000.0, 1000.0)}  # $1000 per 1M tokens: a fake reply (100 + 20) is $0.12
    est, _ = estimate_judge(res, config=cfg, prices=prices, expected_output_tokens=20)
    recs = {r["id"]: r for r in read_results(res)[0]}
    clean = [recs[i] for i, reason in expect.items() if reason is None]
    counter = TokenCounter("judge-m")  # approx chars/4 per string, as hand-checked in test_cost
    by_hand = sum(counter.count_messages(build_judge_messages(r, cfg.rubric)) for r in clean)
    assert (est.requests, est.prompt_tokens, est.output_tokens) == (12, by_hand, 12 * 20)
    assert est.cost_usd == pytest.approx((by_hand + 12 * 20) * 1000.0 / 1e6)
    assert server.requests == 0 and not (tmp_path / "checked.jsonl").exists()

    budget = 0.7
    reserve = [Budget("judge-m", budget, prices=prices, expected_output_tokens=20).request_estimate(
        build_judge_messages(r, cfg.rubric)) for r in clean]
    expected, spent = 0, 0.0  # concurrency 1: admitted while spent + the next reservation fits
    for r in reserve:
        if spent + r > budget:
            break
        spent += 0.12
        expected += 1
    assert 0 < expected < 12
    out = tmp_path / "checked.jsonl"
    rep = check(res, out, config=cfg, concurrency=1, max_cost=budget, prices=prices, expected_output_tokens=20,
                **judge_kw(server))
    assert rep.judged == expected and rep.not_judged == 12 - expected and server.requests == expected
    assert rep.cost_usd == pytest.approx(0.12 * expected) and rep.cost_usd <= budget
    rep2 = check(res, out, config=cfg, concurrency=1, max_cost=100.0, prices=prices, expected_output_tokens=20,
                 **judge_kw(server))
    assert rep2.judged == 12 - expected and rep2.not_judged == 0 and server.requests == 12  # nothing judged twice
    ids = [r["id"] for r in read_results(out)[0]]
    assert len(ids) == len(set(ids)) == len(expect)


def test_steps_check_estimate_prints_the_judge_cost_and_sends_nothing(tmp_path, capsys):
    from steps_engine.cli import main

    res = tmp_path / "results.jsonl"
    planted_results(res)
    table = tmp_path / "prices.json"
    table.write_text(json.dumps({"judge-m": {"input": 1.0, "output": 4.0}}))
    out = tmp_path / "checked.jsonl"
    code = main(["check", str(res), "--out", str(out), "--judge-model", "judge-m", "--estimate",
                 "--prices", str(table), "--json"])
    got = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert code == 0 and not out.exists()
    assert got["requests"] == 12 and got["output_tokens"] == 12 * 250
    assert got["cost_usd"] == pytest.approx((got["prompt_tokens"] * 1.0 + 12 * 250 * 4.0) / 1e6)
    assert main(["check", str(res), "--out", str(out), "--max-cost", "1"]) == 2  # a budget needs a judge

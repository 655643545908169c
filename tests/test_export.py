"""Export: formats read back, provenance, curriculum counts, dataset card, CLI."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from steps_engine.cli import main
from steps_engine.export import export
from steps_engine.export.curriculum import assign_epochs, band_of, parse_weights

CONV2 = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
CONV4 = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "u1"},
    {"role": "assistant", "content": "a1"},
    {"role": "user", "content": "u2"},
    {"role": "assistant", "content": "a2"},
]


def rec(i, k, status="ok", messages=CONV2, path=("c1",), labels=("cluster one",)):
    skills = [f"s{j}" for j in range(k)]
    return {
        "id": f"id{i:03d}", "status": status, "skills": skills, "start": skills[0], "k": k, "gain": 0.5 * k,
        "lca": path[-1] if path else "root", "taxonomy_path": list(path), "taxonomy_labels": list(labels),
        "seeds": [{"skill": s, "source_id": 100 + j if j else f"r{i}"} for j, s in enumerate(skills)],
        "messages": messages if status == "ok" else None, "model": "m1", "template_hash": "th1",
        "usage": {"total_tokens": 10}, "reason": None if status == "ok" else "x",
    }


@pytest.fixture()
def results(tmp_path):
    recs = [rec(0, 2, messages=CONV4), rec(1, 3, path=("c2",), labels=("two",)), rec(2, 3, path=()),
            rec(3, 2, status="failed"), rec(4, 4, status="rejected"), rec(5, 2, path=("c1", "c1a"), labels=("one", "one-a"))]
    p = tmp_path / "results.jsonl"
    lines = [json.dumps(r) for r in recs]
    lines.insert(1, json.dumps(rec(1, 3, status="failed")))  # an earlier record of id001, superseded
    p.write_text("\n".join(lines) + "\n{torn")
    return p


def test_chat_jsonl_reads_back_with_provenance(results, tmp_path):
    out = tmp_path / "out" / "train.jsonl"
    rep = export(results, fmt="chat", out=out)
    rows = [json.loads(l) for l in out.read_text().splitlines()]
    assert rep.records == len(rows) == 4  # ok records only, id001 counted once
    assert [r["metadata"]["id"] for r in rows] == ["id000", "id001", "id002", "id005"]
    assert rows[0]["messages"] == CONV4
    m = rows[1]["metadata"]
    assert m["skills"] == ["s0", "s1", "s2"] and m["k"] == 3 and m["gain"] == 1.5 and m["lca"] == "c2"
    assert m["source_ids"] == ["r1", "101", "102"] and m["model"] == "m1" and m["template_hash"] == "th1"
    assert m["cluster"] == "c2: two" and rows[2]["metadata"]["cluster"].startswith("(spans")
    assert any("incomplete" in p for p in rep.problems)
    assert not list(out.parent.glob("*.tmp"))


def test_sharegpt_maps_roles(results, tmp_path):
    out = tmp_path / "sg.jsonl"
    export(results, fmt="sharegpt", out=out)
    first = json.loads(out.read_text().splitlines()[0])
    assert [t["from"] for t in first["conversations"]] == ["system", "human", "gpt", "human", "gpt"]
    assert [t["value"] for t in first["conversations"]] == [m["content"] for m in CONV4]
    assert first["metadata"]["id"] == "id000"


def test_alpaca_flattens_first_user_and_final_assistant(results, tmp_path):
    out = tmp_path / "al.jsonl"
    export(results, fmt="alpaca", out=out)
    rows = [json.loads(l) for l in out.read_text().splitlines()]
    assert rows[0]["instruction"] == "u1" and rows[0]["output"] == "a2"
    assert rows[0]["input"] == "Assistant: a1\n\nUser: u2" and rows[0]["system"] == "be brief"
    assert (rows[1]["instruction"], rows[1]["input"], rows[1]["output"]) == ("q", "", "a")


def test_parquet_reads_back_with_pyarrow(results, tmp_path):
    out = tmp_path / "train.parquet"
    export(results, fmt="parquet", out=out)
    table = pq.read_table(out)
    assert table.num_rows == 4
    rows = table.to_pylist()
    assert rows[0]["messages"] == CONV4 and rows[0]["id"] == "id000"
    assert rows[1]["k"] == 3 and rows[1]["source_ids"] == ["r1", "101", "102"] and rows[1]["taxonomy_path"] == ["c2"]
    assert rows[3]["taxonomy_labels"] == ["one", "one-a"] and rows[3]["cluster"] == "c1: one"


def test_parquet_carries_the_judge_verdict_as_typed_nullable_columns(tmp_path):
    import pyarrow as pa

    from steps_engine.quality.judge import parse_verdict

    answer = {"skills": [{"skill": "s0", "essential": True, "exercised": True, "evidence": "uses s0 here"},
                         {"skill": "s1", "essential": False, "exercised": True, "evidence": ""}],
              "self_contained": True, "correct": True, "complete": False, "score": 7, "rationale": "fine"}
    judged = {**rec(0, 2), "reasons": [], "quality": {"judge": {"model": "judge-m", **parse_verdict(json.dumps(answer),
                                                                                                    ["s0", "s1"])}}}
    unjudged = {**rec(1, 2), "reasons": [], "quality": {"judge": None}}
    res = tmp_path / "checked.jsonl"
    res.write_text(json.dumps(judged) + "\n" + json.dumps(unjudged) + "\n")
    export(res, fmt="parquet", out=tmp_path / "t.parquet")
    export(res, fmt="chat", out=tmp_path / "t.jsonl")
    table = pq.read_table(tmp_path / "t.parquet")
    assert table.schema.field("judge_score").type == pa.float64()
    assert table.schema.field("judge_complete").type == pa.bool_()
    assert table.schema.field("judge_skills").type.value_type.field("exercised").type == pa.bool_()
    a, b = table.to_pylist()
    assert (a["judge_model"], a["judge_score"], a["judge_self_contained"], a["judge_correct"], a["judge_complete"]) \
        == ("judge-m", 7.0, True, True, False)
    assert a["judge_skills"] == [{"skill": "s0", "essential": True, "exercised": True, "evidence": "uses s0 here"},
                                 {"skill": "s1", "essential": False, "exercised": True, "evidence": ""}]
    assert [b[c] for c in table.column_names if c.startswith("judge_")] == [None] * 6
    meta = json.loads((tmp_path / "t.jsonl").read_text().splitlines()[0])["metadata"]["judge"]
    assert meta["score"] == a["judge_score"] and meta["model"] == a["judge_model"]  # same dict as the JSONL formats
    assert [{"skill": k, **v} for k, v in meta["skills"].items()] == a["judge_skills"]

def test_card_counts_per_k_and_cluster(results, tmp_path):
    out = tmp_path / "d" / "train.jsonl"
    rep = export(results, fmt="chat", out=out)
    card = (tmp_path / "d" / "README.md").read_text()
    assert rep.card == str(tmp_path / "d" / "README.md")
    assert "| 2 | 2 |" in card and "| 3 | 2 |" in card  # k=2: id000, id005; k=3: id001, id002
    assert "| c1: cluster one | 1 |" in card and "| c1: one | 1 |" in card and "| c2: two | 1 |" in card
    assert "4 ok, 1 rejected, 1 failed" in card  # statuses after de-duplication (last record wins)
    assert "`m1`" in card and "`th1`" in card and "curriculum: none" in card
    assert "3 distinct skills appear" in card  # s0, s1, s2 (the k=4 record was rejected)


def test_bands_and_parse_weights():
    assert band_of([2, 3, 4]) == {2: "low", 3: "mid", 4: "high"}
    assert band_of([2, 3]) == {2: "low", 3: "high"}
    assert band_of([5]) == {5: "mid"}
    assert band_of(range(2, 8)) == {2: "low", 3: "low", 4: "mid", 5: "mid", 6: "high", 7: "high"}
    assert parse_weights("2:1,3:0;low:0.5") == [{2: 1.0, 3: 0.0}, {"low": 0.5}]
    for bad, msg in [("2=1", "key:weight"), ("x:1", "integer k"), ("2:-1", ">= 0"), ("2:1;;", "empty")]:
        with pytest.raises(ValueError, match=msg):
            parse_weights(bad)


def test_steps3_curriculum_splits_by_hand_computed_counts():
    recs = [{"k": k, "n": i} for k in (2, 3, 4) for i in range(30)]
    order = assign_epochs(recs, parse_weights("steps3"), seed=3)
    assert sorted((r["k"], r["n"]) for _, r in order) == sorted((r["k"], r["n"]) for r in recs)  # each once
    epochs = [e for e, _ in order]
    assert epochs == sorted(epochs)  # epoch 1 first, then 2, then 3
    got = Counter((e, r["k"]) for e, r in order)
    # k=2 (low): weights .6, 1/3, .1 -> 30*w/1.0333 = 17.42, 9.68, 2.90 -> floors 17, 9, 2,
    # two leftovers to the largest remainders (2.90, 9.68) -> 17, 10, 3.
    # k=3 (mid): .3, 1/3, .3 -> 9.64, 10.71, 9.64 -> 9, 10, 9; leftovers to 10.71 then the first 9.64 -> 10, 11, 9.
    # k=4 (high): mirror of k=2 -> 3, 10, 17.
    assert [got[(e, 2)] for e in (1, 2, 3)] == [17, 10, 3]
    assert [got[(e, 3)] for e in (1, 2, 3)] == [10, 11, 9]
    assert [got[(e, 4)] for e in (1, 2, 3)] == [3, 10, 17]
    assert order == assign_epochs(recs, parse_weights("steps3"), seed=3)  # seeded


def test_custom_weights_by_k_and_missing_k_is_an_error():
    recs = [{"k": 2}] * 4 + [{"k": 3}] * 4
    order = assign_epochs(recs, parse_weights("2:1;2:1,3:1"))
    got = Counter((e, r["k"]) for e, r in order)
    assert got == {(1, 2): 2, (2, 2): 2, (2, 3): 4}
    with pytest.raises(ValueError, match="k=3"):
        assign_epochs(recs, parse_weights("2:1"))


def test_curriculum_export_orders_by_epoch_and_card_reports_it(results, tmp_path):
    out = tmp_path / "c" / "train.jsonl"
    rep = export(results, fmt="chat", out=out, curriculum="steps3")
    epochs = [json.loads(l)["metadata"]["curriculum_epoch"] for l in out.read_text().splitlines()]
    assert epochs == sorted(epochs) and len(epochs) == 4
    assert sum(rep.per_epoch.values()) == 4
    card = (tmp_path / "c" / "README.md").read_text()
    assert "## Curriculum" in card and "`steps3`" in card


def test_cli_export_and_bad_format(results, tmp_path, capsys):
    out = tmp_path / "cli" / "train.parquet"
    assert main(["export", str(results), "--format", "parquet", "--out", str(out), "--curriculum", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["records"] == 4 and pq.read_table(out).num_rows == 4
    assert main(["export", str(tmp_path / "nope.jsonl"), "--format", "chat", "--out", str(out)]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["export", str(results), "--format", "chat", "--out", str(out), "--curriculum-weights", "2:x"]) == 2


# ---------------------------------------------------------------------------------------
# The README's main flow on real data: taxonomy -> combos -> dry run -> run -> every format

REPO = Path(__file__).resolve().parents[1]
FLOWS = {
    "demo": (REPO / "assets" / "demo" / "demo.jsonl", ["--skills-field", "skills"], "id"),
    "ifeval": (REPO.parent / "shared" / "data" / "ifeval" / "input_data.jsonl",
               ["--skills-field", "instruction_id_list", "--text-field", "prompt"], "key"),
}


@pytest.mark.parametrize("name", sorted(FLOWS))
def test_main_flow_dry_run_then_run_then_every_format(name, tmp_path, capsys):
    import uuid

    from fake_openai_server import FakeOpenAI
    from steps_engine.synthesis.batch import check_batch_input_line
    from steps_engine.synthesis.runner import synthesize
    from steps_engine.taxonomy.tree import EncodingTree

    data, field_args, id_field = FLOWS[name]
    if not data.exists():
        pytest.skip(f"{data} not present")
    tax, combos, run = tmp_path / "tax", tmp_path / "combos.jsonl", tmp_path / "run"
    assert main(["taxonomy", str(data), *field_args, "--out", str(tax), "--quiet"]) == 0
    assert main(["combos", str(tax), "--k", "3", "--out", str(combos), "--quiet"]) == 0
    n_combos = len({tuple(sorted(json.loads(l)["skills"])) for l in combos.read_text().splitlines()})
    assert main(["synthesize", str(tax), "--combos", str(combos), "--model", "m", "--dry-run",
                 "--out", str(run / "results.jsonl"), "--quiet"]) == 0
    batch = [json.loads(l) for l in (run / "batch_input.jsonl").read_text().splitlines()]
    prompts = [json.loads(l) for l in (run / "prompts.jsonl").read_text().splitlines()]
    assert len(batch) == len(prompts) == n_combos
    for b in batch:
        check_batch_input_line(b)

    rows = {}
    for line in data.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        rows[r[id_field]] = r
    skills_of = (lambda r: r["skills"]) if name == "demo" else (lambda r: r["instruction_id_list"])
    with FakeOpenAI() as srv:
        rep = synthesize(tax, combos, model="m", out=run / "results.jsonl", base_url=srv.base_url,
                         api_key="sk-test-" + uuid.uuid4().hex, limit=12, concurrency=4)
    assert rep.ok == min(12, n_combos)
    results = [json.loads(l) for l in (run / "results.jsonl").read_text().splitlines()]
    for r in results:
        for s in r["seeds"]:
            if s["source_id"] is not None:
                assert s["skill"] in skills_of(rows[s["source_id"]])

    tree = EncodingTree.load(tax / "taxonomy.json")
    expected = Counter()
    for r in results:  # top-level cluster recomputed from the tree: the LCA's depth-1 ancestor
        lca = r["lca"] if isinstance(r["lca"], str) else tree.ids[r["lca"]]
        path = tree.path_to_root(tree.node_index(lca))[::-1][1:]
        expected[tree.ids[path[0]] if path else None] += 1
    for fmt, suffix in [("chat", "jsonl"), ("sharegpt", "jsonl"), ("alpaca", "jsonl"), ("parquet", "parquet")]:
        out = tmp_path / fmt / f"train.{suffix}"
        assert main(["export", str(run / "results.jsonl"), "--format", fmt, "--out", str(out),
                     "--curriculum", "--taxonomy", str(tax)]) == 0
        if fmt == "parquet":
            back = pq.read_table(out).to_pylist()
            metas = back
        else:
            back = [json.loads(l) for l in out.read_text().splitlines()]
            metas = [b["metadata"] for b in back]
        assert len(back) == rep.ok and {m["id"] for m in metas} == {r["id"] for r in results}
        got = Counter(m["taxonomy_path"][0] if m["taxonomy_path"] else None for m in metas)
        assert got == expected
        card = (out.parent / "README.md").read_text()
        assert f"{rep.ok} synthetic multi-turn conversations" in card and "## Curriculum" in card
        assert f"of the taxonomy's {len(tree.skills)} skills" in card


def test_card_never_overwrites_a_foreign_readme_and_bad_messages_are_skipped(results, tmp_path):
    d = tmp_path / "proj"
    d.mkdir()
    (d / "README.md").write_text("# My project\n")
    with pytest.raises(ValueError, match="not a dataset card"):
        export(results, fmt="chat", out=d / "train.jsonl")
    assert (d / "README.md").read_text() == "# My project\n" and not (d / "train.jsonl").exists()
    export(results, fmt="chat", out=d / "train.jsonl", card=False)
    lines = results.read_text().splitlines()
    bad = json.loads(lines[0])
    bad["messages"] = [{"role": "assistant", "content": "x"}]
    results.write_text(json.dumps(bad) + "\n" + "\n".join(lines[1:-1]) + "\n")
    rep = export(results, fmt="chat", out=tmp_path / "again" / "train.jsonl")
    rep2 = export(results, fmt="chat", out=tmp_path / "again" / "train.jsonl")  # re-export over our own card
    assert rep.records == rep2.records == 3 and any("id000" in p and "alternate" in p for p in rep.problems)


def test_cli_export_refuses_a_file_with_no_ok_record(tmp_path, capsys):
    # e.g. prompts.jsonl from a dry run given by mistake: records without a status
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"id": "a", "skills": ["s0", "s1"], "messages": CONV2}) + "\n")
    out = tmp_path / "o" / "train.jsonl"
    assert main(["export", str(prompts), "--format", "chat", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "nothing to export" in err and "no status: 1" in err and not out.exists()
    assert main(["export", str(tmp_path), "--format", "chat", "--out", str(out)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_cli_export_names_an_unreadable_taxonomy(results, tmp_path, capsys):
    tax = tmp_path / "tax"
    tax.mkdir()
    (tax / "taxonomy.json").write_text("[]")
    assert main(["export", str(results), "--format", "chat", "--taxonomy", str(tax),
                 "--out", str(tmp_path / "o" / "t.jsonl")]) == 2
    assert f"cannot read {tax / 'taxonomy.json'}" in capsys.readouterr().err


# ---- issue 12: inputs are never overwritten, bad records are skipped, source_ids are strings


@pytest.mark.parametrize("how", ["same path", "symlink", "hard link", "dotted path"])
def test_export_refuses_an_output_that_is_its_input(results, tmp_path, capsys, how):
    before = results.read_bytes()
    if how == "same path":
        out = results
    elif how == "dotted path":
        out = results.parent / "sub" / ".." / results.name
        (results.parent / "sub").mkdir()
    else:
        out = tmp_path / "alias.jsonl"
        (out.symlink_to if how == "symlink" else out.hardlink_to)(results)
    with pytest.raises(ValueError, match="is the input"):
        export(results, fmt="chat", out=out)
    assert main(["export", str(results), "--format", "chat", "--out", str(out)]) == 2
    assert "is the input" in capsys.readouterr().err
    assert results.read_bytes() == before


def test_export_refuses_to_write_its_card_over_the_results(tmp_path):
    results = tmp_path / "README.md"
    results.write_text(json.dumps(rec(0, 2)) + "\n")
    with pytest.raises(ValueError, match="dataset card"):
        export(results, fmt="chat", out=tmp_path / "train.jsonl")
    assert json.loads(results.read_text())["id"] == "id000"


def test_records_with_wrong_types_are_skipped_and_reported(tmp_path, capsys):
    good = [rec(i, 2 + i % 2) for i in range(4)]
    bad_k = {**rec(10, 3), "k": "three"}
    bad_skills = {**rec(11, 2), "skills": ["s0", 5]}
    bad_seeds = {**rec(12, 2), "seeds": "r1"}
    bad_gain = {**rec(13, 2), "gain": "high"}
    p = tmp_path / "results.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in good + [bad_k, bad_skills, bad_seeds, bad_gain]))
    out = tmp_path / "o" / "train.jsonl"
    rep = export(p, fmt="chat", out=out, curriculum="steps3")
    assert rep.records == 4 and len(out.read_text().splitlines()) == 4
    assert (out.parent / "README.md").exists()
    for rid, word in [("id010", "'k'"), ("id011", "'skills'"), ("id012", "'seeds'"), ("id013", "'gain'")]:
        assert any(rid in pr and word in pr for pr in rep.problems), (rid, rep.problems)
    assert main(["export", str(p), "--format", "parquet", "--out", str(tmp_path / "o2" / "t.parquet")]) == 0
    assert "'three'" in capsys.readouterr().err


def test_cli_export_with_every_ok_record_bad_exits_3(tmp_path, capsys):
    p = tmp_path / "results.jsonl"
    p.write_text(json.dumps({**rec(0, 2), "k": "two"}) + "\n")
    assert main(["export", str(p), "--format", "chat", "--out", str(tmp_path / "o" / "t.jsonl")]) == 3
    assert "0 records" in capsys.readouterr().out


def test_jsonl_export_reads_with_pyarrow_json(results, tmp_path):
    import pyarrow.json as pj

    out = tmp_path / "o" / "train.jsonl"
    export(results, fmt="chat", out=out)  # the fixture mixes integer and string source ids
    table = pj.read_json(out)
    ids = table.column("metadata").combine_chunks().field("source_ids").to_pylist()
    assert ids[1] == ["r1", "101", "102"]

"""What a user gets for the mistakes an adversarial QA pass of the CLI made (docs/reliability.md,
"QA pass"): a one-line message naming the file and the problem, an exit status that says whether
the work happened, and nothing written (or destroyed) when it did not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from steps_engine.cli import EXIT_NOTHING_DONE, EXIT_USAGE, main
from steps_engine.export import export

REPO = Path(__file__).resolve().parents[1]
CONV = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]


def ok_record(i: int) -> dict:
    return {"id": f"id{i}", "status": "ok", "skills": ["s0", "s1"], "start": "s0", "k": 2, "gain": 0.5,
            "lca": "c1", "taxonomy_path": ["c1"], "taxonomy_labels": ["one"], "seeds": [], "messages": CONV,
            "model": "m", "template_hash": "th", "usage": {}, "reason": None}


@pytest.fixture()
def results(tmp_path):
    p = tmp_path / "results.jsonl"
    p.write_text("".join(json.dumps(ok_record(i)) + "\n" for i in range(3)))
    return p


# ---- steps export


def test_export_to_readme_md_is_refused_before_the_card_overwrites_the_data(results, tmp_path, capsys):
    out = tmp_path / "sft" / "README.md"
    with pytest.raises(ValueError, match="dataset card README.md"):
        export(results, fmt="chat", out=out)
    assert main(["export", str(results), "--format", "chat", "--out", str(out)]) == EXIT_USAGE
    assert "dataset card README.md" in capsys.readouterr().err
    assert not out.exists()
    # without the card the name is free
    assert main(["export", str(results), "--format", "chat", "--out", str(out), "--no-card"]) == 0
    assert len(out.read_text().splitlines()) == 3


def test_export_reports_records_with_no_or_an_unknown_status(tmp_path):
    # 3 ok records, one without "status", one with a status synthesis never writes: 3 exported,
    # the other two named in the problems and counted in the card (they were dropped silently)
    p = tmp_path / "results.jsonl"
    rows = [ok_record(i) for i in range(3)]
    no_status = {k: v for k, v in ok_record(3).items() if k != "status"}
    odd = {**ok_record(4), "status": "pending"}
    p.write_text("".join(json.dumps(r) + "\n" for r in rows + [no_status, odd]))
    rep = export(p, fmt="chat", out=tmp_path / "sft" / "train.jsonl")
    assert rep.records == 3
    named = [m for m in rep.problems if "not exported" in m]
    assert len(named) == 2 and "record id3: status None" in named[0] and "record id4: status 'pending'" in named[1]
    assert "2 record(s) had another or no status" in (tmp_path / "sft" / "README.md").read_text()


def test_export_with_an_unreadable_taxonomy_writes_nothing(results, tmp_path, capsys):
    tax = tmp_path / "tax"
    tax.mkdir()
    (tax / "taxonomy.json").write_text('{"format": "steps-taxonomy/1", "root": ')  # torn
    out = tmp_path / "sft" / "train.jsonl"
    assert main(["export", str(results), "--format", "chat", "--taxonomy", str(tax), "--out", str(out)]) == EXIT_USAGE
    assert f"cannot read {tax / 'taxonomy.json'}" in capsys.readouterr().err
    assert not out.exists() and not (out.parent / "README.md").exists()  # exit 2: nothing was done


# ---- steps check


def test_check_whose_judge_answers_carry_no_score_exits_3_and_says_to_retry(tmp_path, monkeypatch, capsys):
    from fake_openai_server import FakeOpenAI
    from test_quality import planted_results

    res, out = tmp_path / "results.jsonl", tmp_path / "checked.jsonl"
    planted_results(res)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-user-errors")
    args = ["check", str(res), "--out", str(out), "--judge-model", "j", "--quiet", "--no-cache", "--json"]
    with FakeOpenAI(default="judge_garbage") as srv:  # every judge answer is prose without a score
        code = main([*args, "--judge-base-url", srv.base_url])
        cap = capsys.readouterr()
        summary = json.loads(cap.out.splitlines()[-1])
        assert summary["judged"] == 0 and summary["reasons"]["judge_unparsed"] == 12
        assert code == EXIT_NOTHING_DONE and summary["exit_code"] == EXIT_NOTHING_DONE
        assert "12 record(s) have no verdict" in cap.err and "--retry-judge-errors" in cap.err
        srv.default = "ok"  # the judge works again: the retry gives every record a verdict
        assert main([*args, "--judge-base-url", srv.base_url, "--retry-judge-errors"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["judged"] == 12


def test_check_of_a_file_with_no_ok_record_exits_3_and_says_why(tmp_path, capsys):
    data = tmp_path / "data.jsonl"  # the input records, not the results of `steps synthesize`
    data.write_text("".join(json.dumps({"id": f"r{i}", "instruction": "x", "skills": ["a"]}) + "\n" for i in range(5)))
    assert main(["check", str(data), "--out", str(tmp_path / "c.jsonl"), "--quiet"]) == EXIT_NOTHING_DONE
    assert f"{data}: no record has status 'ok', so nothing was checked (5 passed through)" in capsys.readouterr().err


# ---- steps name


@pytest.fixture()
def demo_tax(tmp_path):
    from steps_engine.studio.state import demo_mapping, demo_path
    from steps_engine.taxonomy.build import build_taxonomy, save_taxonomy

    folder = tmp_path / "tax"
    save_taxonomy(build_taxonomy(demo_path(), demo_mapping(), height=2, name_rows=0), folder)
    return folder


def test_name_with_a_model_but_no_key_and_no_endpoint_stops_at_once(demo_tax, monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    before = (demo_tax / "taxonomy.json").read_bytes()
    # before the fix every cluster was sent to api.openai.com without a key and retried (10 minutes here), exit 1
    assert main(["name", str(demo_tax), "--model", "m", "--concurrency", "1"]) == EXIT_USAGE
    assert "needs an API key (OPENAI_API_KEY)" in capsys.readouterr().err
    assert (demo_tax / "taxonomy.json").read_bytes() == before


def test_name_exit_status_says_whether_the_llm_named_none_some_or_all(demo_tax, tmp_path, monkeypatch, capsys):
    from fake_openai_server import FakeOpenAI

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-user-errors")
    args = ["name", str(demo_tax), "--model", "m", "--concurrency", "1", "--json"]
    with FakeOpenAI(default="malformed") as srv:  # every answer broken: nothing named, not a crash (was exit 1)
        assert main([*args, "--base-url", srv.base_url, "--cache-dir", str(tmp_path / "c1")]) == EXIT_NOTHING_DONE
        srv.default = "name"
        srv.script += ["malformed"]  # one cluster's answer broken: partly done (4); the rerun finishes it (0)
        assert main([*args, "--base-url", srv.base_url, "--cache-dir", str(tmp_path / "c2")]) == 4
        assert json.loads(capsys.readouterr().out.splitlines()[-1])["failed"] == 1
        assert main([*args, "--base-url", srv.base_url, "--cache-dir", str(tmp_path / "c2")]) == 0
    err = capsys.readouterr().err  # off a terminal: periodic lines, not one '\r' line per cluster
    assert "\r" not in err and 1 <= err.count("steps: naming clusters") <= 3, err


@pytest.mark.parametrize("name, text, reason", [
    ("taxonomy.json", '{"format": "steps-taxonomy/1", "root": ', "Expecting value"),  # torn write / hand edit
    ("taxonomy.json", b"\xff\xfe{}", "not UTF-8"),
    ("graph.csv", "src,dst\na,b\n", "no 'source' field or column"),
    ("input.json", "{", "Expecting property name"),
])
def test_a_broken_file_of_a_taxonomy_folder_is_named(demo_tax, capsys, name, text, reason):
    from steps_engine.taxonomy.build import load_taxonomy

    path = demo_tax / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ValueError, match=f"cannot read {path}: .*{reason}"):
        load_taxonomy(demo_tax)
    assert main(["name", str(demo_tax)]) == EXIT_USAGE  # was the bare JSON error, naming no file
    assert f"cannot read {path}: " in capsys.readouterr().err


# ---- steps synthesize


def test_synthesize_reports_repeated_combinations_bad_bytes_and_a_missing_template(tmp_path, monkeypatch, capsys):
    from test_synthesis import make_combos, make_taxonomy

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    tax = make_taxonomy(tmp_path)
    combos = tmp_path / "combos.jsonl"
    make_combos(combos, n=3)
    lines = combos.read_bytes().splitlines(keepends=True)
    twice = tmp_path / "twice.jsonl"  # two combos files concatenated, and one line with a Latin-1 byte
    twice.write_bytes(b"".join(lines + lines[:2]) + b'{"skills": ["caf\xe9", "alpha"]}\n')
    args = ["synthesize", str(tax), "--combos", str(twice), "--model", "m", "--dry-run", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "dry" / "results.jsonl")]) == 0
    err = capsys.readouterr().err
    assert "2 repeated combination(s)" in err  # were dropped without a word
    assert f"{twice}: line 6: not UTF-8" in err  # was decoded with U+FFFD into a skill 'caf\ufffd'
    assert len((tmp_path / "dry" / "prompts.jsonl").read_text().splitlines()) == 3

    assert main([*args, "--template", "defualt", "--out", str(tmp_path / "x.jsonl")]) == EXIT_USAGE
    assert "template 'defualt': no such file, and not a built-in template (agent, default)" in capsys.readouterr().err
    assert main([*args[:3], str(tmp_path), *args[4:], "--out", str(tmp_path / "x.jsonl")]) == EXIT_USAGE
    assert f"combos file {str(tmp_path)!r} is a folder" in capsys.readouterr().err


# ---- steps combos


def test_combos_scope_below_the_tree_is_refused_not_clipped(demo_tax, tmp_path, capsys):
    from steps_engine.selection.combos import select_combinations
    from steps_engine.selection.search import prepare
    from steps_engine.taxonomy.build import load_taxonomy

    tax = load_taxonomy(demo_tax)  # height 2: level:1 is the skills' parent clusters, level:2 the skills
    assert tax.tree.height == 2
    ctx = prepare(tax.tree, tax.graph)
    assert select_combinations(ctx, 2, scope="level:1").combinations  # the deepest scope that exists
    with pytest.raises(ValueError, match="tree's height is 2"):
        select_combinations(ctx, 2, scope="level:2")  # was silently run as level:1
    out = tmp_path / "c.jsonl"
    assert main(["combos", str(demo_tax), "--k", "2", "--scope", "level:9", "--out", str(out), "--quiet"]) == EXIT_USAGE
    assert "scope level:9 is not above the skills" in capsys.readouterr().err and not out.exists()


# ---- steps taxonomy


def test_taxonomy_whose_min_count_drops_every_skill_says_so(tmp_path, capsys):
    data = tmp_path / "d.jsonl"
    # 4 rows, skills a (in 4 rows), b (2), c (1): --min-count 5 drops all three
    data.write_text("".join(json.dumps({"skills": s}) + "\n" for s in (["a", "b"], ["a", "b"], ["a", "c"], ["a"])))
    assert main(["taxonomy", str(data), "--skills-field", "skills", "--min-count", "5", "--out", str(tmp_path / "t"),
                 "--quiet"]) == EXIT_USAGE
    err = capsys.readouterr().err  # was "no usable rows ... (4 rows read, 0 skipped)", blaming the rows
    assert f"{data}: min_count 5 drops every skill: none of the 3 skills of the 4 usable rows occurs 5 times" in err


# ---- steps tag


def test_tag_of_an_empty_input_exits_3(tmp_path, monkeypatch, capsys):
    import steps_engine.semantic.embeddings as embeddings
    from _embedding_fakes import CountingEmbedder

    monkeypatch.setattr(embeddings, "get_embedder", lambda *a, **k: CountingEmbedder())
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("budgeting\nsql\n")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    out = tmp_path / "tagged.jsonl"
    assert main(["tag", str(empty), "--vocab", str(vocab), "--out", str(out), "--quiet"]) == EXIT_NOTHING_DONE  # was 0
    assert "0 rows written: 0 tagged" in capsys.readouterr().out
    one = tmp_path / "one.jsonl"
    one.write_text(json.dumps({"instruction": "Plan a budget for a family"}) + "\n")
    assert main(["tag", str(one), "--vocab", str(vocab), "--out", str(out), "--quiet"]) == 0


# ---- steps demo


def test_demo_whose_k_selects_nothing_says_so_in_its_exit_status(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "d99"), "--k", "99", "--quiet"]) == EXIT_USAGE  # 96 skills
    assert "k 99 is more than the demo's 96 skills" in capsys.readouterr().err
    assert not (tmp_path / "d99").exists()
    # no top-level cluster of the demo holds 40 skills: 0 combinations selected (was exit 0)
    assert main(["demo", "--out", str(tmp_path / "d40"), "--k", "40", "--quiet", "--json"]) == EXIT_NOTHING_DONE
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["selected"] == 0
    (tmp_path / "file").write_text("x")
    assert main(["demo", "--out", str(tmp_path / "file"), "--quiet"]) == EXIT_USAGE
    assert "is a file, expected a folder" in capsys.readouterr().err


@pytest.mark.parametrize("spec, reason", [
    ([1, 2], "expected a JSON object"),  # was a traceback (AttributeError) in synthesize and name
    ({"path": "data.jsonl", "skills_field": ["skills"]}, "'skills_field' must be a string"),
    ({"path": "data.jsonl", "skills_field": "skills", "shards": [3]}, "'shards' must be a list"),
])
def test_a_hand_broken_input_json_is_named_not_a_traceback(tmp_path, monkeypatch, capsys, spec, reason):
    from test_synthesis import make_combos, make_taxonomy

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    tax = make_taxonomy(tmp_path)
    combos = tmp_path / "combos.jsonl"
    make_combos(combos, n=2)
    (tax / "input.json").write_text(json.dumps(spec))
    assert main(["synthesize", str(tax), "--combos", str(combos), "--model", "m", "--dry-run", "--quiet",
                 "--out", str(tmp_path / "r.jsonl")]) == EXIT_USAGE
    assert f"{tax / 'input.json'}: {reason}" in capsys.readouterr().err
    results = tmp_path / "results.jsonl"
    results.write_text(json.dumps({**ok_record(0), "seeds": [{"skill": "alpha", "source_id": "r001"}]}) + "\n")
    assert main(["check", str(results), "--taxonomy", str(tax), "--out", str(tmp_path / "c.jsonl"), "--quiet"]) == EXIT_USAGE
    assert f"{tax / 'input.json'}: {reason}" in capsys.readouterr().err


def test_name_with_an_input_json_that_is_not_an_object_is_named(demo_tax, capsys):
    (demo_tax / "input.json").write_text("[]")
    assert main(["name", str(demo_tax)]) == EXIT_USAGE
    assert f"cannot read {demo_tax / 'input.json'}: expected a JSON object, got list" in capsys.readouterr().err


DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.mark.skipif(not (DATA / "instruct_skillmix").is_dir(), reason="shared data not present")
def test_taxonomy_of_a_delimited_skills_string_without_its_separator_warns(tmp_path, capsys):
    ism = DATA / "instruct_skillmix" / "ism_sda_k2_1000.json"  # skills_joined_str: "skill_a, skill_b"
    args = ["taxonomy", str(ism), "--skills-field", "skills_joined_str", "--quiet", "--json"]
    assert main([*args, "--out", str(tmp_path / "no_sep")]) == 0
    cap = capsys.readouterr()  # was silent: 1,000 "skills" like 'a, b', 0 edges, a flat tree
    assert json.loads(cap.out.splitlines()[-1])["edges"] == 0
    assert "warning: no two skills share a row (0 edges among 1000 skills)" in cap.err
    assert "give its separator (--skills-sep ', ')" in cap.err
    report = json.loads((tmp_path / "no_sep" / "ingest_report.json").read_text())
    assert report["warnings"] and "0 edges" in report["warnings"][0]
    assert main([*args, "--skills-sep", ", ", "--out", str(tmp_path / "sep")]) == 0
    cap = capsys.readouterr()
    assert json.loads(cap.out.splitlines()[-1])["edges"] > 900 and "warning" not in cap.err


def test_example_records_sharing_an_id_are_reported(tmp_path, monkeypatch, capsys):
    from steps_engine.synthesis.seeds import build_seed_index, load_input_spec

    data = tmp_path / "data.jsonl"
    rows = [{"id": f"r{i}", "instruction": f"task {i}", "skills": ["a", "b"] if i % 2 else ["b", "c"]} for i in range(6)]
    rows[4]["id"] = "r1"  # a second, different record with the id of line 2
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tax = tmp_path / "tax"
    assert main(["taxonomy", str(data), "--skills-field", "skills", "--out", str(tax), "--quiet"]) == 0
    index = build_seed_index(load_input_spec(tax))
    shared = [p for p in index.problems if "name more than one record" in p]
    assert shared == [f"{data}: 1 id(s) of example records name more than one record (e.g. 'r1' on lines 2, 5): "
                      "the results' source ids and the seed-copy check of `steps check` cannot tell them apart; "
                      "give the records distinct ids"]
    rows[4]["id"] = "r4"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert not [p for p in build_seed_index(load_input_spec(tax), check_hash=False).problems if "more than one" in p]


def test_a_taxonomy_run_killed_between_its_files_is_refused_not_mixed(tmp_path, monkeypatch, capsys):
    """`steps taxonomy --out DIR` over an older folder, killed after graph.csv is replaced but
    before taxonomy.json: the old tree must not be read over the new graph."""
    import steps_engine.taxonomy.build as build

    old, new = tmp_path / "old.jsonl", tmp_path / "new.jsonl"
    old.write_text("".join(json.dumps({"skills": s}) + "\n" for s in (["a", "b"], ["b", "c"], ["c", "a"])))
    new.write_text("".join(json.dumps({"skills": s}) + "\n" for s in (["a", "b"], ["a", "b"], ["b", "c"], ["c", "a"])))
    out = tmp_path / "tax"
    assert main(["taxonomy", str(old), "--skills-field", "skills", "--out", str(out), "--quiet"]) == 0

    def killed(*a, **k):
        raise KeyboardInterrupt  # the kill lands after graph.csv and input.json are written
    monkeypatch.setattr(build.EncodingTree, "save", killed)
    assert main(["taxonomy", str(new), "--skills-field", "skills", "--out", str(out), "--quiet"]) == 130
    monkeypatch.undo()
    capsys.readouterr()
    with pytest.raises(ValueError, match="is not the graph .* was built on"):
        build.load_taxonomy(out)
    assert main(["combos", str(out), "--k", "2", "--out", str(tmp_path / "c.jsonl"), "--quiet"]) == EXIT_USAGE
    assert "an interrupted `steps taxonomy`" in capsys.readouterr().err
    assert main(["taxonomy", str(new), "--skills-field", "skills", "--out", str(out), "--quiet"]) == 0  # rebuilt
    assert build.load_taxonomy(out).graph.counts.sum() == 8


def test_a_folder_given_as_a_results_file_is_named(results, tmp_path, monkeypatch, capsys):
    from test_synthesis import make_combos, make_taxonomy

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert main(["check", str(tmp_path), "--out", str(tmp_path / "c.jsonl")]) == EXIT_USAGE
    assert f"results {tmp_path} is a folder" in capsys.readouterr().err  # was "results file not found"
    folder = tmp_path / "out"
    folder.mkdir()
    assert main(["check", str(results), "--out", str(folder), "--quiet"]) == EXIT_USAGE
    assert f"{folder} is a folder, expected a JSONL file to write" in capsys.readouterr().err  # was "[Errno 21] ..."
    tax = make_taxonomy(tmp_path)
    make_combos(tmp_path / "combos.jsonl", n=2)
    assert main(["synthesize", str(tax), "--combos", str(tmp_path / "combos.jsonl"), "--model", "m", "--dry-run",
                 "--out", str(folder), "--quiet"]) == EXIT_USAGE
    assert f"{folder} is a folder, expected a JSONL file to write" in capsys.readouterr().err


def test_combos_to_a_pipe_whose_reader_leaves_stops_quietly(demo_tax):
    """`steps combos DIR --out - | head -1` (a README example) printed "error: Broken pipe", exit 2."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    proc = subprocess.Popen([sys.executable, "-m", "steps_engine", "combos", str(demo_tax), "--k", "3", "--per-start", "8",
                             "--scope", "level:1", "--out", "-", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert json.loads(proc.stdout.readline())["skills"]  # read one line (far less than the pipe's buffer), then leave
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and "error" not in err and "Traceback" not in err, err


def test_a_missing_rubric_or_a_folder_as_batch_output_is_named(results, tmp_path, capsys):
    assert main(["check", str(results), "--out", str(tmp_path / "c.jsonl"), "--rubric", str(tmp_path / "r.txt")]) == 2
    assert f"rubric {str(tmp_path / 'r.txt')!r}: no such file" in capsys.readouterr().err  # was "[Errno 2] ..."
    assert main(["check", str(results), "--out", str(tmp_path / "c.jsonl"), "--rubric", str(tmp_path)]) == 2
    assert f"rubric {str(tmp_path)!r}: a folder, expected a template file" in capsys.readouterr().err
    from steps_engine.synthesis.batch import read_batch_output

    with pytest.raises(ValueError, match="is a folder, expected the Batch API's output JSONL"):
        read_batch_output(tmp_path)  # --import-batch DIR was "[Errno 21] Is a directory"

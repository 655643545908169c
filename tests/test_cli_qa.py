"""Defects found by the adversarial QA pass of the `steps` CLI and the Python API on the real
data (docs/cli_qa.md): each test failed on the code before its fix."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from _synthesis_fixtures import fast
from fake_openai_server import FakeOpenAI
from steps_engine.cli import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, main
from steps_engine.synthesis.runner import prepare_jobs, read_results, synthesize

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
IFEVAL = DATA / "ifeval" / "input_data.jsonl"


@pytest.fixture(scope="module")
def ife(tmp_path_factory):
    """The IFEval taxonomy (25 instruction ids, height 2) and its combinations of k = 3 (one per start)."""
    d = tmp_path_factory.mktemp("ife")
    tax = d / "tax"
    assert main(["taxonomy", str(IFEVAL), "--skills-field", "instruction_id_list", "--text-field", "prompt",
                 "--height", "2", "--out", str(tax), "-q"]) == EXIT_OK
    assert main(["combos", str(tax), "--k", "3", "--out", str(d / "combos.jsonl"), "-q"]) == EXIT_OK
    return tax, d / "combos.jsonl"


@pytest.fixture()
def exported(ife, tmp_path):
    """A results file of 3 ok records synthesized from the IFEval taxonomy (fake server)."""
    tax, combos = ife
    out = tmp_path / "run" / "results.jsonl"
    with FakeOpenAI(default="realistic") as srv:
        rep = synthesize(tax, combos, model="m", out=out, base_url=srv.base_url, limit=3, **fast())
    assert rep.ok == 3
    return out


def _err(capsys) -> str:
    return capsys.readouterr().err


# ---- synthesize


def test_retry_failed_also_runs_the_combinations_never_tried(ife, tmp_path):
    # A run stopped after 3 (Ctrl-C, --limit, --max-cost), then `--retry-failed`: the
    # others, with no record, were counted "already done" and never sent (exit 0).
    tax, combos = ife
    n = len(combos.read_text().splitlines())  # 23 at height 2
    out = tmp_path / "results.jsonl"
    with FakeOpenAI(default="realistic") as srv:
        synthesize(tax, combos, model="m", out=out, base_url=srv.base_url, limit=3, **fast())
        rep = synthesize(tax, combos, model="m", out=out, base_url=srv.base_url, retry_failed=True, **fast())
        assert srv.requests == n
    assert (rep.todo, rep.skipped, rep.ok) == (n - 3, 3, n - 3)
    assert len({r["id"] for r in read_results(out)[0]}) == n


def test_dry_run_with_import_batch_is_refused(ife, tmp_path, capsys):
    # The two exclude each other; the import won silently and the exit status was 3 or 0.
    tax, combos = ife
    batch = tmp_path / "batch_output.jsonl"
    batch.write_text("")
    code = main(["synthesize", str(tax), "--combos", str(combos), "--model", "m", "--dry-run",
                 "--import-batch", str(batch), "--out", str(tmp_path / "r" / "results.jsonl")])
    assert code == EXIT_USAGE
    assert "--dry-run" in _err(capsys) and not (tmp_path / "r").exists()


@pytest.mark.parametrize("flag, value", [("--temperature", "-1"), ("--max-tokens", "0"), ("--max-tokens", "-5")])
def test_request_settings_out_of_range_are_refused(ife, tmp_path, capsys, flag, value):
    # Every request would come back 400; the dry run wrote them into the Batch file unchecked.
    tax, combos = ife
    code = main(["synthesize", str(tax), "--combos", str(combos), "--model", "m", "--dry-run", flag, value,
                 "--out", str(tmp_path / "r" / "results.jsonl")])
    assert code == EXIT_USAGE
    assert flag in _err(capsys) and not (tmp_path / "r").exists()


def test_a_request_field_out_of_range_is_refused_by_the_engine(ife, tmp_path):
    tax, combos = ife
    with pytest.raises(ValueError, match="temperature"):
        synthesize(tax, combos, model="m", out=tmp_path / "r.jsonl", dry_run=True, params={"temperature": -5})


def test_a_skill_whose_only_example_serves_another_skill_is_not_called_missing(tmp_path):
    # Instruct-SkillMix style: a skill seen in one row only, together with another skill of the same
    # combination. Its example is in the data; the message said "no example in the input data".
    rows = [{"skills": ["a", "b"], "instruction": "row one"}, {"skills": ["c", "d"], "instruction": "row two"},
            {"skills": ["c", "e"], "instruction": "row three"}, {"skills": ["d", "e"], "instruction": "row four"}]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["taxonomy", str(data), "--skills-field", "skills", "--height", "2", "--out",
                 str(tmp_path / "t"), "-q"]) == EXIT_OK
    # a and b are both only in row 1: the first takes it, the second has none of its own; x is nowhere
    combos = [{"skills": ["a", "b"], "start": "a"}, {"skills": ["c", "x"], "start": "c"}]
    _, problems = prepare_jobs(tmp_path / "t", combos, model="m")
    text = "\n".join(problems)
    assert "1 skill(s) have no example in the input data: x" in text
    assert "example records already serve another skill of the same combination" in text


@pytest.mark.parametrize("extra, named", [(["--wait", "60", "--poll", "0"], "--poll"), (["--wait", "-3"], "--wait"),
                                          ([], "steps batch submit")])
def test_batch_fetch_with_a_bad_poll_or_nothing_submitted_is_refused(ife, tmp_path, capsys, monkeypatch, extra, named):
    # --poll 0 asked the Batch API for the status in a tight loop; a folder never submitted
    # "fetched" nothing with exit 0.
    tax, combos = ife
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-used")
    run = tmp_path / "dry"
    main(["synthesize", str(tax), "--combos", str(combos), "--model", "m", "--dry-run", "--out", str(run / "results.jsonl")])
    capsys.readouterr()
    code = main(["batch", "fetch", str(run), "--base-url", "http://127.0.0.1:9/v1", *extra])
    assert code == EXIT_USAGE
    assert named in _err(capsys) and not (run / "results.jsonl").exists()


# ---- export


def test_bad_lines_of_a_results_file_say_what_was_wrong(exported, tmp_path, capsys):
    # A Latin-1 line was "invalid JSON" (the combinations reader says "not UTF-8"), and a torn
    # last line was reported twice: "line 8: invalid JSON" and "last line is incomplete".
    lines = exported.read_bytes().splitlines(keepends=True)
    broken = tmp_path / "results.jsonl"
    broken.write_bytes(lines[0] + b'{"id": "x", "note": "caf\xe9"}\n' + b"not json\n" + lines[1] + lines[2][:40])
    assert main(["export", str(broken), "--format", "chat", "--out", str(tmp_path / "sft" / "sft.jsonl")]) == EXIT_OK
    err = _err(capsys)
    assert "line 2: not UTF-8 (invalid byte 0xe9 at byte 25 of the line)" in err  # '{"id": "x", "note": "caf' is 24 bytes
    assert "line 3: invalid JSON (Expecting value" in err
    assert "line 5 is incomplete (an interrupted write)" in err and "line 5: invalid JSON" not in err


def test_export_over_a_file_that_is_not_an_export_is_refused(ife, exported, tmp_path, capsys):
    # `--out runs/tax/taxonomy.json` replaced the taxonomy with chat lines (every later command failed).
    tax, _ = ife
    folder = tmp_path / "tax"
    shutil.copytree(tax, folder)
    before = (folder / "taxonomy.json").read_bytes()
    code = main(["export", str(exported), "--format", "chat", "--out", str(folder / "taxonomy.json")])
    assert code == EXIT_USAGE
    err = _err(capsys)
    assert "taxonomy.json" in err and "not an export" in err
    assert (folder / "taxonomy.json").read_bytes() == before and not (folder / "README.md").exists()
    # a previous export is replaced as before (a rerun), in either format
    out = tmp_path / "sft" / "sft.jsonl"
    assert main(["export", str(exported), "--format", "chat", "--out", str(out)]) == EXIT_OK
    assert main(["export", str(exported), "--format", "sharegpt", "--out", str(out)]) == EXIT_OK
    assert "conversations" in json.loads(out.read_text().splitlines()[0])


@pytest.mark.parametrize("fmt, name", [("chat", "sft.parquet"), ("parquet", "sft.jsonl"), ("alpaca", "sft.parquet")])
def test_export_whose_file_name_says_another_format_is_refused(exported, tmp_path, capsys, fmt, name):
    # `--format chat --out sft.parquet` wrote JSON lines into a .parquet file (readers fail later).
    out = tmp_path / "sft" / name
    assert main(["export", str(exported), "--format", fmt, "--out", str(out)]) == EXIT_USAGE
    assert name in _err(capsys) and not out.parent.exists()


def test_push_to_hub_without_a_card_is_refused_before_anything_is_written(exported, tmp_path, capsys):
    # It was checked after the export: files written, then exit 2 ("nothing was done").
    out = tmp_path / "sft" / "sft.jsonl"
    code = main(["export", str(exported), "--format", "chat", "--no-card", "--push-to-hub", "me/x", "--out", str(out)])
    assert code == EXIT_USAGE
    assert "--no-card" in _err(capsys) and not out.parent.exists()


@pytest.mark.parametrize("license", ["bad license!", "mit\npretty_name: x", ""])
def test_export_license_that_is_no_license_id_is_refused(exported, tmp_path, capsys, license):
    # It went into the card's front matter as given ('license: bad license!'); the Hub refuses such a card.
    out = tmp_path / "sft" / "sft.jsonl"
    assert main(["export", str(exported), "--format", "chat", "--license", license, "--out", str(out)]) == EXIT_USAGE
    assert "license" in _err(capsys) and not out.parent.exists()


# ---- tag, taxonomy, start-up


def test_tag_to_a_folder_is_refused_before_the_model_loads(tmp_path, capsys, monkeypatch):
    # The whole tagging ran, then the rename failed naming the temp file ('.adir.28888....tmp').
    import steps_engine.semantic.embeddings as emb

    def no_model(*a, **k):
        raise AssertionError("the embedding model was loaded")

    monkeypatch.setattr(emb, "get_embedder", no_model)
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("a\nb\n")
    (tmp_path / "adir").mkdir()
    code = main(["tag", str(IFEVAL), "--vocab", str(vocab), "--out", str(tmp_path / "adir")])
    assert code == EXIT_USAGE
    err = _err(capsys)
    assert "is a folder" in err and ".tmp" not in err


@pytest.mark.parametrize("name", ["input.json", "skills.csv"])
def test_taxonomy_written_over_its_own_input_is_refused(tmp_path, capsys, name):
    # `steps taxonomy input.json --out .` replaced the user's data with the taxonomy's input.json
    # (1,000 Instruct-SkillMix examples gone); a CSV called skills.csv went the same way.
    import steps_engine as steps

    rows = json.loads((DATA / "instruct_skillmix" / "ism_sda_k2_1000.json").read_text())[:50]
    data = tmp_path / name
    if name.endswith(".json"):
        data.write_text(json.dumps(rows))
    else:
        data.write_text("skills\n" + "".join(f'"{r["skills_joined_str"]}"\n' for r in rows))
    before = data.read_bytes()
    code = main(["taxonomy", str(data), "--skills-field", "skills_joined_str" if name.endswith(".json") else "skills",
                 "--skills-sep", ", ", "--height", "2", "--out", str(tmp_path)])
    assert code == EXIT_USAGE
    assert "would replace the input" in _err(capsys) and data.read_bytes() == before
    assert not (tmp_path / "taxonomy.json").exists()
    # the Python API: building is fine, saving over the input is refused
    field = "skills_joined_str" if name.endswith(".json") else "skills"
    tax = steps.build_taxonomy(steps.load(data, skills_field=field, skills_sep=", "), height=2)
    with pytest.raises(ValueError, match="would replace the input"):
        tax.save(tmp_path)
    assert data.read_bytes() == before


def test_taxonomy_text_field_found_in_no_record_is_refused(tmp_path, capsys):
    # `--text-field nosuch` built the taxonomy (exit 0); synthesis later found no example text at all.
    code = main(["taxonomy", str(IFEVAL), "--skills-field", "instruction_id_list", "--text-field", "promt",
                 "--out", str(tmp_path / "t")])
    assert code == EXIT_USAGE
    err = _err(capsys)
    assert "--text-field 'promt'" in err and "prompt" in err and not (tmp_path / "t").exists()
    assert main(["taxonomy", str(IFEVAL), "--skills-field", "instruction_id_list", "--text-field", "prompt",
                 "--height", "2", "--out", str(tmp_path / "ok"), "-q"]) == EXIT_OK


@pytest.mark.parametrize("value", ["-1", "1"])
def test_taxonomy_max_skills_per_row_names_the_flag(tmp_path, capsys, value):
    # The message named the engine's parameter ("max_skills must be ... or None").
    code = main(["taxonomy", str(IFEVAL), "--skills-field", "instruction_id_list", "--max-skills-per-row", value,
                 "--out", str(tmp_path / "t")])
    assert code == EXIT_USAGE
    err = _err(capsys)
    assert "--max-skills-per-row" in err and "max_skills " not in err and not (tmp_path / "t").exists()


def test_ctrl_c_while_the_command_starts_is_not_a_traceback(monkeypatch, capsys):
    # Ctrl-C in the first second (imports, parsing) printed a traceback and died of SIGINT.
    import steps_engine.cli as cli

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert cli.main(["demo", "--out", "x"]) == EXIT_INTERRUPTED
    assert "interrupted" in _err(capsys)


# ---- Python API


def test_api_dry_run_says_what_it_wrote_and_empty_combinations_are_refused(ife, tmp_path, monkeypatch):
    # Without a key `steps.synthesize` showed "Results(0 in prompts.jsonl: none)" for 23 prompts written,
    # and an empty selection "synthesized" nothing without a word.
    import steps_engine as steps

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    tax, combos = ife
    t = steps.load_taxonomy(tax)
    n = len(combos.read_text().splitlines())
    res = steps.synthesize(t, str(combos), model="m", out=tmp_path / "r" / "results.jsonl")
    assert repr(res) == f"Results(dry run: {n} prompts in prompts.jsonl; no API key (OPENAI_API_KEY), nothing sent)"
    with pytest.raises(ValueError, match="no combinations"):
        steps.synthesize(t, [], model="m", out=tmp_path / "e" / "results.jsonl", dry_run=True)
    assert not (tmp_path / "e").exists()


def test_api_build_taxonomy_warns_of_skipped_rows(recwarn):
    # 2 of 5 rows could not be used (a null, a number) and the notebook said nothing ("never drop silently").
    import steps_engine as steps

    rows = [{"s": ["a", "b"]}, {"s": "notalist"}, {"s": None}, 5, {"s": ["b", "c"]}]
    with pytest.warns(UserWarning, match=r"2 of 5 rows skipped \(record 3: .*null; record 4: not a JSON object"):
        steps.build_taxonomy(steps.load(rows, skills_field="s"), height=2)
    clean = [{"s": ["a", "b"]}, {"s": ["b", "c"]}]
    steps.build_taxonomy(steps.load(clean, skills_field="s"), height=2)
    assert not [w for w in recwarn if "skipped" in str(w.message)]


# ---- combos


@pytest.mark.parametrize("name", ["input.json", "skills.csv"])
def test_combinations_written_over_a_taxonomy_file_are_refused(ife, tmp_path, capsys, name):
    # `steps combos tax --out tax/input.json` replaced the taxonomy's rows with combinations
    # (exit 0), and the next `steps synthesize tax` failed on them.
    tax = tmp_path / "tax"
    shutil.copytree(ife[0], tax)
    before = (tax / name).read_bytes()
    assert main(["combos", str(tax), "--k", "3", "--out", str(tax / name), "-q"]) == EXIT_USAGE
    assert "taxonomy's" in _err(capsys) and (tax / name).read_bytes() == before


def test_combinations_into_a_folder_are_refused_before_the_search(ife, tmp_path, capsys, monkeypatch):
    # --out FOLDER ran the whole search and then failed with "Is a directory".
    import steps_engine.selection.combos as selection_combos

    monkeypatch.setattr(selection_combos, "select_combinations", lambda *a, **kw: pytest.fail("the search started"))
    assert main(["combos", str(ife[0]), "--k", "3", "--out", str(tmp_path), "-q"]) == EXIT_USAGE
    assert "is a folder" in _err(capsys)


# ---- check


def test_decontamination_against_a_field_no_record_has_is_refused(exported, tmp_path, capsys):
    # --decontaminate-field nosuch indexed nothing, decontaminated nothing and exited 0, with a
    # message blaming texts "shorter than 8 words".
    out = tmp_path / "checked.jsonl"
    code = main(["check", str(exported), "--out", str(out), "--decontaminate", str(IFEVAL),
                 "--decontaminate-field", "nosuch", "--quiet"])
    err = _err(capsys)
    assert code == EXIT_USAGE
    assert "'nosuch'" in err and "prompt" in err and "540 records" in err  # the field, the fields it has, how many records
    assert not out.exists()
    # a field the records have is accepted
    assert main(["check", str(exported), "--out", str(out), "--decontaminate", str(IFEVAL),
                 "--decontaminate-field", "prompt", "--quiet"]) == EXIT_OK


@pytest.mark.parametrize("args, named", [
    (["--ngram", "0"], "--ngram"), (["--min-chars", "500", "--max-chars", "100"], "--max-chars"),
    (["--dedup-threshold", "3"], "--dedup-threshold"), (["--seed-threshold", "-1"], "--seed-threshold"),
    (["--min-score", "11"], "--min-score"), (["--embed-dedup", "2"], "--embed-dedup"),
    (["--timeout", "0"], "--timeout"), (["--max-retries", "-1"], "--max-retries"),
])
def test_check_values_out_of_range_name_the_flag(exported, tmp_path, capsys, args, named):
    # the messages named engine parameters ("need 0 <= min_chars <= max_chars"); --timeout 0
    # and --max-retries -1 were accepted
    out = tmp_path / "checked.jsonl"
    assert main(["check", str(exported), "--out", str(out), *args]) == EXIT_USAGE
    assert f"error: {named} must be" in _err(capsys) and not out.exists()


def test_check_progress_in_a_log_has_no_carriage_returns(exported, tmp_path, capsys):
    # with stderr not a terminal, check drew tqdm bars ("\r") into the log, against docs/cli.md
    assert main(["check", str(exported), "--out", str(tmp_path / "checked.jsonl")]) == EXIT_OK
    err = _err(capsys)
    assert "\r" not in err and "steps: checks" in err


def test_check_into_a_file_it_did_not_write_is_refused_before_the_checks(ife, exported, tmp_path, capsys, monkeypatch):
    # --out runs/tax/taxonomy.json was refused, but only after the near-duplicate pass had run
    import importlib

    quality_check = importlib.import_module("steps_engine.quality.check")  # the module, not the function
    target = tmp_path / "taxonomy.json"
    shutil.copy(ife[0] / "taxonomy.json", target)
    before = target.read_bytes()
    monkeypatch.setattr(quality_check, "automatic_checks", lambda *a, **kw: pytest.fail("the checks ran"))
    assert main(["check", str(exported), "--out", str(target), "--quiet"]) == EXIT_USAGE
    assert "not an output of `steps check`" in _err(capsys) and target.read_bytes() == before

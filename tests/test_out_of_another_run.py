"""`--out` of a resuming command (synthesize, check, batch fetch) that holds something else: an
unrelated JSONL, another run's results, a checked file. Refused with exit 2, the file untouched."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from fake_openai_server import FakeOpenAI
from steps_engine.cli import EXIT_OK, EXIT_USAGE, main
from steps_engine.synthesis import batch_api
from steps_engine.synthesis.runner import read_results
from test_synthesis import make_combos, setup  # noqa: F401  (setup is a fixture)


def _syn(tax, combos, out, srv, *extra):
    return ["synthesize", str(tax), "--combos", str(combos), "--model", "m", "--out", str(out), "--quiet",
            "--limit", "3", "--max-retries", "0", "--no-cache", "--base-url", srv.base_url, *extra]


@pytest.fixture()
def key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-" + uuid.uuid4().hex)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def _refused(capsys, path: Path, before: bytes, *words, lock_before: bool = True) -> str:
    err = capsys.readouterr().err
    assert str(path) in err and "nothing was written" in err and all(w in err for w in words), err
    assert path.read_bytes() == before  # not appended to, no torn line cut off
    assert lock_before or not Path(str(path) + ".lock").exists()  # no lock file left beside another's file
    return err


def test_synthesize_refuses_an_unrelated_jsonl_and_leaves_it_as_it_was(setup, tmp_path, key, capsys):
    tax, combos = setup
    data = tmp_path / "data.jsonl"  # the taxonomy's own input records: ids but no status
    other = tmp_path / "notes.jsonl"
    other.write_bytes(b'{"text": "a note"}\n{"id": "n2"')  # no id; a last line without \n
    with FakeOpenAI() as srv:
        before = data.read_bytes()
        assert main(_syn(tax, combos, data, srv)) == EXIT_USAGE
        _refused(capsys, data, before, "record r000 has status None", lock_before=False)  # was: 3 results appended to the data
        before = other.read_bytes()
        assert main(_syn(tax, combos, other, srv)) == EXIT_USAGE  # was: "n2" cut off, 3 records appended
        _refused(capsys, other, before, "line 1 is not a `steps synthesize` result record (no string 'id')",
                 lock_before=False)
        text = tmp_path / "vocab.jsonl"
        text.write_bytes(b"alpha\nbeta\n")
        assert main(_syn(tax, combos, text, srv)) == EXIT_USAGE
        _refused(capsys, text, b"alpha\nbeta\n", "holds no result record", lock_before=False)
        assert srv.requests == 0
        assert main(_syn(tax, combos, text, srv, "--dry-run")) == EXIT_USAGE  # the dry run reads it too


def test_synthesize_refuses_results_of_other_options_and_other_combinations(setup, tmp_path, key, capsys):
    tax, combos = setup
    out = tmp_path / "r.jsonl"
    with FakeOpenAI() as srv:
        assert main(_syn(tax, combos, out, srv)) == EXIT_OK
        before = out.read_bytes()
        for extra in (["--seed", "1"], ["--temperature", "0.2"], ["--agent-filter"]):
            assert main(_syn(tax, combos, out, srv, *extra, "--limit", "5")) == EXIT_USAGE, extra
            _refused(capsys, out, before, "written by a run with other options")
        for extra in (["--template", "agent"], ["--model", "m2"]):  # ids name model and template
            assert main(_syn(tax, combos, out, srv, *extra)) == EXIT_USAGE, extra
            _refused(capsys, out, before, "are not combinations of this run")
        fewer = tmp_path / "fewer.jsonl"
        make_combos(fewer, n=2)  # the first two combinations only: the third record is another plan's
        assert main(_syn(tax, fewer, out, srv)) == EXIT_USAGE
        _refused(capsys, out, before, "1 of its 3 record(s) are not combinations of this run")
        calls = srv.requests
        # the same run resumes as before: 2 more with --limit 5, then --retry-failed (none failed)
        assert main(_syn(tax, combos, out, srv, "--limit", "5")) == EXIT_OK
        assert main(_syn(tax, combos, out, srv, "--limit", "5", "--retry-failed")) == EXIT_OK
    assert srv.requests == calls + 2
    recs = read_results(out)[0]
    assert len(recs) == 5 and len({r["run"] for r in recs}) == 1


def test_synthesize_resumes_a_results_file_without_fingerprints(setup, tmp_path, key, capsys):
    """Files of the version before fingerprints: resumed when they hold this plan's records."""
    tax, combos = setup
    out = tmp_path / "r.jsonl"
    with FakeOpenAI() as srv:
        assert main(_syn(tax, combos, out, srv)) == EXIT_OK
        old = [{k: v for k, v in r.items() if k != "run"} for r in read_results(out)[0]]
        out.write_text("".join(json.dumps(r) + "\n" for r in old))
        capsys.readouterr()
        assert main(_syn(tax, combos, out, srv, "--limit", "4")) == EXIT_OK
        assert "3 record(s) carry no run fingerprint" in capsys.readouterr().err
        assert srv.requests == 3 + 1
        fewer = tmp_path / "fewer.jsonl"
        make_combos(fewer, n=2)
        assert main(_syn(tax, fewer, out, srv)) == EXIT_USAGE  # the plan is still checked


def test_synthesize_refuses_a_checked_file(setup, tmp_path, key, capsys):
    tax, combos = setup
    out, checked = tmp_path / "r.jsonl", tmp_path / "c.jsonl"
    with FakeOpenAI() as srv:
        assert main(_syn(tax, combos, out, srv)) == EXIT_OK
        main(["check", str(out), "--out", str(checked), "--quiet"])
        before = checked.read_bytes()
        assert main(_syn(tax, combos, checked, srv)) == EXIT_USAGE
    _refused(capsys, checked, before, "written by `steps check`")


def test_check_refuses_a_file_it_did_not_write_or_wrote_from_other_results(setup, tmp_path, key, capsys):
    tax, combos = setup
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    checked = tmp_path / "checked.jsonl"
    with FakeOpenAI() as srv:
        assert main(_syn(tax, combos, a, srv)) == EXIT_OK
        assert main(_syn(tax, combos, b, srv, "--seed", "3")) == EXIT_OK  # the same ids, another run
    fewer = tmp_path / "first2.jsonl"
    fewer.write_text("".join(json.dumps(r) + "\n" for r in read_results(a)[0][:2]))
    chk = lambda results, out: main(["check", str(results), "--out", str(out), "--quiet", "--no-seed-check"])  # noqa: E731
    notes = tmp_path / "notes.jsonl"
    notes.write_bytes(b'{"text": "a note"}\n')
    assert chk(a, notes) == EXIT_USAGE  # was: 3 checked records appended to it
    _refused(capsys, notes, b'{"text": "a note"}\n', "line 1 is not a checked record", lock_before=False)
    data = tmp_path / "data.jsonl"
    before = data.read_bytes()
    assert chk(a, data) == EXIT_USAGE  # was refused as "checked with other settings"
    _refused(capsys, data, before, "40 record(s) carry no check verdict", lock_before=False)
    before = b.read_bytes()
    assert chk(a, b) == EXIT_USAGE  # a results file, not a checked one
    _refused(capsys, b, before, "carry no check verdict")
    assert chk(a, checked) == EXIT_OK
    before = checked.read_bytes()
    assert chk(b, checked) == EXIT_USAGE
    _refused(capsys, checked, before, "another synthesis run's results")
    assert chk(fewer, checked) == EXIT_USAGE
    _refused(capsys, checked, before, f"1 of its 3 record(s) are not in {fewer}")
    assert chk(a, checked) == EXIT_OK and checked.read_bytes() == before  # its own resume: nothing to do


def test_batch_import_refuses_another_runs_results(setup, tmp_path, key, capsys):
    tax, combos = setup
    folder, out = tmp_path / "dry", tmp_path / "r.jsonl"
    with FakeOpenAI() as srv:
        assert main(_syn(tax, combos, folder / "r.jsonl", srv, "--dry-run")) == EXIT_OK
        assert main(_syn(tax, combos, out, srv, "--seed", "4")) == EXIT_OK
    answer = {"id": "x", "custom_id": json.loads((folder / "prompts.jsonl").read_text().splitlines()[0])["id"],
              "response": {"status_code": 200, "body": {"model": "m", "choices": [{"message": {"content": "hi"}}],
                                                        "usage": {}}}}
    output = tmp_path / "batch_output.jsonl"
    output.write_text(json.dumps(answer) + "\n")
    before = out.read_bytes()
    with pytest.raises(ValueError, match="written by a run with other options"):
        batch_api.import_outputs(folder / "prompts.jsonl", [output], out)
    assert out.read_bytes() == before
    rep = batch_api.import_outputs(folder / "prompts.jsonl", [output], folder / "r.jsonl")  # its own run
    assert sum(rep.imported.values()) == 1

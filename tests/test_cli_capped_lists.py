"""Every command that prints a capped list of problems prints the first 20 (10 for bad combination
lines) and then one "... N more" line (cli.args.print_first), so a user can tell lines were cut."""

from __future__ import annotations

import json
import re
from pathlib import Path

from _synthesis_fixtures import fast
from fake_batch_server import FakeBatchAPI
from fake_openai_server import FakeOpenAI
from steps_engine.cli import main
from steps_engine.synthesis.runner import synthesize
from test_synthesis import make_combos, make_taxonomy

REPO = Path(__file__).resolve().parents[1]
BAD = 25  # bad lines planted: 20 are shown, then "... 5 more" (plus whatever else the command reports)


def bad_lines(n: int = BAD) -> str:
    return "".join(f"{{not json {i}\n" for i in range(n))


def assert_capped(err: str, total: int, more: str, limit: int = 20, marker: str = "invalid JSON") -> None:
    """`total` problems were found: exactly `limit` lines holding `marker`, then `more` with total - limit."""
    assert total > limit
    assert f"{more.format(n=total - limit)}\n" in err, err
    assert sum(marker in line for line in err.splitlines()) == limit, err


def ok_results(tmp_path: Path, server) -> tuple[Path, Path, Path]:
    tax = make_taxonomy(tmp_path)
    combos = tmp_path / "combos.jsonl"
    make_combos(combos, n=3)
    out = tmp_path / "results.jsonl"
    rep = synthesize(tax, combos, model="m", out=out, base_url=server.base_url, use_cache=False, **fast())
    assert rep.ok == 3
    return tax, combos, out


def test_export_and_check_say_how_many_problems_were_not_shown(tmp_path, server, capsys):
    _, _, out = ok_results(tmp_path, server)
    with open(out, "a", encoding="utf-8") as fh:
        fh.write(bad_lines())
    capsys.readouterr()
    assert main(["export", str(out), "--format", "chat", "--out", str(tmp_path / "sft" / "sft.jsonl"), "--json"]) == 0
    cap = capsys.readouterr()
    assert_capped(cap.err, len(json.loads(cap.out.splitlines()[-1])["problems"]), "steps export: ... {n} more problems")
    assert main(["export", str(out), "--format", "chat", "--out", "-"]) == 0
    assert_capped(capsys.readouterr().err, BAD, "steps export: ... {n} more problems")

    checked = tmp_path / "checked.jsonl"
    assert main(["check", str(out), "--out", str(checked), "--quiet", "--json"]) == 0
    cap = capsys.readouterr()
    # 25 bad lines + 2 "no --taxonomy folder" notes
    assert_capped(cap.err, json.loads(cap.out.splitlines()[-1])["problems"], "steps check: ... {n} more problems")
    assert main(["check", str(out), "--out", str(checked), "--judge-model", "m", "--estimate"]) == 0
    err = capsys.readouterr().err
    assert_capped(err, 20 + int(re.search(r"steps check: \.\.\. (\d+) more problems\n", err)[1]),
                  "steps check: ... {n} more problems")


def test_synthesize_says_how_many_problems_were_not_shown(tmp_path, server, monkeypatch, capsys):
    tax, combos, out = ok_results(tmp_path, server)
    with open(out, "a", encoding="utf-8") as fh:
        fh.write(bad_lines())
    capsys.readouterr()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-capped")
    code = main(["synthesize", str(tax), "--combos", str(combos), "--model", "m", "--out", str(out),
                 "--base-url", server.base_url, "--quiet", "--json"])
    cap = capsys.readouterr()
    assert code == 0
    assert_capped(cap.err, json.loads(cap.out.splitlines()[-1])["problems"], "steps synthesize: ... {n} more problems")

    bad_combos = tmp_path / "bad_combos.jsonl"
    bad_combos.write_text(combos.read_text() + bad_lines(15))
    main(["synthesize", str(tax), "--combos", str(bad_combos), "--model", "m", "--out", str(tmp_path / "r2.jsonl"),
          "--estimate"])
    assert_capped(capsys.readouterr().err, 15, f"{bad_combos}: ... {{n}} more bad lines skipped", limit=10,
                  marker=f"{bad_combos}: line")


def test_batch_fetch_says_how_many_problems_were_not_shown(tmp_path, monkeypatch, capsys):
    tax = make_taxonomy(tmp_path)
    combos = tmp_path / "combos.jsonl"
    make_combos(combos, n=3)
    folder = tmp_path / "dry"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-capped")
    assert main(["synthesize", str(tax), "--combos", str(combos), "--model", "m", "--dry-run", "--quiet",
                 "--out", str(folder / "results.jsonl")]) == 0
    first = json.loads((folder / "prompts.jsonl").read_text().splitlines()[0])  # one record of this run, then junk
    record = {**first, "status": "failed", "reason": "HTTP 500", "messages": None}
    (folder / "results.jsonl").write_text(json.dumps(record) + "\n" + bad_lines())
    with FakeBatchAPI(polls_to_complete=1) as srv:
        assert main(["batch", "submit", str(folder), "--base-url", srv.base_url]) == 0
        capsys.readouterr()
        assert main(["batch", "fetch", str(folder), "--base-url", srv.base_url, "--json"]) == 0
    cap = capsys.readouterr()
    assert_capped(cap.err, len(json.loads(cap.out.splitlines()[-1])["problems"]), "steps batch: ... {n} more problems")


def test_name_says_how_many_clusters_kept_the_keyword_name(tmp_path, monkeypatch, capsys):
    tax = tmp_path / "tax"
    assert main(["taxonomy", str(REPO / "assets" / "demo" / "demo.jsonl"), "--skills-field", "skills",
                 "--out", str(tax), "--quiet"]) == 0
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-capped")
    with FakeOpenAI(default="malformed") as srv:  # every answer broken: every cluster keeps its keyword name
        capsys.readouterr()
        assert main(["name", str(tax), "--model", "m", "--base-url", srv.base_url, "--cache-dir", str(tmp_path / "c"),
                     "--json"]) == 3  # nothing named
    cap = capsys.readouterr()
    failed = json.loads(cap.out.splitlines()[-1])["failed"]
    assert_capped(cap.err, failed, "steps name: ... {n} more clusters kept the keyword name",
                  marker="kept the keyword name (")

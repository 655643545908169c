"""CLI habits: --version, examples in every --help, plain progress lines off a terminal,
-v/-q through logging, --json errors, `-` for stdout."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from steps_engine import __version__
from steps_engine.cli import SUBCOMMANDS, build_parser, main
from steps_engine.cli.progress import LineBar

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "assets" / "demo" / "demo.jsonl"


def steps(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "steps_engine", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"steps {__version__}"


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_help_has_examples(name):
    parser = build_parser()
    sp = parser._subparsers._group_actions[0].choices[name]
    text = sp.format_help()
    assert "examples:" in text and f"steps {name}" in text.split("examples:", 1)[1]


def test_progress_off_a_terminal_is_periodic_lines_without_carriage_returns():
    now = [0.0]
    out = io.StringIO()
    bar = LineBar("ingest", 1000, "B", stream=out, every=10.0, clock=lambda: now[0])
    for _ in range(10):  # 100 bytes every 3 s: a line at the first update (t=3), at t=15 and t=27 (10 s on), at the end
        now[0] += 3.0
        bar.update(100)
    bar.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert lines == ["steps: ingest 10% (100 B of 1.0 kB)", "steps: ingest 50% (500 B of 1.0 kB)",
                     "steps: ingest 90% (900 B of 1.0 kB)", "steps: ingest 100% (1.0 kB of 1.0 kB)"]


def test_taxonomy_cli_off_a_terminal_logs_lines_and_verbose_adds_info(tmp_path, capsys):
    # in-process: pytest's captured stderr is not a terminal, as in a log file or CI
    assert main(["taxonomy", str(DEMO), "--skills-field", "skills", "--height", "2", "--out", str(tmp_path / "t"), "-v"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    assert any(l.startswith("steps: ingest") and "%" in l for l in err.splitlines()), err
    assert any("587 rows read, 587 used" in l for l in err.splitlines()), err  # the INFO log line
    assert main(["taxonomy", str(DEMO), "--skills-field", "skills", "--height", "2", "--out", str(tmp_path / "t2"), "-q"]) == 0
    assert capsys.readouterr().err == ""
    assert main(["-q", "taxonomy", str(DEMO), "--skills-field", "skills", "--height", "2", "--out", str(tmp_path / "t3")]) == 0
    assert capsys.readouterr().err == ""


def test_json_errors_are_an_object_on_stdout(tmp_path, capsys):
    code = main(["taxonomy", str(tmp_path / "missing.jsonl"), "--skills-field", "s", "--out", str(tmp_path / "o"), "--json"])
    out, err = capsys.readouterr()
    assert code == 2 and "input file not found" in err
    assert json.loads(out.splitlines()[-1]) == {"error": f"input file not found: {tmp_path / 'missing.jsonl'}: no such file",
                                                "command": "taxonomy", "exit_code": 2}


def test_dash_is_stdout_for_combos_and_export(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a file named "-" would appear here
    t = tmp_path / "t"
    assert main(["taxonomy", str(DEMO), "--skills-field", "skills", "--height", "2", "--out", str(t), "-q"]) == 0
    capsys.readouterr()
    assert main(["combos", str(t), "--k", "3", "--scope", "level:1", "--out", "-", "-q"]) == 0
    out, err = capsys.readouterr()
    combos = [json.loads(l) for l in out.splitlines()]
    assert combos and all(len(c["skills"]) == 3 for c in combos) and "wrote" in err
    results = tmp_path / "results.jsonl"
    conv = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    results.write_text(json.dumps({"id": "a1", "status": "ok", "skills": ["x", "y"], "k": 2, "messages": conv}) + "\n")
    r = steps("export", results, "--format", "chat", "--out", "-", cwd=tmp_path)  # a real stdout pipe
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["messages"] == conv and "1 records -> stdout" in r.stderr
    assert main(["export", str(results), "--format", "parquet", "--out", "-"]) == 2
    assert "Parquet is binary" in capsys.readouterr().err
    assert not (tmp_path / "-").exists() and not (tmp_path / "README.md").exists()

"""`steps taxonomy` end to end, checked from its files by an independent implementation."""

import csv
import json
import math
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
DEMO = ROOT / "assets" / "demo" / "demo.jsonl"


def steps(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "steps_engine", *map(str, args)], capture_output=True, text=True, cwd=cwd or ROOT
    )


def outside_check_entropy(out: Path) -> tuple[float, int, set]:
    """Recompute H^T from graph.csv + taxonomy.json with plain Python sets and dicts."""
    deg = defaultdict(float)
    edges = []
    with open(out / "graph.csv", newline="", encoding="utf-8") as fh:
        rows = csv.DictReader(fh)
        assert rows.fieldnames[:3] == ["source", "target", "weight"]
        for r in rows:
            w = float(r["weight"])
            edges.append((r["source"], r["target"], w))
            deg[r["source"]] += w
            deg[r["target"]] += w
    vol = sum(deg.values())
    tax = json.loads((out / "taxonomy.json").read_text(encoding="utf-8"))
    assert tax["format"] == "steps-taxonomy/1"
    total, height, leaves = 0.0, 0, []

    def skills_of(node):
        if "skill" in node:
            return {node["skill"]}
        return set().union(*(skills_of(c) for c in node["children"])) if node["children"] else set()

    def walk(node, parent_vol, depth):
        nonlocal total, height
        s = skills_of(node)
        v = sum(deg[x] for x in s)
        if depth > 0 and v > 0:
            g = sum(w for a, b, w in edges if (a in s) != (b in s))
            total -= g / vol * math.log2(v / parent_vol)
        height = max(height, depth)
        if "skill" in node:
            leaves.append(node["skill"])
            assert "children" not in node
        else:
            for c in node["children"]:
                walk(c, v, depth + 1)

    walk(tax["root"], vol, 0)
    assert len(leaves) == len(set(leaves)), "a skill appears in two leaves"
    return total, height, set(leaves)


def test_ifeval_taxonomy_contract(tmp_path):
    if not DATA.exists():
        pytest.skip("shared data not available")
    out = tmp_path / "tax"
    r = steps("taxonomy", DATA / "ifeval/input_data.jsonl", "--skills-field", "instruction_id_list",
              "--height", 3, "--out", out, "--json", "--quiet")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["rows_read"] == 540 and summary["rows_skipped"] == 0 and summary["skills"] == 25
    tax = json.loads((out / "taxonomy.json").read_text())
    h, height, leaves = outside_check_entropy(out)
    assert tax["structural_entropy"] == pytest.approx(h, rel=1e-6)
    assert summary["structural_entropy"] == pytest.approx(h, rel=1e-6)
    assert height <= 3 and tax["height"] == 3
    with open(out / "skills.csv", newline="") as fh:
        skills = {r["skill"]: int(r["count"]) for r in csv.DictReader(fh)}
    assert leaves == set(skills) and len(skills) == 25
    assert sum(skills.values()) == sum(
        len(set(json.loads(l)["instruction_id_list"])) for l in open(DATA / "ifeval/input_data.jsonl")
    )
    spec = json.loads((out / "input.json").read_text())
    assert spec["skills_field"] == "instruction_id_list" and len(spec["sha256"]) == 64


@pytest.mark.parametrize("weighting", ["steps", "count", "ppmi", "npmi"])
def test_every_weighting_writes_a_consistent_folder(tmp_path, weighting):
    if not DEMO.exists():
        pytest.skip("demo data not written yet")
    out = tmp_path / weighting
    r = steps("taxonomy", DEMO, "--skills-field", "skills", "--weighting", weighting, "--min-count", 2,
              "--out", out, "--json", "--quiet")
    assert r.returncode == 0, r.stderr
    tax = json.loads((out / "taxonomy.json").read_text())
    h, height, _ = outside_check_entropy(out)
    assert tax["weighting"] == weighting
    assert tax["structural_entropy"] == pytest.approx(h, rel=1e-6)
    assert tax["structural_entropy"] < tax["one_dim_entropy"]
    assert height <= 4


def test_bad_rows_are_reported_and_the_run_goes_on(tmp_path):
    src = tmp_path / "mixed.jsonl"
    src.write_bytes(
        b'{"skills": ["a", "b"]}\n'
        b'{"skills": ["a", "c"\n'  # truncated
        b'{"skills": 5}\n'  # wrong type
        b'{"skills": ["b", "c", "a"]}\n'
        b'\xff\xfe not utf-8\n'
    )
    r = steps("taxonomy", src, "--skills-field", "skills", "--out", tmp_path / "o", "--json", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "line 2" in r.stderr and "line 3" in r.stderr and "line 5" in r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert (summary["rows_read"], summary["rows_used"], summary["rows_skipped"]) == (5, 2, 3)
    report = json.loads((tmp_path / "o" / "ingest_report.json").read_text())
    assert [b["line"] for b in report["skipped"]] == [2, 3, 5]


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.jsonl", "--skills-field", "skills"], "input file not found"),
        (["EMPTY", "--skills-field", "skills"], "no usable rows"),
        (["EMPTY", "--skills-field", "skills", "--height", "0"], "--height must be >= 1"),
        (["EMPTY", "--skills-field", "skills", "--min-count", "0"], "--min-count must be >= 1"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path, args, message):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    args = [str(empty) if a == "EMPTY" else a for a in args]
    r = steps("taxonomy", *args, "--out", tmp_path / "o", "--quiet")
    assert r.returncode == 2
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and message in lines[0], r.stderr


# ---- QA regressions ----
def test_a_folder_as_input_and_a_file_as_out_are_named(tmp_path):
    r = steps("taxonomy", tmp_path, "--skills-field", "skills", "--out", tmp_path / "o", "--quiet")
    assert r.returncode == 2 and f"input {tmp_path} is a folder with no data file" in r.stderr, r.stderr
    src = tmp_path / "ok.jsonl"
    src.write_text('{"skills": ["a", "b"]}\n')
    taken = tmp_path / "taken.txt"
    taken.write_text("x")
    r = steps("taxonomy", src, "--skills-field", "skills", "--out", taken, "--quiet")
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert r.returncode == 2 and len(lines) == 1 and "is a file, expected a folder" in lines[0], r.stderr


def test_when_every_row_is_bad_the_error_gives_the_first_reason(tmp_path):
    src = tmp_path / "broken.json"
    src.write_text('[{"skills": ["a", "b"]')  # a truncated JSON array: one record, unreadable
    r = steps("taxonomy", src, "--skills-field", "skills", "--out", tmp_path / "o", "--quiet")
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert "no usable rows" in lines[0] and "first:" in lines[0] and "invalid JSON" in lines[0]


def test_invalid_json_reason_gives_a_character_offset_not_an_inner_line(tmp_path):
    src = tmp_path / "t.jsonl"
    src.write_text('{"skills": ["a", "b"]}\n{"skills": ["b",\n{"skills": ["a", "c"]}\n')
    r = steps("taxonomy", src, "--skills-field", "skills", "--out", tmp_path / "o", "--quiet")
    assert r.returncode == 0, r.stderr
    bad = [l for l in r.stderr.splitlines() if "skipped line 2" in l]
    assert bad and "of the line" in bad[0] and "column" not in bad[0], r.stderr


def test_both_builders_write_consistent_folders_and_the_default_is_not_worse(tmp_path):
    if not DEMO.exists():
        pytest.skip("demo data not written yet")
    h = {}
    for builder in ("multilevel", "greedy"):
        out = tmp_path / builder
        r = steps("taxonomy", DEMO, "--skills-field", "skills", "--builder", builder, "--out", out, "--json", "--quiet")
        assert r.returncode == 0, r.stderr
        tax = json.loads((out / "taxonomy.json").read_text())
        h[builder], height, _ = outside_check_entropy(out)
        assert tax["builder"] == builder and height <= 4
        assert tax["structural_entropy"] == pytest.approx(h[builder], rel=1e-6)
    assert h["multilevel"] <= h["greedy"] + 1e-9
    r = steps("taxonomy", DEMO, "--skills-field", "skills", "--builder", "nope", "--out", tmp_path / "x", "--quiet")
    assert r.returncode == 2 and "--builder" in r.stderr

"""`steps demo`: the README's main job, end to end on the bundled demo."""

import json
import subprocess
import sys
from pathlib import Path

from steps_engine.synthesis.batch import check_batch_input_line

ROOT = Path(__file__).resolve().parents[1]


def test_demo_builds_taxonomy_combinations_and_dry_run(tmp_path):
    out = tmp_path / "demo"
    r = subprocess.run([sys.executable, "-m", "steps_engine", "demo", "--out", str(out), "--json", "--quiet"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "ingest" not in r.stderr  # --quiet: no progress bars
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    tax = json.loads((out / "taxonomy.json").read_text())
    assert tax["structural_entropy"] < tax["one_dim_entropy"]
    assert summary["skills"] == len((out / "skills.csv").read_text().splitlines()) - 1
    combos = [json.loads(l) for l in (out / "combos.jsonl").read_text().splitlines()]
    assert len(combos) >= 0.9 * summary["skills"]
    assert all(len(c["skills"]) == 3 and c["skills"][0] == c["start"] for c in combos)
    # the exact level:1 search beats random sampling in the same scope
    assert summary["steps_level1_metrics"]["mean_gain"] >= summary["random_metrics"]["mean_gain"]
    prompts = (out / "prompts.jsonl").read_text().splitlines()
    batch = [json.loads(l) for l in (out / "batch_input.jsonl").read_text().splitlines()]
    assert len(prompts) == len(batch) == len(combos)
    for line in batch:
        check_batch_input_line(line)
    assert len({b["custom_id"] for b in batch}) == len(batch)

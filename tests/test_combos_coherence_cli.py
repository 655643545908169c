"""`steps combos` with embedding coherence: scores on every line, minimum honoured."""

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def test_min_mean_similarity_is_honoured_and_scores_recompute(tmp_path):
    from steps_engine.selection.coherence import skill_similarity
    from steps_engine.demo import DEMO_PATH, demo_mapping
    from steps_engine.taxonomy.build import build_taxonomy, save_taxonomy

    folder = tmp_path / "tax"
    save_taxonomy(build_taxonomy(DEMO_PATH, demo_mapping(), height=3), folder)
    out = tmp_path / "c.jsonl"
    r = subprocess.run(
        [sys.executable, "-m", "steps_engine", "combos", str(folder), "--k", "3", "--scope", "level:1",
         "--min-mean-similarity", "0.3", "--out", str(out), "--json", "--quiet"],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr
    lines = [json.loads(l) for l in out.read_text().splitlines()]
    assert lines, "no combination passed the similarity floor"
    skills = sorted({s for l in lines for s in l["skills"]})
    sim = skill_similarity(skills)
    pos = {s: i for i, s in enumerate(skills)}
    for l in lines:
        pairs = [sim[pos[a], pos[b]] for a, b in itertools.combinations(l["skills"], 2)]
        assert l["coherence"] >= 0.3 - 1e-9
        assert abs(l["coherence"] - np.mean(pairs)) < 1e-5


def test_bad_similarity_value_exits_2(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "steps_engine", "combos", str(tmp_path), "--k", "3", "--min-pair-similarity", "2",
         "--out", str(tmp_path / "c.jsonl")],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert r.returncode == 2 and "--min-pair-similarity must be a cosine similarity in [-1, 1], got 2.0" in r.stderr

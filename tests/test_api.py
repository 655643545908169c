"""The Python facade: cheap import, short reprs, frames, edits saved before synthesis, in-memory
records found again, synthesis inside a running event loop, the quality stage behind `check`,
arguments checked where they come in, and the docs notebook end to end."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import steps_engine as steps
from fake_openai_server import FakeOpenAI

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "assets" / "demo" / "demo.jsonl"


def test_import_steps_engine_loads_no_heavy_module():
    code = ("import sys, steps_engine; heavy = {'numpy', 'pandas', 'pyarrow', 'scipy', 'numba', 'openai', 'torch'}; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m == 'steps_engine.api'))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr
    assert "export_dataset" in dir(steps) and steps.__version__


@pytest.fixture(scope="module")
def demo_tax():
    data = steps.load(DEMO, skills_field="skills", text_field="instruction")
    return data, steps.build_taxonomy(data, height=3)


def test_reprs_are_short_and_frames_are_tables(demo_tax):
    data, tax = demo_tax
    assert repr(data).startswith("Data(") and len(repr(data)) < 200
    r = repr(tax)
    assert r.startswith("Taxonomy(96 skills,") and len(r) < 200 and "not saved" in r
    clusters = tax.to_frame()
    assert {"id", "label", "depth", "skills", "term"} <= set(clusters.columns)
    # every top-level cluster's skills add up to all 96
    assert clusters[clusters.depth == 1].skills.sum() == 96
    # sum of every node's term over clusters and leaves is H^T; clusters alone are part of it
    assert 0 < clusters.term.sum() < tax.structural_entropy
    assert len(tax.skills_frame()) == 96
    combos = steps.select(tax, k=3, scope="level:1")
    assert repr(combos).startswith("Combinations(") and len(repr(combos)) < 120
    assert len(combos.to_frame()) == len(combos) > 0


def test_edits_return_new_taxonomies_with_history_and_undo(demo_tax, tmp_path):
    _, tax = demo_tax
    clusters = tax.to_frame()
    a, b = clusters[clusters.depth == 1].id.iloc[:2]
    merged = tax.merge(a, b)
    assert len(merged.history) == 1 and merged.history[0].entropy_before == pytest.approx(tax.structural_entropy)
    assert merged.structural_entropy == pytest.approx(merged.history[0].entropy_after)
    assert len(merged.tree.children()[0]) == len(tax.tree.children()[0]) - 1
    renamed = merged.rename(a, "Joined")
    back = renamed.undo().undo()
    assert back.structural_entropy == pytest.approx(tax.structural_entropy) and not back.history
    assert list(back.tree.parent) == list(tax.tree.parent)
    with pytest.raises(ValueError, match="nothing to undo"):
        tax.undo()


def test_in_memory_records_are_saved_beside_the_taxonomy_and_edits_before_synthesis(tmp_path):
    rows = [json.loads(x) for x in DEMO.read_text(encoding="utf-8").splitlines()]
    import pandas as pd

    tax = steps.build_taxonomy(steps.load(pd.DataFrame(rows), skills_field="skills", text_field="instruction"), height=2)
    top = tax.to_frame().query("depth == 1").id.iloc[0]
    tax = tax.rename(top, "Renamed before synthesis")
    combos = steps.select(tax, k=2, scope="level:1")
    res = steps.synthesize(tax, combos.to_json()[:3], model="m", out=tmp_path / "r.jsonl", dry_run=True)
    folder = tmp_path / "taxonomy"
    assert tax.folder == folder and (folder / "input.jsonl").is_file()
    spec = json.loads((folder / "input.json").read_text())
    assert spec["path"].endswith("input.jsonl") and "in_memory" not in spec
    saved = json.loads((folder / "taxonomy.json").read_text())
    assert "Renamed before synthesis" in json.dumps(saved)
    prompts = [json.loads(x) for x in res.path.read_text().splitlines()]
    assert len(prompts) == 3 and all(s["source_id"] for p in prompts for s in p["seeds"])  # real seeds found


def test_synthesize_is_safe_inside_a_running_event_loop(demo_tax, tmp_path):
    _, tax = demo_tax
    combos = steps.select(tax, k=3, scope="level:1").to_json()[:4]
    with FakeOpenAI() as srv:
        async def cell():
            sync = steps.synthesize(tax, combos[:2], model="m", out=tmp_path / "r.jsonl", base_url=srv.base_url,
                                    api_key="sk-test")
            both = await steps.synthesize_async(tax, combos, model="m", out=tmp_path / "r.jsonl",
                                                base_url=srv.base_url, api_key="sk-test")
            return sync, both

        sync, both = asyncio.run(cell())
    assert [r["status"] for r in sync.records] == ["ok", "ok"]
    assert len(both) == 4 and both.report.skipped == 2 and repr(both) == "Results(4 in r.jsonl: 4 ok)"
    checked = steps.check(both, min_chars=20)  # the loopback server's conversations are ~100 characters
    assert len(checked) == 4 and checked.path.name == "r.checked.jsonl"
    assert checked.report.ok == 4 and checked.taxonomy_dir == tax.folder
    rep = steps.export_dataset(checked, fmt="chat", out=tmp_path / "sft" / "sft.jsonl")
    assert rep.records == 4 and (tmp_path / "sft" / "README.md").is_file()


def _conversation(question: str, answer: str) -> list[dict]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


LONG_ANSWER = ("First outline the proof by induction on the number of nodes, then state the base case "
               "for a single node and check that the invariant holds after every insertion.")


def _results_file(path: Path) -> Path:
    recs = [
        {"id": "a", "status": "ok", "skills": ["x", "y"], "messages": _conversation("Explain the proof please.", LONG_ANSWER)},
        {"id": "b", "status": "ok", "skills": ["x", "z"], "messages": _conversation("Explain the proof please!", LONG_ANSWER)},
        {"id": "c", "status": "ok", "skills": ["y", "z"], "messages": _conversation("Hi?", "Yes.")},
        {"id": "d", "status": "failed", "skills": ["x", "w"], "reason": "timeout"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


def test_select_takes_the_selection_options_of_steps_combos(demo_tax):
    from collections import Counter

    _, tax = demo_tax
    free = steps.select(tax, k=3, budget=60)
    capped = steps.select(tax, k=3, budget=60, max_skill_uses=3, exclude=(tax.tree.skills[0],))
    uses = Counter(s for c in capped for s in c.skills)
    assert max(uses.values()) <= 3 < max(Counter(s for c in free for s in c.skills).values())
    assert tax.tree.skills[0] not in uses and len(capped) > 0
    ranged = steps.select(tax, k=2, k_max=3, budget=40)
    assert {len(c.skills) for c in ranged} == {2, 3}


def test_check_is_the_quality_stage(tmp_path):
    results = _results_file(tmp_path / "r.jsonl")
    checked = steps.check(results)
    by_id = {r["id"]: r for r in checked.records}
    # b repeats a's conversation but for one character; c has 7 characters (rule: >= 100); d failed before
    assert [by_id[i]["status"] for i in "abcd"] == ["ok", "rejected", "rejected", "failed"]
    assert by_id["b"]["reasons"] == ["near_duplicate"] and by_id["c"]["reasons"] == ["rule:length"]
    assert checked.report.ok == 1 and checked.report.rejected == 2 and checked.path.name == "r.checked.jsonl"
    rep = steps.export_dataset(checked, fmt="chat", out=tmp_path / "sft" / "sft.jsonl")
    assert rep.records == 1
    # settings as keywords reach the stage: dedup off (a CheckConfig field), the length rule off (RuleConfig)
    loose = steps.check(results, out=tmp_path / "loose.jsonl", dedup=None, disabled_rules=["length"])
    assert [r["status"] for r in loose.records] == ["ok", "ok", "ok", "failed"]
    with pytest.raises(ValueError, match="not both"):
        from steps_engine.quality import CheckConfig

        steps.check(results, out=tmp_path / "x.jsonl", config=CheckConfig(), min_chars=5)


def test_check_is_safe_inside_a_running_event_loop(tmp_path):
    results = _results_file(tmp_path / "r.jsonl")

    async def cell():
        return steps.check(results)

    checked = asyncio.run(cell())
    assert checked.report.ok == 1 and checked.report.rejected == 2


def test_arguments_are_checked_where_they_come_in(demo_tax, tmp_path):
    data, tax = demo_tax
    with pytest.raises(ValueError, match="nope.jsonl: no such file or folder"):
        steps.load(tmp_path / "nope.jsonl")
    with pytest.raises(ValueError, match="matches no file"):
        steps.load(str(tmp_path / "*.jsonl"))
    assert steps.load("hf://datasets/x/y/data.jsonl").source  # URLs are read when used, not now
    with pytest.raises(TypeError, match="takes a Taxonomy"):
        steps.select(data, k=3)
    with pytest.raises(TypeError, match="k must be an integer"):
        steps.select(tax, k="3")
    with pytest.raises(ValueError, match="k 97 is more than the 96 skills"):
        steps.select(tax, k=97)
    with pytest.raises(TypeError, match="takes Results"):
        steps.check(None)
    with pytest.raises(TypeError, match="takes Results"):
        steps.export_dataset(None, out=tmp_path / "o.jsonl")
    with pytest.raises(TypeError, match="takes the result of steps.load"):
        steps.build_taxonomy([{"skills": ["a", "b"]}])
    with pytest.raises(ValueError, match="builder must be one of"):
        steps.build_taxonomy(data, builder="nope")
    with pytest.raises(TypeError, match="unexpected keyword argument 'max_skill_use'"):
        steps.select(tax, k=3, budget=20, max_skill_use=2)  # a typo is not swallowed
    greedy = steps.build_taxonomy(data, height=3, builder="greedy")
    assert greedy.tree.height <= 3 and len(greedy.tree.skills) == 96


def test_the_docs_notebook_runs_end_to_end(tmp_path):
    with FakeOpenAI() as srv:
        env = {**os.environ, "OPENAI_API_KEY": "sk-test-notebook", "OPENAI_BASE_URL": srv.base_url,
               "STEPS_NOTEBOOK_OUT": str(tmp_path / "nb"), "STEPS_NOTEBOOK_N": "6",
               "STEPS_NOTEBOOK_MIN_CHARS": "20", "PYTHONPATH": str(ROOT)}
        r = subprocess.run([sys.executable, str(ROOT / "docs" / "notebook.py")], env=env, capture_output=True,
                           text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Results(6 in results.jsonl: 6 ok)" in r.stdout
    sft = [json.loads(x) for x in (tmp_path / "nb" / "sft" / "sft.jsonl").read_text().splitlines()]
    assert len(sft) == 6 and all(row["metadata"]["curriculum_epoch"] in (1, 2, 3) for row in sft)
    assert "Largest domain" in (tmp_path / "nb" / "taxonomy" / "taxonomy.json").read_text()

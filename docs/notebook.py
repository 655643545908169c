# %% [markdown]
# # STEPS Studio from a notebook
#
# The whole path on the bundled demo with the Python API: data -> taxonomy -> edit -> combinations
# -> cost estimate -> synthesis -> checks -> export. Cells are `# %%` blocks (VS Code, Jupyter with
# jupytext, or `python docs/notebook.py`). The test suite runs this file against a loopback
# OpenAI-compatible server; with no `OPENAI_API_KEY` synthesis writes a dry run instead.
#
# Environment: `STEPS_NOTEBOOK_OUT` (output folder, default `runs/notebook`), `OPENAI_API_KEY`,
# `OPENAI_BASE_URL`, `STEPS_MODEL` (default gpt-4o-mini), `STEPS_NOTEBOOK_MIN_CHARS` (the length
# rule's minimum, default 100; the test's loopback server answers in ~100 characters).

# %%
import asyncio
import os
from pathlib import Path

import steps_engine as steps

ROOT = Path(__file__).resolve().parents[1] if "__file__" in globals() else Path.cwd()
OUT = Path(os.environ.get("STEPS_NOTEBOOK_OUT", "runs/notebook"))
MODEL = os.environ.get("STEPS_MODEL", "gpt-4o-mini")

# %% Data: any file, folder or glob of shards, hf:// URL, DataFrame, Dataset or list of dicts
data = steps.load(ROOT / "assets" / "demo" / "demo.jsonl", skills_field="skills", text_field="instruction")
print(data)
print(data.to_frame(3))

# %% Taxonomy: the encoding tree of minimum structural entropy
tax = steps.build_taxonomy(data, height=3)
print(tax)
clusters = tax.to_frame()
print(clusters.sort_values("skills", ascending=False).head(5))

# %% Edit: rename the biggest top-level cluster; each edit returns a new taxonomy with its entropy cost
top = clusters[clusters.depth == 1].sort_values("skills", ascending=False).iloc[0]
tax = tax.rename(top.id, "Largest domain")
last = tax.history[-1]
print(f"{last.edit.describe()}: H^T {last.entropy_before:.4f} -> {last.entropy_after:.4f} bits")

# %% Combinations: one per skill, inside its top-level cluster (exact tree-knapsack DP)
combos = steps.select(tax, k=3, starts="all", scope="level:1")
print(combos)
print(combos.to_frame()[["skills", "gain", "lca"]].head())

# %% Cost before spending
results_path = OUT / "results.jsonl"
est = steps.estimate(tax, combos, model=MODEL, out=results_path)
print(est.summary())

# %% Synthesis: the taxonomy (with its edit) is saved for the run; a plain call works inside a notebook's loop
n = int(os.environ.get("STEPS_NOTEBOOK_N", "12"))
subset = combos.to_json()[:n]


async def in_a_running_loop():
    # Jupyter runs cells inside an event loop: the sync call is safe there, and so is `await`
    first = steps.synthesize(tax, subset[: n // 2], model=MODEL, out=results_path, concurrency=4)
    return first, await steps.synthesize_async(tax, subset, model=MODEL, out=results_path, concurrency=4)


first, results = asyncio.run(in_a_running_loop())
print(results)

# %% Checks (near-duplicates, seed copies, rules; judge_model=... adds an LLM judge) and export
# (chat format, STEPS three-epoch curriculum, a Hub-ready dataset card; only ok records are exported)
if results.records:
    checked = steps.check(results, min_chars=int(os.environ.get("STEPS_NOTEBOOK_MIN_CHARS", "100")))
    print(checked)
    print(checked.report.table())
    report = steps.export_dataset(checked, fmt="chat", out=OUT / "sft" / "sft.jsonl", curriculum="steps3")
    print(report.summary())
    print(checked.to_frame().head())
else:
    print("no API key: wrote a dry run,", results.path)

"""The lean core: `steps taxonomy`, `steps combos`, a dry-run `steps synthesize` and `steps export`
run with only the core dependencies of pyproject.toml importable.

How: a subprocess installs an import hook (a meta-path finder) that refuses every top-level
module that is neither in the standard library nor shipped by a distribution in the transitive
closure of `[project].dependencies` (read from the installed metadata, extras excluded). So
torch, sentence-transformers, umap, streamlit, plotly, networkx and everything else outside
the core behave as if they were not installed. This needs no second venv or download; a real
core-only venv (`pip install .`) was also built and measured once (README, *Install sizes*).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "assets" / "demo" / "demo.jsonl"
NOT_CORE = ("torch", "sentence_transformers", "umap", "streamlit", "plotly", "networkx", "transformers", "datasets")


def _name(req: str) -> str:
    return re.split(r"[\s\[<>=!~;(]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def core_closure() -> set[str]:
    from packaging.requirements import Requirement

    core = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    todo, seen = [_name(r) for r in core], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            reqs = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for r in reqs:
            req = Requirement(r)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(_name(req.name))
    return seen


def allowed_modules(dists: set[str]) -> set[str]:
    out = set()
    for module, owners in metadata.packages_distributions().items():
        if any(_name(o) in dists for o in owners):
            out.add(module)
    return out


SCRIPT = r'''
import importlib.abc, json, sys
allowed = set(json.load(open(sys.argv[1])))
blocked = []

class Lean(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in allowed or top in sys.stdlib_module_names or top.startswith("_") and top[1:] in sys.stdlib_module_names:
            return None
        if top in sys.builtin_module_names or top == "steps_engine":
            return None
        blocked.append(top)
        raise ModuleNotFoundError(f"No module named {top!r} (not a core dependency)", name=top)

sys.meta_path.insert(0, Lean())
from steps_engine.cli import main
codes = [main(a) for a in json.load(open(sys.argv[2]))]
heavy = sorted(m for m in sys.modules if m.split(".")[0] in %r)
print(json.dumps({"codes": codes, "heavy_loaded": heavy, "blocked": sorted(set(blocked))}))
''' % (NOT_CORE,)


def test_taxonomy_combos_synthesize_export_run_with_the_core_dependencies_only(tmp_path):
    dists = core_closure()
    assert "torch" not in dists and "sentence-transformers" not in dists and "streamlit" not in dists
    allowed = allowed_modules(dists)
    (tmp_path / "allowed.json").write_text(json.dumps(sorted(allowed)))
    t, combos, res = tmp_path / "tax", tmp_path / "combos.jsonl", tmp_path / "run" / "results.jsonl"
    runs = [
        ["taxonomy", str(DEMO), "--skills-field", "skills", "--text-field", "instruction", "--height", "3",
         "--out", str(t), "-q"],
        ["combos", str(t), "--k", "3", "--scope", "level:1", "--out", str(combos), "-q"],
        ["synthesize", str(t), "--combos", str(combos), "--model", "gpt-4o-mini", "--estimate", "--out", str(res)],
        ["synthesize", str(t), "--combos", str(combos), "--model", "gpt-4o-mini", "--dry-run", "--limit", "5",
         "--out", str(res), "--quiet"],
    ]
    (tmp_path / "runs.json").write_text(json.dumps(runs))
    (tmp_path / "lean.py").write_text(SCRIPT)
    r = subprocess.run([sys.executable, str(tmp_path / "lean.py"), str(tmp_path / "allowed.json"),
                        str(tmp_path / "runs.json")], capture_output=True, text=True, cwd=tmp_path,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["codes"] == [0, 0, 0, 0], r.stderr[-3000:]
    assert got["heavy_loaded"] == []
    assert (t / "taxonomy.json").is_file() and combos.read_text().count("\n") > 50
    assert (res.parent / "batch_input.jsonl").is_file()


def test_the_hook_really_blocks(tmp_path):
    """The same hook makes a non-core import fail (so the test above can fail)."""
    (tmp_path / "allowed.json").write_text(json.dumps(sorted(allowed_modules(core_closure()))))
    (tmp_path / "runs.json").write_text("[]")
    probe = SCRIPT.replace("from steps_engine.cli import main", "import plotly; from steps_engine.cli import main")
    (tmp_path / "lean.py").write_text(probe)
    r = subprocess.run([sys.executable, str(tmp_path / "lean.py"), str(tmp_path / "allowed.json"),
                        str(tmp_path / "runs.json")], capture_output=True, text=True,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert r.returncode != 0 and "No module named 'plotly' (not a core dependency)" in r.stderr


def test_no_fcntl_anywhere_in_the_engine():
    hits = [p for p in (ROOT / "steps_engine").rglob("*.py") if re.search(r"^\s*import fcntl|from fcntl", p.read_text(), re.M)]
    assert hits == []

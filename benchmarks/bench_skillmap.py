"""Skill map timings: UMAP layout of 1,000+ skill embeddings, cold (fresh process, numba
compiles) vs warm (same process) vs cached (layout read from disk), plus `warm_up()`.
Each scenario runs in a fresh Python process. Skill names come from the shared
Instruct-SkillMix vocabularies; their embeddings are read from the on-disk cache (computed
first if missing, not timed). Prints a markdown table.

    .venv/bin/python benchmarks/bench_skillmap.py
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "instruct_skillmix"

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from steps_engine.semantic.embeddings import get_embedder
from steps_engine.semantic.vocabulary import skill_texts
from steps_engine.semantic.skillmap import layout_2d, skill_map, warm_up
skills = json.loads(sys.argv[1])
cache_dir = sys.argv[2]
mode = sys.argv[3]
emb = get_embedder()
vecs = emb.encode(skill_texts(skills))
out = {"import_embed": time.perf_counter() - t0}
if mode == "warm_up":
    t = time.perf_counter(); warm_up(); out["warm_up"] = time.perf_counter() - t
    t = time.perf_counter(); layout_2d(vecs, cache_dir=False); out["after_warm_up"] = time.perf_counter() - t
else:
    t = time.perf_counter(); layout_2d(vecs, cache_dir=False); out["cold"] = time.perf_counter() - t
    t = time.perf_counter(); layout_2d(vecs, cache_dir=False); out["warm"] = time.perf_counter() - t
    layout_2d(vecs, cache_dir=cache_dir)  # fill the layout cache
    t = time.perf_counter(); skill_map(skills, [1] * len(skills), [""] * len(skills), cache_dir=cache_dir)
    out["skill_map_cached"] = time.perf_counter() - t
print(json.dumps(out))
"""


def vocab(name: str) -> list[str]:
    seen = dict.fromkeys(s.strip() for s in (DATA / name).read_text(encoding="utf-8").splitlines())
    return [s for s in seen if s]


def run(skills: list[str], mode: str) -> dict:
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        res = subprocess.run([sys.executable, "-c", CHILD, json.dumps(skills), d, mode],
                             capture_output=True, text=True, check=True)
        out = json.loads(res.stdout.strip().splitlines()[-1])
        out["process"] = time.perf_counter() - t
        return out


def main() -> None:
    sets = [("skills_gpt4.txt", vocab("skills_gpt4.txt")), ("skills_claude.txt", vocab("skills_claude.txt"))]
    from steps_engine.semantic.vocabulary import skill_texts
    from steps_engine.semantic.embeddings import get_embedder

    for _, s in sets:  # make sure embeddings are cached so only the layout is timed
        get_embedder().encode(skill_texts(s))
    rows = []
    for name, skills in sets:
        a = run(skills, "layout")
        b = run(skills, "warm_up")
        rows.append((name, len(skills), a, b))
        print(name, a, b, flush=True)
    print()
    print(f"Skill map (UMAP 2-D, cosine, n_neighbors=15, seed 0), all-MiniLM-L6-v2 embeddings; "
          f"{platform.machine()} CPU x{os.cpu_count()}, load avg {os.getloadavg()[0]:.1f}, {time.strftime('%Y-%m-%d')}. Seconds.")
    print()
    print("| skills | cold UMAP (numba compiles) | warm UMAP (same process) | skill_map() with cached layout "
          "| warm_up() alone | UMAP right after warm_up() |")
    print("|---|---|---|---|---|---|")
    for name, n, a, b in rows:
        print(f"| {n} ({name}) | {a['cold']:.1f} | {a['warm']:.1f} | {a['skill_map_cached']:.2f} "
              f"| {b['warm_up']:.1f} | {b['after_warm_up']:.1f} |")


if __name__ == "__main__":
    main()

"""Canonical tags on real skill names: the two Instruct-SkillMix vocabularies (GPT-4 and Claude,
4,408 lines written by two models) taken as the raw tags of one record each, plus the
Instruct-SkillMix records' own tag pairs as co-occurring records. Prints how many raw tags each
step absorbs at several merge thresholds, sample merges, and the time.

    .venv/bin/python benchmarks/bench_canonical_tags.py [--thresholds 0.8 0.85 0.9]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_line  # noqa: E402

from steps_engine.semantic.canonical_tags import CanonConfig, canonicalise, normalise_tag  # noqa: E402
from steps_engine.semantic.embeddings import get_embedder  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "instruct_skillmix"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--thresholds", type=float, nargs="+", default=[0.8, 0.85, 0.9])
    ap.add_argument("--samples", type=int, default=8)
    args = ap.parse_args()
    names = []
    for f in ("skills_gpt4.txt", "skills_claude.txt"):
        names += [ln.strip() for ln in (DATA / f).read_text(encoding="utf-8").splitlines() if ln.strip()]
    records = [[n] for n in names]
    pairs = json.loads((DATA / "ism_sda_k2_1000.json").read_text(encoding="utf-8"))
    records += [r["skills_joined_str"].split(", ") for r in pairs]
    emb = get_embedder()
    print(f"{len(names)} vocabulary lines + {len(pairs)} records' tag pairs = {len(records)} records; "
          f"{len(set(names))} distinct raw tags; all-MiniLM-L6-v2; {machine_line()}")
    print("\n| merge_sim | canonical | raw tags merged by normal form | synonym merges | rare mapped | rare dropped | wall (s) | CPU (s) |")
    print("|---|---|---|---|---|---|---|---|")
    results = {}
    for t in args.thresholds:
        t0, c0 = time.perf_counter(), time.process_time()
        canon = canonicalise(records, emb, CanonConfig(merge_sim=t, min_count=1))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        normal = len(canon.mapping) - len({normalise_tag(r) for r in canon.mapping})
        print(f"| {t} | {len(canon.tags)} | {normal} | {len(canon.synonym_merges)} | {len(canon.rare_mapped)} | "
              f"{len(canon.dropped)} | {wall:.1f} | {cpu:.1f} |")
        results[t] = canon
    rng = random.Random(0)
    for t, canon in results.items():
        lo = [m for m in canon.synonym_merges if m[2] < t + 0.03]
        print(f"\nmerge_sim {t}: {args.samples} random synonym merges (of {len(canon.synonym_merges)}), "
              f"then {args.samples} of the lowest-margin ones (cosine < {t + 0.03:.2f}):")
        for a, b, s in rng.sample(canon.synonym_merges, min(args.samples, len(canon.synonym_merges))):
            print(f"  {a} -> {b} ({s:.3f})")
        for a, b, s in rng.sample(lo, min(args.samples, len(lo))):
            print(f"  {a} -> {b} ({s:.3f})")


if __name__ == "__main__":
    main()

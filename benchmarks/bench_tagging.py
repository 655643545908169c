"""Tagging recall on Instruct-SkillMix (../shared/data/instruct_skillmix): each record's two
true skills vs the 1,132-skill GPT-4 vocabulary (1,143 lines, exact repeats removed).

Prints a markdown table of recall@2/5/10 per variant. Variants were chosen by looking at
records 0-199 only (the "dev" slice); records 200-999 are reported separately as held out.
Embeddings are cached on disk ($STEPS_CACHE_DIR or ~/.cache/steps-studio), so a second run
computes nothing; --cold uses an empty temporary cache and times the full embedding work.

    .venv/bin/python benchmarks/bench_tagging.py [--limit N] [--cold]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from steps_engine.semantic.embeddings import CachedEmbedder, EmbeddingCache, SentenceTransformerEmbedder
from steps_engine.semantic.tagging import TagConfig, Vocabulary, recall_at_k, score_records, top_indices

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "instruct_skillmix"
DEV = 200  # records 0..DEV-1 were used to pick among variants

PLAIN = TagConfig(template="{}", phrase_names=False, use_response=False, lexical_weight=0.0, center=False)
T = replace(PLAIN, phrase_names=True, template="a task requiring {}")
S = replace(T, use_response=True, instruction_weight=0.5)
VARIANTS = [
    # (name, config, text, dedupe_sim)
    ("baseline: instruction vs raw snake_case names", PLAIN, "instr", None),
    ("names as words (`public speaking`)", replace(PLAIN, phrase_names=True), "instr", None),
    ('template "a task requiring X"', T, "instr", None),
    ("template; instruction + output as one text (truncated at 256 tokens)", T, "concat", None),
    ("template; output sentences max-pooled only", replace(S, instruction_weight=0.0), "instr", None),
    ("template; 0.7 instruction + 0.3 max-pooled sentences", replace(S, instruction_weight=0.7), "instr", None),
    ("template; 0.5 instruction + 0.5 max-pooled sentences", S, "instr", None),
    ("template; 0.3 instruction + 0.7 max-pooled sentences", replace(S, instruction_weight=0.3), "instr", None),
    ("0.5/0.5 + hubness centering", replace(S, center=True), "instr", None),
    ("0.5/0.5 + lexical overlap x0.1", replace(S, lexical_weight=0.1), "instr", None),
    ("0.5/0.5 + lexical overlap x0.2", replace(S, lexical_weight=0.2), "instr", None),
    ("0.5/0.5 + lexical overlap x0.3", replace(S, lexical_weight=0.3), "instr", None),
    ("**default**: 0.5/0.5 + centering + lexical x0.2", TagConfig(), "instr", None),
    ("default + near-duplicate suppression (name cos > 0.95)", TagConfig(), "instr", 0.95),
]


def load(limit: int | None = None):
    records = json.loads((DATA / "ism_sda_k2_1000.json").read_text(encoding="utf-8"))[:limit]
    vocab = Vocabulary((DATA / "skills_gpt4.txt").read_text(encoding="utf-8").splitlines())
    pos = {s: i for i, s in enumerate(vocab.skills)}
    truth = [[pos[s] for s in r["skills_joined_str"].split(", ")] for r in records]
    return records, vocab, truth


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--cold", action="store_true", help="use a fresh, empty cache")
    args = ap.parse_args()
    records, vocab, truth = load(args.limit)
    cache = EmbeddingCache(tempfile.mkdtemp() if args.cold else None)
    emb = CachedEmbedder(SentenceTransformerEmbedder(), cache)
    instr = [r["instruction"] + ("\n" + r["input"] if r.get("input") else "") for r in records]
    outputs = [r["output"] for r in records]
    concat = [f"{i}\n{o}" for i, o in zip(instr, outputs)]
    rows = []
    for name, cfg, text, dedupe in VARIANTS:
        t0 = time.perf_counter()
        misses0 = emb.misses
        score, _, vv = score_records(concat if text == "concat" else instr,
                                     outputs if cfg.use_response else None, vocab, emb, cfg)
        pred = top_indices(score, 10, vocab_vecs=vv, dedupe_sim=dedupe)
        dt = time.perf_counter() - t0
        cells = []
        for lo, hi in ((0, len(records)), (0, DEV), (DEV, len(records))):
            if hi > lo:
                cells += [recall_at_k(score[lo:hi], truth[lo:hi], k, pred[lo:hi]) for k in (2, 5, 10)]
        rows.append((name, cells, dt, emb.misses - misses0))
        print(f"{name}: {[round(c, 3) for c in cells]} {dt:.1f}s", flush=True)
    print()
    print(f"Instruct-SkillMix ism_sda_k2_1000: {len(records)} records (dev = first {DEV}, held out = rest), "
          f"vocabulary {len(vocab)} skills; all-MiniLM-L6-v2, {platform.machine()} CPU x{os.cpu_count()}, "
          f"load avg {os.getloadavg()[0]:.1f}, "
          f"{time.strftime('%Y-%m-%d')}")
    print()
    head = "| variant | R@2 | R@5 | R@10 | dev R@5 | held-out R@2 | held-out R@5 | held-out R@10 | time (s) | texts embedded |"
    print(head)
    print("|---" * (head.count("|") - 1) + "|")
    fmt = lambda cells, i: f"{cells[i]:.3f}" if len(cells) > i else "n/a"  # noqa: E731
    for name, c, dt, miss in rows:
        print(f"| {name} | {fmt(c, 0)} | {fmt(c, 1)} | {fmt(c, 2)} | {fmt(c, 4)} | "
              f"{fmt(c, 6)} | {fmt(c, 7)} | {fmt(c, 8)} | {dt:.1f} | {miss} |")


if __name__ == "__main__":
    main()

"""Tagging recall on Instruct-SkillMix, chosen by cross-validation (../shared/data/instruct_skillmix).

Slices: records 0-199, 200-399, ..., 800-999 of ism_sda_k2_1000.json (disjoint; each record
has two true skills from skills_gpt4.txt). Every slice is scored with two vocabularies: the
1,132 GPT-4 skills, and GPT-4 + Claude skills (3,702 distinct names; the Claude list adds
distractors written by another model). The method is chosen by leave-one-slice-out
cross-validation (steps_engine.semantic.crossval): for each slice, a grid search on the other
four picks the config, and only that pick is scored on the left-out slice. `--extra FILE`
(same record shape, e.g. the upstream ism_sda_heldout_k2_100.json) is scored once with the
config chosen on all five slices; it takes no part in any choice.

Embeddings come from the on-disk cache ($STEPS_CACHE_DIR or ~/.cache/steps-studio); the first
run computes about 20,000 response sentences (tens of minutes on 2 shared cores).

    .venv/bin/python benchmarks/bench_tagging.py [--slices 5] [--slice-size 200] [--extra FILE]
    .venv/bin/python benchmarks/bench_tagging.py --endpoint URL --model M [--data FILE] [--limit 100]

`--endpoint` measures the LLM tagger (open tags mapped onto the vocabulary, and the LLM
rerank of the embedding tagger's top candidates) on your own labelled slice: `--data` is a
JSON / JSONL file of records with `instruction`, optional `output`, and the true skills in
`--truth-field` (a list, or a ", "-separated string); `--vocab` the vocabulary file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from dataclasses import replace
from itertools import product
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_line  # noqa: E402

from steps_engine.semantic.crossval import cross_validate, grid_fit  # noqa: E402
from steps_engine.semantic.embeddings import get_embedder  # noqa: E402
from steps_engine.semantic.embeddings.base import Embedder  # noqa: E402
from steps_engine.semantic.tagging import (  # noqa: E402
    TagConfig, Vocabulary, combine_parts, recall_at_k, similarity_parts, top_indices,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "instruct_skillmix"
K = 5

# The first default (tuned on records 0-199 by hand), the second (round 1 of this CV: 2 phrasings,
# z-scored) and the plain baseline, for reference.
OLD_DEFAULT = TagConfig(top_k=K, template="a task requiring {}", instruction_weight=0.5, lexical_weight=0.2,
                        center=True, phrasings=(), instruction_sentences=False, center_scale=False,
                        center_tail=0.0, center_scale_power=1.0, char_weight=0.0)
ROUND1 = replace(OLD_DEFAULT, phrasings=("{}",), instruction_weight=0.4, center_scale=True)
PLAIN = TagConfig(template="{}", phrase_names=False, use_response=False, lexical_weight=0.0, center=False,
                  char_weight=0.0)

# Round 1's grid, fixed before any slice was scored: generic phrasings written by rule (no
# skill-specific text), instruction sentence pooling, response pooling and weight, hubness
# calibration, lexical weight. Every fold picked 2 phrasings, whole instruction, response max.
PHRASINGS = {
    "1 phrasing": ("a task requiring {}", ()),
    "2 phrasings": ("a task requiring {}", ("{}",)),
    "4 phrasings": ("a task requiring {}", ("{}", "the skill of {}", "a question about {}")),
}
GRID_ROUND1 = [
    replace(OLD_DEFAULT, template=tmpl, phrasings=extra, instruction_sentences=isent, instruction_weight=w,
            center_scale=zs, lexical_weight=lex, response_top=top)
    for (tmpl, extra), isent, top, w, zs, lex in product(
        PHRASINGS.values(), (False, True), (1, 2), (0.3, 0.4, 0.5, 0.6), (False, True), (0.0, 0.1, 0.2, 0.3))
]
# Round 2 (the grid searched now): round 1's pick for the parts, and the new terms - the centre
# moved towards each skill's upper tail (mean + c * std), partial standardisation
# ((mean std / std) ** p; p = 0 is plain centring) and the character n-gram tf-idf term.
# Fixed before scoring as tail 0..2, char 0..0.4; widened once to tail 3, char 0.6 (the first
# pick sat on the edge).
GRID = [
    replace(ROUND1, instruction_weight=w, lexical_weight=lex, center_tail=tail, center_scale=power > 0,
            center_scale_power=power or 1.0, char_weight=char)
    for w, lex, tail, power, char in product(
        (0.3, 0.4, 0.5), (0.1, 0.2, 0.3), (0.0, 1.0, 2.0, 3.0), (0.0, 0.5, 1.0), (0.0, 0.2, 0.4, 0.6))
]


def describe(cfg: TagConfig) -> str:
    if cfg == PLAIN:
        return "baseline: instruction vs raw names"
    n_phr = 1 + len(cfg.phrasings)
    calib = f"scale^{cfg.center_scale_power:g}" if cfg.center_scale else "no scale"
    return (f"{n_phr} phrasing{'s' if n_phr > 1 else ''}, instr {'max over sentences' if cfg.instruction_sentences else 'whole'}, "
            f"response {'max' if cfg.response_top == 1 else f'top-{cfg.response_top} mean'}, "
            f"w={cfg.instruction_weight}, centre mean+{cfg.center_tail:g}sd, {calib}, lexical {cfg.lexical_weight}, "
            f"char {cfg.char_weight}")


class MemoEmbedder(Embedder):
    """An in-memory layer over the on-disk cache (the grid asks for the same texts many times)."""

    def __init__(self, inner: Embedder):
        self.inner, self.model_id, self.memo = inner, inner.model_id, {}

    def encode(self, texts, batch_size=64, progress=None):
        texts = list(texts)
        missing = list(dict.fromkeys(t for t in texts if t not in self.memo))
        if missing:
            self.memo.update(zip(missing, self.inner.encode(missing, batch_size=batch_size, progress=progress)))
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return np.stack([self.memo[t] for t in texts])


def instruction_text(r: dict) -> str:
    return r["instruction"] + ("\n" + r["input"] if r.get("input") else "")


def load_vocabs() -> dict[str, Vocabulary]:
    gpt4 = (DATA / "skills_gpt4.txt").read_text(encoding="utf-8").splitlines()
    claude = (DATA / "skills_claude.txt").read_text(encoding="utf-8").splitlines()
    return {"gpt4": Vocabulary(gpt4), "gpt4+claude": Vocabulary(gpt4 + claude)}


class Slice:
    """Records of one slice, their truth per vocabulary, and cached similarity parts."""

    def __init__(self, name: str, records: list[dict], vocabs: dict[str, Vocabulary], emb: Embedder):
        self.name, self.records, self.vocabs, self.emb = name, records, vocabs, emb
        self.ids = [hashlib.sha256(instruction_text(r).encode()).hexdigest() for r in records]
        self.truth = {}
        for vn, v in vocabs.items():
            pos = {s: i for i, s in enumerate(v.skills)}
            self.truth[vn] = [[pos[s] for s in r["skills_joined_str"].split(", ") if s in pos] for r in records]
        self._parts: dict = {}
        self._recall: dict = {}

    def parts(self, vn: str, cfg: TagConfig):
        key = (vn, cfg.template, cfg.phrase_names, cfg.phrasings, cfg.instruction_sentences, cfg.use_response,
               cfg.response_top)
        if key not in self._parts:
            full = replace(cfg, lexical_weight=max(cfg.lexical_weight, 0.1), instruction_weight=min(cfg.instruction_weight, 0.5),
                           char_weight=max(cfg.char_weight, 0.1))
            self._parts[key] = similarity_parts([instruction_text(r) for r in self.records],
                                                [r["output"] for r in self.records], self.vocabs[vn], self.emb, full)
        return self._parts[key]

    def recall(self, cfg: TagConfig, k: int = K) -> dict[str, float]:
        if (cfg, k) in self._recall:
            return self._recall[cfg, k]
        out = self._recall[cfg, k] = {}
        for vn in self.vocabs:
            score, _ = combine_parts(self.parts(vn, cfg), cfg)
            out[vn] = recall_at_k(score, self.truth[vn], k)
        return out


def cross_validation(slices: dict[str, Slice]) -> None:
    t0, c0 = time.perf_counter(), time.process_time()
    metric = lambda cfg, s: s.recall(cfg)  # noqa: E731
    result = cross_validate(slices, grid_fit(GRID, metric), metric, ids=lambda s: s.ids)
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    print(f"\n## Leave-one-slice-out CV: {len(GRID)} configs, recall@{K} on the left-out slice "
          f"({dt:.0f} s wall, {dc:.0f} s CPU)\n")
    print("| held-out slice | chosen on the other slices | gpt4 | gpt4+claude | round-1 default gpt4 | round-1 default gpt4+claude |")
    print("|---|---|---|---|---|---|")
    for f in result.folds:
        old = slices[f.held_out].recall(ROUND1)
        print(f"| {f.held_out} | {describe(f.model)} | {f.scores['gpt4']:.3f} | {f.scores['gpt4+claude']:.3f} | "
              f"{old['gpt4']:.3f} | {old['gpt4+claude']:.3f} |")
    for vn in ("gpt4", "gpt4+claude"):
        vals = result.values(vn)
        old = [slices[f.held_out].recall(ROUND1)[vn] for f in result.folds]
        print(f"\n{vn}: held-out mean {np.mean(vals):.3f}, worst {np.min(vals):.3f} "
              f"(round-1 default: mean {np.mean(old):.3f}, worst {np.min(old):.3f})")
    print(f"all: mean {result.mean:.3f}, worst {result.worst:.3f} ({result.worst_slice})")


def ablation(slices: dict[str, Slice], final: TagConfig) -> None:
    """Named variants on every slice: does a component's gain hold on each one?"""
    rows = [("baseline: instruction vs raw names", PLAIN), ("first default", OLD_DEFAULT),
            ("round-1 default (2 phrasings, z-scored)", ROUND1),
            ("round 1 + scale^0.5", replace(ROUND1, center_scale_power=0.5)),
            ("round 1 + scale^0.5, centre mean+3sd", replace(ROUND1, center_scale_power=0.5, center_tail=3.0)),
            ("round 1 + char n-grams 0.4", replace(ROUND1, char_weight=0.4)),
            ("chosen (all slices)", final),
            ("chosen, no char n-grams", replace(final, char_weight=0.0)),
            ("chosen, no lexical term", replace(final, lexical_weight=0.0)),
            ("chosen, neither word nor char term", replace(final, lexical_weight=0.0, char_weight=0.0))]
    names = list(slices)
    print(f"\n## Recall@{K} per slice (gpt4 / gpt4+claude)\n")
    print("| variant | " + " | ".join(names) + " | mean | worst |")
    print("|---" * (len(names) + 3) + "|")
    for label, cfg in rows:
        cells, vals = [], []
        for n in names:
            r = slices[n].recall(cfg)
            cells.append(f"{r['gpt4']:.3f} / {r['gpt4+claude']:.3f}")
            vals += list(r.values())
        print(f"| {label} | " + " | ".join(cells) + f" | {np.mean(vals):.3f} | {np.min(vals):.3f} |")


def endpoint_mode(args) -> None:
    from steps_engine.llm import ResponseCache
    from steps_engine.llm.openai_client import OpenAIChatClient
    from steps_engine.semantic.tagging import load_vocabulary, score_records
    from steps_engine.semantic.tagging_llm import LLMOpenTagger, LLMReranker, map_to_vocabulary

    data = Path(args.data) if args.data else DATA / "ism_sda_k2_1000.json"
    text = data.read_text(encoding="utf-8")
    records = json.loads(text) if data.suffix == ".json" else [json.loads(x) for x in text.splitlines() if x.strip()]
    records = records[args.offset: args.offset + args.limit]
    vocab = load_vocabulary(args.vocab or DATA / "skills_gpt4.txt")[0]
    pos = {s: i for i, s in enumerate(vocab.skills)}

    def truth_of(r):
        t = r.get(args.truth_field) or []
        return [pos[s] for s in (t.split(", ") if isinstance(t, str) else t) if s in pos]

    truth = [truth_of(r) for r in records]
    ins = [instruction_text(r) for r in records]
    outs = [r.get("output") or "" for r in records]
    client = OpenAIChatClient(args.model, api_key=os.environ.get("OPENAI_API_KEY") or None, base_url=args.endpoint)
    cache = ResponseCache(args.cache_dir)
    emb = get_embedder()
    t0 = time.perf_counter()
    open_tags = LLMOpenTagger(client, concurrency=args.concurrency, cache=cache)(ins, outs)
    mapped = map_to_vocabulary(open_tags, vocab, emb, min_sim=0.0, top_k=K)
    pred_open = [[pos[s] for s, _ in row] for row in mapped]
    t1 = time.perf_counter()
    score, _, _ = score_records(ins, outs, vocab, emb, TagConfig(top_k=K))
    cand = top_indices(score, args.rerank_candidates)
    reranker = LLMReranker(client, concurrency=args.concurrency, cache=cache)
    reranked = reranker(ins, [[vocab.skills[j] for j in c] for c in cand])
    pred_rerank = [[pos[s] for s in row] + [j for j in c if vocab.skills[j] not in row] for row, c in zip(reranked, cand)]
    t2 = time.perf_counter()
    print(f"{len(records)} records from {data}, vocabulary {len(vocab)}; model {args.model}; {machine_line()}")
    print(f"| method | R@2 | R@5 | time (s) |\n|---|---|---|---|")
    for name, pred, dt in (("embedding tagger (default)", top_indices(score, K), None),
                           ("LLM open tags mapped onto the vocabulary", pred_open, t1 - t0),
                           (f"LLM rerank of the embedding top {args.rerank_candidates}", pred_rerank, t2 - t1)):
        r2, r5 = (recall_at_k(score, truth, k, [p[:k] for p in pred]) for k in (2, 5))
        print(f"| {name} | {r2:.3f} | {r5:.3f} | {'' if dt is None else f'{dt:.1f}'} |")
    failed = sum(1 for t in open_tags if not isinstance(t, list))
    print(f"\nfailed replies: open tags {failed}, rerank {len(reranker.failures)} (kept the embedding order)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--slices", type=int, default=5)
    ap.add_argument("--slice-size", type=int, default=200)
    ap.add_argument("--extra", default=None, help="a further labelled file, scored once with the final choice")
    ap.add_argument("--grid", default="round2", choices=["round1", "round2"],
                    help="round2 (default): the new terms; round1: the first CV's grid (phrasings, pooling, z-scoring)")
    ap.add_argument("--endpoint", default=None, help="OpenAI-compatible base URL: measure the LLM tagger instead")
    ap.add_argument("--model", default=None)
    ap.add_argument("--data", default=None)
    ap.add_argument("--vocab", default=None)
    ap.add_argument("--truth-field", default="skills_joined_str")
    ap.add_argument("--offset", type=int, default=0)
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--rerank-candidates", type=int, default=20)
    ap.add_argument("--cache-dir", default="bench_tagging.llm-cache")
    args = ap.parse_args()
    global GRID
    if args.grid == "round1":
        GRID = GRID_ROUND1
    if args.endpoint:
        if not args.model:
            ap.error("--endpoint needs --model")
        return endpoint_mode(args)
    records = json.loads((DATA / "ism_sda_k2_1000.json").read_text(encoding="utf-8"))
    vocabs = load_vocabs()
    emb = MemoEmbedder(get_embedder())
    size = args.slice_size
    slices = {f"{lo}-{lo + size - 1}": Slice(f"{lo}-{lo + size - 1}", records[lo: lo + size], vocabs, emb)
              for lo in range(0, args.slices * size, size)}
    print(f"Instruct-SkillMix: {len(slices)} slices of {size} records; vocabularies "
          + ", ".join(f"{k} {len(v)}" for k, v in vocabs.items()) + f"; all-MiniLM-L6-v2; {machine_line()}; "
          f"{time.strftime('%Y-%m-%d')}")
    t0, c0 = time.perf_counter(), time.process_time()
    for s in slices.values():  # embeddings for every part the grid and the ablation use
        for cfg in {(c.template, c.phrasings, c.instruction_sentences, c.response_top): c for c in GRID + [OLD_DEFAULT]}.values():
            for vn in vocabs:
                s.parts(vn, cfg)
        s.parts("gpt4", PLAIN), s.parts("gpt4+claude", PLAIN)
    print(f"similarity parts: {time.perf_counter() - t0:.0f} s wall, {time.process_time() - c0:.0f} s CPU")
    cross_validation(slices)
    final = grid_fit(GRID, lambda cfg, s: s.recall(cfg))(slices)
    print(f"\nchosen on all {len(slices)} slices: {describe(final)}")
    if args.extra:
        extra = Slice("extra", json.loads(Path(args.extra).read_text(encoding="utf-8")), vocabs, emb)
        slices[f"extra ({Path(args.extra).name})"] = extra
    ablation(slices, final)


if __name__ == "__main__":
    main()

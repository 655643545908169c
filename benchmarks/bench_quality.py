"""The quality stage measured on planted flaws (`steps check` without and with the judge).

Two sample sets, each >= 1,000 conversations:
- synthetic: the bundled demo's taxonomy, one level:1 combination per skill (96), `--n`
  generations each, generated through the test suite's loopback server ("realistic"
  behaviour: conversations assembled from the prompt's skills and seed examples);
- real: the 1,000 Instruct-SkillMix records of ../shared/data (instruction + input as the user
  turn, output as the assistant turn), text the checks were not tuned on.

Planted into each (seeded): near-duplicate copies with 1 word, 3 words, 5 %, 10 % and 20 % of
the words replaced (appended later in the file, so the original is the one kept); benchmark
overlaps (an IFEval prompt verbatim, or one window of 13-20 of its words, inserted into the
user turn); copies of a seed (synthetic set: a seed's text with a sentence of framing as the
instruction). Reported: recall per kind (a planted copy counts when flagged `near_duplicate`,
an overlap when `contaminated` names the right IFEval line, a seed copy when `copies_seed`),
dedup precision (flags that are planted copies), false positives on the untouched samples per
reason, and time (wall and CPU) of the whole `check()` without the judge, per 1,000 samples.
The judge's overhead: `check()` with a judge against the loopback server answering at once
and after a fixed delay, beside the ideal time requests x delay / concurrency.

    .venv/bin/python benchmarks/bench_quality.py [--n 12] [--seeds 0 1 2] [--judge 200]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the loopback server
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import machine_line  # noqa: E402
from fake_openai_server import FakeOpenAI  # noqa: E402

from steps_engine.quality import CheckConfig, check  # noqa: E402
from steps_engine.quality.text import words  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
IFEVAL = SHARED / "ifeval" / "input_data.jsonl"
ISM = SHARED / "instruct_skillmix" / "ism_sda_k2_1000.json"
EDITS = [("1 word", 1, None), ("3 words", 3, None), ("5% words", None, 0.05), ("10% words", None, 0.10),
         ("20% words", None, 0.20)]
FILLER = "apple orbit canal ledger quartz mosaic tundra falcon ember lattice prism harbor velvet summit".split()


def synthetic_set(tmp: Path, n: int, seed: int) -> tuple[list[dict], Path]:
    from steps_engine.demo import DEMO_PATH, demo_mapping
    from steps_engine.selection.combos import select_combinations, write_jsonl
    from steps_engine.selection.search import prepare
    from steps_engine.synthesis.runner import read_results, synthesize
    from steps_engine.taxonomy.build import build_taxonomy, save_taxonomy

    tax_dir = tmp / "tax"
    if not (tax_dir / "taxonomy.json").exists():
        tax = build_taxonomy(DEMO_PATH, demo_mapping(), height=4)
        save_taxonomy(tax, tax_dir)
        ctx = prepare(tax.tree, tax.graph, term=tax.terms.term)
        run = select_combinations(ctx, 3, starts="all", scope="level:1", strategy="steps")
        write_jsonl(tax_dir / "combos.jsonl", run.combinations)
    out = tmp / f"results_{seed}.jsonl"
    with FakeOpenAI(default="realistic") as srv:
        synthesize(tax_dir, tax_dir / "combos.jsonl", model="fake", out=out, base_url=srv.base_url, api_key="sk-bench",
                   n=n, params={"temperature": 0.7, "seed": 1000 * seed}, concurrency=8, use_cache=False, seed=seed)
    return [r for r in read_results(out)[0] if r["status"] == "ok"], tax_dir


def real_set() -> list[dict]:
    rows = json.loads(ISM.read_text(encoding="utf-8"))
    out = []
    for i, r in enumerate(rows):
        user = r["instruction"] + (("\n\n" + r["input"]) if (r.get("input") or "").strip() else "")
        out.append({"id": f"ism-{i:04d}", "status": "ok", "skills": [s.strip() for s in r["skills_joined_str"].split(",")],
                    "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": r["output"]}],
                    "seeds": []})
    return out


def edit(text: str, rng: random.Random, count: int | None, frac: float | None) -> str:
    toks = text.split()
    k = count if count is not None else max(1, round(frac * len(toks)))
    for p in rng.sample(range(len(toks)), min(k, len(toks))):
        toks[p] = rng.choice(FILLER)
    return " ".join(toks)


def plant(records: list[dict], rng: random.Random, prompts: list[tuple[int, str]], seed_texts: dict | None):
    """Returns (records with plants, truth {id: (kind, detail)}, untouched ids)."""
    recs = [json.loads(json.dumps(r)) for r in records]
    order = list(range(len(recs)))
    rng.shuffle(order)
    n_dup, n_cont = len(recs) // 10, len(recs) // 12
    dup_src, cont, copy = order[:n_dup], order[n_dup:n_dup + n_cont], order[n_dup + n_cont:n_dup + 2 * n_cont]
    truth: dict[str, tuple] = {}
    for j, i in enumerate(cont):
        line, prompt = rng.choice(prompts)
        ws = words(prompt)
        if j % 2 == 0 or len(ws) < 20:
            piece, kind, lines = prompt, "overlap: whole prompt", {line}
        else:  # a window of 13-20 normalised words; every prompt holding it counts as the right answer
            size = rng.randint(13, min(20, len(ws)))
            start = rng.randrange(len(ws) - size + 1)
            piece, kind = " ".join(ws[start:start + size]), "overlap: one 13-20-word window"
            lines = {ln for ln, p in prompts if f" {piece} " in f" {' '.join(words(p))} "}
        user = recs[i]["messages"][0]["content"].split()
        at = rng.randrange(len(user) + 1)
        recs[i]["messages"][0]["content"] = " ".join(user[:at] + [piece] + user[at:])
        truth[recs[i]["id"]] = (kind, lines)
    if seed_texts:
        for i in copy:
            seeds = [s for s in recs[i]["seeds"] if str(s.get("source_id")) in seed_texts]
            if seeds:
                text = seed_texts[str(rng.choice(seeds)["source_id"])]["text"]
                recs[i]["messages"][0]["content"] = rng.choice(["Quick one: ", "Hi! ", ""]) + text + " Thanks in advance."
                truth[recs[i]["id"]] = ("seed copy", None)
    for j, i in enumerate(dup_src):
        name, count, frac = EDITS[j % len(EDITS)]
        c = json.loads(json.dumps(recs[i]))
        c["id"] = f"{c['id']}-dup"
        for m in c["messages"]:
            m["content"] = edit(m["content"], rng, count if m is c["messages"][-1] else 0, frac)
        truth[c["id"]] = (f"near-duplicate: {name}", recs[i]["id"])
        recs.insert(rng.randint(i + 1, len(recs)), c)  # somewhere after its source
    untouched = {r["id"] for r in recs} - set(truth)
    return recs, truth, untouched


def measure(name: str, recs: list[dict], truth: dict, untouched: set, tmp: Path, taxonomy_dir, cfg: CheckConfig,
            embedder=None):
    res = tmp / f"{name}.jsonl"
    res.write_text("".join(json.dumps(r) + "\n" for r in recs))
    out = tmp / f"{name}.checked.jsonl"
    out.unlink(missing_ok=True)
    w0, c0 = time.perf_counter(), time.process_time()
    rep = check(res, out, config=cfg, taxonomy_dir=taxonomy_dir, embedder=embedder)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    got = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    hit = Counter()
    total = Counter()
    for rid, (kind, detail) in truth.items():
        total[kind] += 1
        reasons = got[rid]["reasons"]
        if kind.startswith("near-duplicate"):
            ok = "near_duplicate" in reasons
        elif kind.startswith("overlap"):
            ok = any(c["line"] in detail for c in got[rid]["quality"].get("contaminated") or [])
        else:
            ok = "copies_seed" in reasons
        hit[kind] += ok
    flagged_dup = [rid for rid, r in got.items() if "near_duplicate" in r["reasons"]]
    planted_dup = [rid for rid in flagged_dup if truth.get(rid, ("",))[0].startswith("near-duplicate")]
    fp = Counter(code for rid in untouched for code in got[rid]["reasons"])
    return {"name": name, "n": len(recs), "hit": hit, "total": total, "dup_flags": len(flagged_dup),
            "dup_precision": len(planted_dup) / max(len(flagged_dup), 1), "fp": fp, "untouched": len(untouched),
            "fp_any": sum(bool(got[rid]["reasons"]) for rid in untouched), "wall": wall, "cpu": cpu,
            "checks": rep.seconds_checks}


def judge_overhead(recs: list[dict], tmp: Path, delay: float, concurrency: int) -> tuple[float, float]:
    res = tmp / "judge.jsonl"
    res.write_text("".join(json.dumps(r) + "\n" for r in recs))
    out = tmp / f"judge_{delay}.checked.jsonl"
    out.unlink(missing_ok=True)
    with FakeOpenAI(delay=delay) as srv:
        w0, c0 = time.perf_counter(), time.process_time()
        rep = check(res, out, config=CheckConfig(judge_model="fake-judge"), base_url=srv.base_url, api_key="sk-bench",
                    concurrency=concurrency, use_cache=False)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    assert rep.judged == len(recs), rep.table()
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=12, help="generations per demo combination (96 combinations)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--judge", type=int, default=200, help="samples for the judge-overhead runs")
    ap.add_argument("--embed", action="store_true", help="also embedding dedup (cosine 0.95, bundled model, cold cache)")
    args = ap.parse_args()
    from steps_engine.quality.seedcopy import load_seed_examples

    prompts = [(i, json.loads(l)["prompt"]) for i, l in enumerate(IFEVAL.read_text().splitlines(), 1)]
    prompts = [(i, p) for i, p in prompts if len(words(p)) >= 13]
    cfg = CheckConfig(decontaminate=(str(IFEVAL),))
    print(f"# bench_quality: {machine_line()}")
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        real = real_set()
        for seed in args.seeds:
            rng = random.Random(seed)
            t0 = time.perf_counter()
            synth, tax_dir = synthetic_set(tmp, args.n, seed)
            gen = time.perf_counter() - t0
            ids = {s["source_id"] for r in synth for s in r["seeds"]}
            seed_texts, _ = load_seed_examples(tax_dir, ids)
            print(f"seed {seed}: {len(synth)} synthetic samples generated through the loopback server in {gen:.1f} s",
                  flush=True)
            rows.append(measure(f"synthetic-s{seed}", *plant(synth, rng, prompts, seed_texts), tmp, tax_dir, cfg))
            planted_real = plant(real, rng, prompts, None)
            rows.append(measure(f"real-ism-s{seed}", *planted_real, tmp, None, cfg))
            if args.embed and seed == args.seeds[0]:
                from dataclasses import replace

                from steps_engine.semantic.embeddings import get_embedder

                emb = get_embedder(cache_dir=tmp / "emb")  # empty cache: the embedding cost is in the time
                rows.append(measure(f"real-ism-s{seed} + embedding 0.95", *planted_real, tmp, None,
                                    replace(cfg, embed_threshold=0.95), embedder=emb))
        kinds = sorted({k for r in rows for k in r["total"]})
        print("\n| set | samples | " + " | ".join(kinds) + " | dedup precision | false positives on untouched | "
              "check() wall / CPU s | per 1,000 wall / CPU s |")
        print("|---|---:|" + "---:|" * len(kinds) + "---:|---|---:|---:|")
        for r in rows:
            rec = " | ".join(f"{r['hit'][k]}/{r['total'][k]}" if r["total"][k] else "-" for k in kinds)
            fp = ", ".join(f"{c} {n}" for c, n in r["fp"].most_common()) or "none"
            per = 1000 / r["n"]
            print(f"| {r['name']} | {r['n']} | {rec} | {r['dup_precision']:.3f} ({r['dup_flags']} flags) | "
                  f"{r['fp_any']}/{r['untouched']} ({fp}) | {r['wall']:.2f} / {r['cpu']:.2f} | "
                  f"{r['wall'] * per:.2f} / {r['cpu'] * per:.2f} |")
        if args.judge:
            sample = synth[: args.judge]
            print(f"\njudge overhead on {len(sample)} samples (loopback judge, concurrency 8):")
            print("| server delay s | ideal (requests x delay / 8) s | wall s | CPU s | overhead per sample ms |")
            print("|---:|---:|---:|---:|---:|")
            for delay in (0.0, 0.25):
                wall, cpu = judge_overhead(sample, tmp, delay, 8)
                ideal = len(sample) * delay / 8
                print(f"| {delay} | {ideal:.2f} | {wall:.2f} | {cpu:.2f} | {1000 * (wall - ideal) / len(sample):.1f} |")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

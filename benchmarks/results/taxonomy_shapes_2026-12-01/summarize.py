"""Every cell of the shapes grid against issue 15's three targets, from the raw JSON here.

Usage: PYTHONPATH=. python benchmarks/results/taxonomy_shapes_2026-12-01/summarize.py [--markdown] [DIR [BEFORE]]
(DIR: the folder of JSON files, default this one; BEFORE: a folder of an earlier run of the
same cells, whose multilevel H^T the table shows beside DIR's). Prints the losing cells (entropy above the best reference by more than 1e-9 bits, recovery
below NMI 0.99 / 0.95 or with fragments at height 3, CPU time above Leiden's 2-level run) and
the counts; --markdown prints the full per-cell table of docs/taxonomy_shapes.md."""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def small_planted_tops(sh: dict, n: int, seed: int) -> int:
    """Planted top groups with fewer than 1% of the skills (the generator's "every subgroup
    non-empty" step takes most of the first subgroups' skills at small sizes)."""
    from collections import Counter

    from steps_engine.data.synthetic import planted_skill_rows

    names, _ = planted_skill_rows(n, 1, n_top=sh.get("n_top", 8), n_sub=sh.get("n_sub", 5), seed=seed)
    return sum(c < 0.01 * n for c in Counter(x.split("_")[0] for x in names).values())
REFS = ("greedy", "planted", "louvain", "leiden", "reference")


def refs_of(r: dict, h: int) -> dict:
    out = {}
    if isinstance(r["greedy"], dict):
        out["greedy"] = r["greedy"][f"d{h}"]["H"]
    if isinstance(r["baselines"], dict):
        for k in ("planted", "louvain", "leiden"):
            out[k] = r["baselines"][f"d{h}"][k]["H"]
    ref = r["ref"].get(str(h))
    if isinstance(ref, dict):
        out["reference"] = ref["H"]
    return out


def shape_name(sh: dict) -> str:
    default = {"n_top": 8, "n_sub": 5, "zipf": 0.8}
    return ",".join(f"{k}={v}" for k, v in sh.items() if default.get(k) != v) or "default"


def cells(folder: Path):
    for f in sorted(folder.glob("*.json")):
        d = json.loads(f.read_text())
        for r in d["results"]:
            m = r["multilevel"]
            if not isinstance(m, dict):
                yield f.stem, d.get("shape", {}), r, None
                continue
            yield f.stem, d.get("shape", {}), r, m


def main(markdown: bool, folder: Path, before: Path | None = None) -> int:
    old = {}
    if before is not None:
        for name, _, r, m in cells(before):
            for h in (2, 3, 4, 5):
                if m is not None and f"d{h}" in m:
                    old[(name, r["n"], r["seed"], h)] = m[f"d{h}"]["H"]
    n_cells = n_lost = n_rec = n_rec_miss = n_time = n_time_miss = 0
    worst = None
    rows, losses, rec_miss, time_miss = [], [], [], []
    for name, sh, r, m in cells(folder):
        if m is None:
            losses.append(f"{name} n={r['n']} seed {r['seed']}: multilevel {r['multilevel']}")
            continue
        b = r["baselines"]
        lt = b["leiden_cpu"] if isinstance(b, dict) else None
        hs = sorted(int(k[1:]) for k in m if k.startswith("d") and k[1:].isdigit())
        for h in hs:
            ours = m[f"d{h}"]["H"]
            refs = refs_of(r, h)
            best = min(refs, key=refs.get)
            diff = ours - refs[best]
            n_cells += 1
            lost = diff > 1e-9
            if lost:
                n_lost += 1
                losses.append(f"{name} ({shape_name(sh)}) n={r['n']} seed {r['seed']} h={h}: {ours:.6f} vs {best} {refs[best]:.6f} (+{diff:.2e})")
                if worst is None or diff > worst[0]:
                    worst = (diff, name, shape_name(sh), r["n"], r["seed"], h, best)
            d3 = m[f"d{h}"]
            rec = ""
            if h == 3:
                n_rec += 1
                ok = d3["nmi1"] >= 0.99 and d3["nmi2"] >= 0.95 and d3["fragments"] == 0
                if not ok:
                    n_rec_miss += 1
                    pl = b["d3"]["planted"]["H"] if isinstance(b, dict) else float("nan")
                    le = b["d3"]["leiden"] if isinstance(b, dict) else None
                    small = small_planted_tops(sh, r["n"], r["seed"]) if d3["fragments"] else 0
                    rec_miss.append(
                        f"{name} ({shape_name(sh)}) n={r['n']} seed {r['seed']}: {d3['top']} depth-1 clusters, NMI {d3['nmi1']:.4f} / {d3['nmi2']:.4f}, "
                        f"{d3['fragments']} fragments{f' ({small} planted top groups are < 1%)' if small else ''}; H^T {d3['H']:.4f} vs planted tree {pl:.4f}"
                        + (f"; Leiden: {le['top']} clusters, NMI {le['nmi1']:.4f} / {le['nmi2']:.4f}, {le['fragments']} fragments" if le else "")
                    )
                rec = f"{d3['top']} / {d3['nmi1']:.4f} / {d3['nmi2']:.4f} / {d3['fragments']}" + ("" if ok else " **miss**")
            t = ""
            if lt is not None:
                n_time += 1
                cpu = m[f"cpu{h}"]
                if cpu > lt:
                    n_time_miss += 1
                    time_miss.append(f"{name} ({shape_name(sh)}) n={r['n']} seed {r['seed']} h={h}: {cpu:.3f} s CPU vs Leiden {lt:.3f} s")
                t = f"{cpu:.2f} / {lt:.2f}" + (" **slower**" if cpu > lt else "")
            others = refs[best]
            was = old.get((name, r["n"], r["seed"], h))
            was_cell = "" if before is None else (f"{was:.4f} | " if was is not None else "- | ")
            rows.append(
                f"| {shape_name(sh)} | {r['n']:,} | {m['edges']:,} | {h} | {r['seed']} | {was_cell}{ours:.4f} | {best} {others:.4f} | {diff:+.1e}{' **lost**' if lost else ''} | {rec} | {t} |"
            )
    if markdown:
        first = "" if before is None else "multilevel H^T before | "
        print(f"| shape | skills | edges | h | seed | {first}multilevel H^T | best reference | difference | h=3: depth-1 / NMI1 / NMI2 / fragments | CPU s multilevel / Leiden |")
        print("|:---|---:|---:|---:|---:|" + ("---:|" if before is not None else "") + "---:|:---|---:|:---|:---|")
        print("\n".join(rows))
        return 0
    print(f"entropy: {n_cells} cells, {n_lost} above the best reference by > 1e-9 bits")
    print("\n".join("  " + x for x in losses))
    if worst:
        print(f"  worst: +{worst[0]:.4f} bits, {worst[1]} ({worst[2]}) n={worst[3]} seed {worst[4]} h={worst[5]} vs {worst[6]}")
    print(f"recovery (h=3): {n_rec} cells, {n_rec_miss} misses")
    print("\n".join("  " + x for x in rec_miss))
    print(f"time: {n_time} cells, {n_time_miss} slower than Leiden's 2-level run (CPU)")
    print("\n".join("  " + x for x in time_miss))
    return 0


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--markdown"]
    sys.exit(main("--markdown" in sys.argv[1:], Path(args[0]) if args else HERE, Path(args[1]) if len(args) > 1 else None))

"""Ingest benchmark: synthetic JSONL -> count_skills -> build_graph, time and peak memory.

Usage: .venv/bin/python benchmarks/bench_ingest.py [--rows 1000000] [--skills 5000] [--seed 0]

Writes a synthetic file into a temporary directory (Zipf skill popularity, 1-5 skills per row,
Infinity-Instruct-like records with the skills under label.ability_en), then prints a markdown
table. Peak RSS comes from resource.getrusage (the whole process, generation included).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _machine import cpu_model, peak_rss_mb  # noqa: E402
from steps_engine.taxonomy.graph import build_graph  # noqa: E402
from steps_engine.data.ingest import FieldMapping, count_skills  # noqa: E402


def write_synthetic(path: Path, rows: int, n_skills: int, seed: int) -> tuple[int, float]:
    """Zipf(1.1) popularity over n_skills names, 1-5 draws per row (duplicates within a row
    collapse, as in real tagging). Returns (bytes written, mean skills per row drawn)."""
    rng = np.random.default_rng(seed)
    names = [f"skill_{i:05d}" for i in range(n_skills)]
    p = 1.0 / np.arange(1, n_skills + 1) ** 1.1
    p /= p.sum()
    k = rng.integers(1, 6, size=rows)
    draws = rng.choice(n_skills, size=int(k.sum()), p=p)
    quoted = [f'"{s}"' for s in names]
    o = 0
    with open(path, "w", encoding="utf-8") as fh:
        buf = []
        for r in range(rows):
            n = int(k[r])
            skills = ", ".join(quoted[j] for j in draws[o : o + n])
            o += n
            buf.append(
                f'{{"id": {r}, "conversations": [{{"from": "human", "value": "Task {r}: do the thing."}}, '
                f'{{"from": "gpt", "value": "Done."}}], "label": {{"ability_en": [{skills}]}}}}\n'
            )
            if len(buf) >= 50_000:
                fh.write("".join(buf))
                buf = []
        fh.write("".join(buf))
    return path.stat().st_size, float(k.mean())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--skills", type=int, default=5_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.rows < 1 or args.skills < 2:
        ap.error("--rows must be >= 1 and --skills >= 2")

    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp:
        path = Path(tmp) / "synthetic.jsonl"
        t = time.perf_counter()
        size, mean_k = write_synthetic(path, args.rows, args.skills, args.seed)
        t_gen = time.perf_counter() - t
        rss_before = peak_rss_mb()

        t = time.perf_counter()
        counts, report = count_skills(path, FieldMapping("label.ability_en"))
        t_count = time.perf_counter() - t
        t = time.perf_counter()
        graph, _ = build_graph(
            counts.skills, counts.counts, counts.n_rows, counts.pair_src, counts.pair_dst, counts.pair_count
        )
        t_graph = time.perf_counter() - t
        rss_peak = peak_rss_mb()

    total = t_count + t_graph
    print(f"## Ingest benchmark ({dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC)\n")
    print(f"Machine: {os.cpu_count()} cores (nproc), {cpu_model()}, Python {platform.python_version()}, "
          f"numpy {np.__version__}\n")
    print("| rows | file MB | skills drawn/row | distinct skills | edges | count_skills s | build_graph s "
          "| total s | rows/s | peak RSS MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {report.rows_used:,} | {size / 2**20:.0f} | {mean_k:.2f} | {graph.n_skills:,} | {graph.n_edges:,} "
        f"| {t_count:.1f} | {t_graph:.2f} | {total:.1f} | {report.rows_used / total:,.0f} | {rss_peak:.0f} |"
    )
    print(f"\n(synthetic file written in {t_gen:.1f} s; peak RSS after writing it: {rss_before:.0f} MB; "
          f"rows skipped: {report.rows_skipped})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

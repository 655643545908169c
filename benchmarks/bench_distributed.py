"""Counting and tagging on Ray beside the single-process path: rows per second with 1 and 2 local
workers, CPU seconds of every process involved, and a projection for 500 million rows.

Usage: .venv/bin/python benchmarks/bench_distributed.py [--rows 1000000] [--tag-records 400]
                                                         [--workers 1,2] [--skip-tagging]

Counting: the synthetic Infinity-Instruct-like JSONL of bench_ingest (Zipf skills, 1-5 per row),
`count_skills` in this process vs `count_skills_ray` on a local Ray started with N CPUs
(64 MB blocks; --block-mb). Tagging: Instruct-SkillMix records with their responses (written as
JSONL) against the 1,132-skill GPT-4 vocabulary with the bundled all-MiniLM-L6-v2, `tag_file`
vs `tag_file_ray` with N actors; a fresh embedding cache holds the vocabulary only (as after a
first run), so every record is embedded once and read back in pass 2, on both engines. The Ray figures include starting the actors (the model
loads once per actor and pass) but not starting Ray itself, which is timed apart. CPU seconds are
user + system time of this process and every live descendant (Ray's GCS, raylet and workers),
read from /proc before and after each run.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import machine_line  # noqa: E402
from bench_ingest import write_synthetic  # noqa: E402

from steps_engine.data.ingest import FieldMapping, count_skills  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "instruct_skillmix"
TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(root: int | None = None) -> float:
    """utime + stime of `root` and all its live descendants (Linux /proc)."""
    root = root or os.getpid()
    parent, cpu = {}, {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        parent[int(d)] = int(fields[1])
        cpu[int(d)] = (int(fields[11]) + int(fields[12])) / TICK
    total = 0.0
    for pid in cpu:
        p = pid
        while p and p != root:
            p = parent.get(p, 0)
        if p == root:
            total += cpu[pid]
    return total


def timed(fn, driver: dict | None = None):
    c0, t0, d0 = tree_cpu_seconds(), time.perf_counter(), _own_cpu()
    out = fn()
    if driver is not None:
        driver["driver"] = _own_cpu() - d0  # this process alone: planning, merging, scheduling
    return out, time.perf_counter() - t0, tree_cpu_seconds() - c0


def _own_cpu() -> float:
    t = os.times()
    return t.user + t.system


def start_ray(workers: int):
    import ray

    t0 = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, configure_logging=False, log_to_driver=False)
    # warm up one task per CPU so worker start-up is not billed to the first run
    ray.get([ray.remote(lambda: 0).remote() for _ in range(workers)])
    return ray, time.perf_counter() - t0


def bench_counting(args, tmp: Path) -> list[dict]:
    from steps_engine.data.ray_counting import count_skills_ray

    path = tmp / "synthetic.jsonl"
    size, _ = write_synthetic(path, args.rows, args.skills, args.seed)
    mapping = FieldMapping("label.ability_en")
    (counts, rep), wall, cpu = timed(lambda: count_skills(path, mapping))
    rows = [{"stage": "counting", "engine": "single process", "workers": 1, "rows": rep.rows_read,
             "mb": size / 2**20, "wall": wall, "cpu": cpu, "load": os.getloadavg()[0], "start": 0.0}]
    for n in args.workers:
        ray, start = start_ray(n)
        extra: dict = {}
        try:
            (c2, r2), wall, cpu = timed(lambda: count_skills_ray(path, mapping, block_bytes=int(args.block_mb * 2**20)),
                                        extra)
        finally:
            ray.shutdown()
        assert c2.skills == counts.skills and (c2.pair_count == counts.pair_count).all()  # the same result
        per_mb = r2.rows_read / (size / 2**20)
        rows.append({"stage": "counting", "engine": "Ray", "workers": n, "rows": r2.rows_read, "mb": size / 2**20,
                     "wall": wall, "cpu": cpu, "load": os.getloadavg()[0], "start": start,
                     "unit_rows": per_mb * args.block_mb, "default_unit_rows": per_mb * 64, **extra})
    return rows


def bench_tagging(args, tmp: Path) -> list[dict]:
    from steps_engine.semantic.embeddings import get_embedder
    from steps_engine.semantic.ray_tagging import tag_file_ray
    from steps_engine.semantic.tagging import TagConfig, Vocabulary, tag_file

    records = json.loads((DATA / "ism_sda_k2_1000.json").read_text(encoding="utf-8"))[: args.tag_records]
    src = tmp / "ism.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    vocab = Vocabulary((DATA / "skills_gpt4.txt").read_text(encoding="utf-8").splitlines())
    config = TagConfig()
    batch = max(1, -(-len(records) // 8))  # 8 chunks: work for up to 8 actors
    # a fresh cache holding only the vocabulary's phrases (every chunk embeds them): the records
    # are embedded for real in pass 1 and read back from the cache in pass 2, on both engines
    cache = tmp / "cache"
    factory = functools.partial(get_embedder, None, str(cache), cache=True)
    factory().encode(vocab.phrases(config.template, config.phrase_names))
    _, wall, cpu = timed(lambda: tag_file(src, tmp / "local.jsonl", vocab, factory(), config, chunk_records=batch))
    rows = [{"stage": "tagging", "engine": "single process", "workers": 1, "rows": len(records), "wall": wall,
             "cpu": cpu, "load": os.getloadavg()[0], "start": 0.0}]
    for n in args.workers:
        ray, start = start_ray(n)
        extra = {}
        try:
            _, wall, cpu = timed(lambda: tag_file_ray(src, tmp / f"ray{n}.jsonl", vocab, factory, config,
                                                      batch_size=batch, concurrency=n), extra)
        finally:
            ray.shutdown()
        same = (tmp / f"ray{n}.jsonl").read_bytes() == (tmp / "local.jsonl").read_bytes()
        rows.append({"stage": "tagging", "engine": "Ray", "workers": n, "rows": len(records), "wall": wall,
                     "cpu": cpu, "load": os.getloadavg()[0], "start": start, "same": same,
                     "unit_rows": batch, "default_unit_rows": 2000, **extra})
    return rows


def projection(rows: list[dict], total_rows: float = 5e8) -> list[str]:
    """Wall time for 500M rows on N workers: the workers' share of the 1-worker Ray run's CPU
    seconds spread over N, but never below the driver's share, which does not spread (it plans,
    merges and writes while the workers run)."""
    out = []
    for stage in ("counting", "tagging"):
        ray1 = [r for r in rows if r["stage"] == stage and r["engine"] == "Ray" and r["workers"] == 1]
        if not ray1:
            continue
        r = ray1[0]
        worker_rate = r["rows"] / max(r["cpu"] - r["driver"], 1e-9)
        # the driver's cost is per block (counting) or per chunk (tagging): scale it from the
        # measured block to the default one (64 MB blocks, 2,000-record chunks)
        driver_floor = total_rows * r["driver"] / r["rows"] * r["unit_rows"] / r["default_unit_rows"]
        cells = []
        for n in (1, 8, 32, 128):
            sec = max(total_rows / (worker_rate * n), driver_floor)
            cells.append(f"{sec / 3600:,.1f} h" if sec >= 3600 else f"{sec / 60:,.0f} min")
        out.append(f"| {stage} | {worker_rate:,.0f} | {driver_floor / 60:,.0f} min | " + " | ".join(cells) + " |")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--skills", type=int, default=5_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--block-mb", type=float, default=16.0)
    ap.add_argument("--tag-records", type=int, default=400)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--skip-tagging", action="store_true")
    args = ap.parse_args(argv)
    args.workers = [int(x) for x in args.workers.split(",")]
    print(f"## Distributed benchmark\n\nMachine: {machine_line()}\n")
    with tempfile.TemporaryDirectory(prefix="bench_distributed_") as tmp:
        rows = bench_counting(args, Path(tmp))
        print_rows(rows)
        print(flush=True)
        if not args.skip_tagging:
            rows += bench_tagging(args, Path(tmp))
    print_rows(rows)
    print("\nProjection for 500M rows from the 1-worker Ray run's rows per CPU-second (N workers: wall time):\n")
    print("| stage | rows per CPU-s per worker | driver floor | N = 1 | N = 8 | N = 32 | N = 128 |")
    print("|---|---:|---:|---|---|---|---|")
    print("\n".join(projection(rows)))
    return 0


def print_rows(rows):
    print("| stage | engine | workers | rows | wall s | rows/s (wall) | CPU s (all processes) | of it driver | rows per CPU-s | load | Ray start s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        note = "" if r.get("same", True) else " (output differs!)"
        print(f"| {r['stage']} | {r['engine']}{note} | {r['workers']} | {r['rows']:,} | {r['wall']:.1f} "
              f"| {r['rows'] / r['wall']:,.0f} | {r['cpu']:.1f} | {r.get('driver', r['cpu']):.1f} "
              f"| {r['rows'] / max(r['cpu'], 1e-9):,.0f} "
              f"| {r['load']:.1f} | {r['start']:.1f} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())

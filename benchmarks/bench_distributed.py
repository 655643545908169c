"""Counting and tagging on Ray beside the single-process path: rows per second with 1 and 2 local
workers, CPU seconds of every process involved, and a projection for 500 million rows.

Usage: .venv/bin/python benchmarks/bench_distributed.py [--rows 1000000] [--tag-records 400]
                                                         [--workers 1,2] [--skip-tagging] [--skip-counting]

Counting: the synthetic Infinity-Instruct-like JSONL of bench_ingest (Zipf skills, 1-5 per row),
`count_skills` in this process vs `count_skills_ray` on a local Ray started with N CPUs
(64 MB blocks; --block-mb). Tagging: Instruct-SkillMix records with their responses (written as
JSONL) against the 1,132-skill GPT-4 vocabulary with the bundled all-MiniLM-L6-v2, `tag_file`
vs `tag_file_ray` with N actors; a fresh embedding cache holds the vocabulary only (as after a
first run), so every record is embedded once and read back in pass 2, on both engines. The Ray figures include starting the actors (the model
loads once per actor and pass) but not starting Ray itself, which is timed apart. CPU seconds are
user + system time of this process and every descendant (Ray's GCS, raylet, workers and actors),
sampled from /proc every 0.2 s during each run.
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


def _tree_cpu() -> dict[int, float]:
    """{pid: utime + stime} of this process and all its live descendants (Linux /proc)."""
    root = os.getpid()
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
    out = {}
    for pid in cpu:
        p = pid
        while p and p != root:
            p = parent.get(p, 0)
        if p == root:
            out[pid] = cpu[pid]
    return out


def timed(fn, driver: dict | None = None):
    """(result, wall s, CPU s of this process and every descendant). Sampled every 0.2 s, so the
    CPU of processes that exit during the run (actors of a finished pass) is counted too."""
    import threading

    before = _tree_cpu()
    seen = dict(before)
    stop = threading.Event()

    def sample():
        while not stop.wait(0.2):
            seen.update(_tree_cpu())

    thread = threading.Thread(target=sample, daemon=True)
    t0, d0 = time.perf_counter(), _own_cpu()
    thread.start()
    out = fn()
    stop.set()
    thread.join()
    seen.update(_tree_cpu())
    if driver is not None:
        driver["driver"] = _own_cpu() - d0  # this process alone: planning, merging, scheduling
    return out, time.perf_counter() - t0, sum(seen.values()) - sum(before.values())


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
    def fresh_factory(name):
        factory = functools.partial(get_embedder, None, str(tmp / f"cache-{name}"), cache=True)
        factory().encode(vocab.phrases(config.template, config.phrase_names))
        return factory

    factory = fresh_factory("local")
    _, wall, cpu = timed(lambda: tag_file(src, tmp / "local.jsonl", vocab, factory(), config, chunk_records=batch))
    rows = [{"stage": "tagging", "engine": "single process", "workers": 1, "rows": len(records), "wall": wall,
             "cpu": cpu, "load": os.getloadavg()[0], "start": 0.0}]
    for n in args.workers:
        factory = fresh_factory(f"ray{n}")
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


class _HashEmbedder:
    """A stand-in model for timing the driver: a fixed random unit vector per text."""

    model_id = "bench/hash"

    def encode(self, texts, batch_size=64, progress=None):
        import hashlib

        import numpy as np

        out = np.stack([np.random.default_rng(int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little"))
                        .normal(size=16) for t in texts]) if texts else np.zeros((0, 16))
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def driver_costs(args, tmp: Path) -> dict:
    """Driver CPU seconds per counting block and per tagging chunk: two runs that differ only in
    how many blocks / chunks they cut the same input into; the difference over the difference."""
    from steps_engine.data.ray_counting import count_skills_ray
    from steps_engine.semantic.ray_tagging import tag_file_ray
    from steps_engine.semantic.tagging import TagConfig, Vocabulary

    path = tmp / "driver.jsonl"
    write_synthetic(path, 200_000, args.skills, args.seed)
    size = path.stat().st_size
    ray, _ = start_ray(2)
    try:
        d = {}
        for mb in (size / 2**20 / 4, size / 2**20 / 200):  # 4 and 200 blocks
            extra = {}
            timed(lambda: count_skills_ray(path, FieldMapping("label.ability_en"), block_bytes=int(mb * 2**20)), extra)
            d[mb] = extra["driver"]
        (big, small) = sorted(d, reverse=True)
        per_block = max(d[small] - d[big], 0.0) / (200 - 4)
        src = tmp / "driver_tag.jsonl"
        src.write_text("".join(json.dumps({"instruction": f"task {i} of the bench"}) + "\n" for i in range(20_000)))
        vocab = Vocabulary([f"skill {i}" for i in range(50)])
        t = {}
        for batch in (5000, 100):  # 4 and 200 chunks
            extra = {}
            timed(lambda: tag_file_ray(src, tmp / "driver_out.jsonl", vocab, _HashEmbedder, TagConfig(),
                                       batch_size=batch, concurrency=2), extra)
            t[batch] = extra["driver"]
        per_chunk = max(t[100] - t[5000], 0.0) / (200 - 4)
    finally:
        ray.shutdown()
    return {"counting": per_block, "tagging": per_chunk}


def projection(rows: list[dict], per_unit: dict, total_rows: float = 5e8) -> list[str]:
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
        # the driver's cost per block (counting, 64 MB) or per chunk (tagging, 2,000 records)
        driver_floor = total_rows / r["default_unit_rows"] * per_unit[stage]
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
    ap.add_argument("--skip-counting", action="store_true")
    args = ap.parse_args(argv)
    args.workers = [int(x) for x in args.workers.split(",")]
    print(f"## Distributed benchmark\n\nMachine: {machine_line()}\n")
    with tempfile.TemporaryDirectory(prefix="bench_distributed_") as tmp:
        rows = [] if args.skip_counting else bench_counting(args, Path(tmp))
        print_rows(rows)
        print(flush=True)
        if not args.skip_tagging:
            rows += bench_tagging(args, Path(tmp))
        per_unit = driver_costs(args, Path(tmp))
    print_rows(rows)
    print("\nProjection for 500M rows from the 1-worker Ray run's rows per CPU-second (N workers: wall time):\n")
    print("| stage | rows per CPU-s per worker | driver floor (serial) | N = 1 | N = 8 | N = 32 | N = 128 |")
    print("|---|---:|---:|---|---|---|---|")
    print("\n".join(projection(rows, per_unit)))
    print(f"\nDriver CPU per block {per_unit['counting'] * 1000:.1f} ms, per tagging chunk "
          f"{per_unit['tagging'] * 1000:.1f} ms (from 4 vs 200 blocks / chunks of the same input).")
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

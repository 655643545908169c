"""Input shapes benchmark: the same synthetic rows as one JSONL file, gzip / zstd shards and
Parquet shards -> count_skills. Checks every shape gives the counts of the plain file.

Usage: .venv/bin/python benchmarks/bench_sources.py [--rows 300000] [--shards 8] [--seed 0]
Prints a markdown table (wall and CPU seconds per shape, rows/s, peak RSS of the process).
"""

from __future__ import annotations

import argparse
import gzip
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import machine_line, peak_rss_mb  # noqa: E402
from bench_ingest import write_synthetic  # noqa: E402
from steps_engine.data.ingest import FieldMapping, count_skills  # noqa: E402


def split(path: Path, folder: Path, shards: int, kind: str) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    folder.mkdir()
    per = -(-len(lines) // shards)
    for i in range(shards):
        part = b"".join(lines[i * per : (i + 1) * per])
        if kind == "gz":
            (folder / f"p{i:03d}.jsonl.gz").write_bytes(gzip.compress(part, 6))
        elif kind == "zst":
            import zstandard

            (folder / f"p{i:03d}.jsonl.zst").write_bytes(zstandard.ZstdCompressor(level=3).compress(part))
        else:
            import json

            import pyarrow as pa
            import pyarrow.parquet as pq

            rows = [json.loads(x) for x in part.splitlines()]
            pq.write_table(pa.Table.from_pylist(rows), folder / f"p{i:03d}.parquet")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=300_000)
    ap.add_argument("--skills", type=int, default=5_000)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    mapping = FieldMapping("label.ability_en")
    with tempfile.TemporaryDirectory(prefix="bench_sources_") as tmp:
        tmp = Path(tmp)
        plain = tmp / "all.jsonl"
        write_synthetic(plain, args.rows, args.skills, args.seed)
        shapes = {"plain JSONL": plain}
        for kind in ("gz", "zst", "parquet"):
            split(plain, tmp / kind, args.shards, kind)
            shapes[f"{args.shards} {kind} shards"] = tmp / kind
        ref = None
        print(f"{machine_line()}\n")
        print("| input | MB on disk | wall s | CPU s | rows/s | same counts |")
        print("|---|---:|---:|---:|---:|---|")
        for name, src in shapes.items():
            size = sum(p.stat().st_size for p in ([src] if src.is_file() else src.iterdir()))
            w, c = time.perf_counter(), time.process_time()
            counts, report = count_skills(src, mapping)
            wall, cpu = time.perf_counter() - w, time.process_time() - c
            key = (counts.skills, np.asarray(counts.counts).tolist(), np.asarray(counts.pair_count).tolist())
            ref = key if ref is None else ref
            print(f"| {name} | {size / 1e6:.1f} | {wall:.2f} | {cpu:.2f} | {report.rows_read / wall:,.0f} | "
                  f"{'yes' if key == ref else 'NO'} |")
        print(f"\npeak RSS {peak_rss_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

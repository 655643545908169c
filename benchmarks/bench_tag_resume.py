"""What `steps tag`'s resume costs: `tag_file` with its checkpoint (`<out>.partial/`: the input's
sha256, pass-1 sums after every chunk, every chunk written twice) against `resume=False`.

A cheap deterministic embedder (hash -> random unit vector, dim 384) stands in for the model so
the overhead is not hidden behind minutes of embedding; with the real model it is a smaller share.
Input: Instruct-SkillMix's 1,000 records repeated `--copies` times; 300 skills of skills_gpt4.txt.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_tag_resume.py [--copies 5] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _embedding_fakes import CountingEmbedder  # noqa: E402
from _machine import machine_line  # noqa: E402

from steps_engine.semantic.tagging import TagConfig, Vocabulary, tag_file  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "instruct_skillmix"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    records = json.loads((DATA / "ism_sda_k2_1000.json").read_text(encoding="utf-8"))
    vocab = Vocabulary((DATA / "skills_gpt4.txt").read_text(encoding="utf-8").splitlines()[:300])
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.jsonl"
        src.write_text("".join(json.dumps(r) + "\n" for r in records * args.copies), encoding="utf-8")
        best = {}
        for r in range(args.repeat):
            for resume in ((False, True) if r % 2 == 0 else (True, False)):  # the order alternates
                out = Path(tmp) / f"out-{resume}.jsonl"
                w0, c0 = time.perf_counter(), time.process_time()
                tag_file(src, out, vocab, CountingEmbedder(dim=384), TagConfig(), chunk_records=2000, resume=resume)
                wall, cpu = time.perf_counter() - w0, time.process_time() - c0
                best[resume] = min(best.get(resume, (1e9, 1e9)), (wall, cpu))
        same = (Path(tmp) / "out-False.jsonl").read_bytes() == (Path(tmp) / "out-True.jsonl").read_bytes()
        size = (Path(tmp) / "out-True.jsonl").stat().st_size / 1e6
    print(machine_line())
    print(f"{len(records) * args.copies} records, {len(vocab)} skills, output {size:.1f} MB, same bytes: {same}")
    print("| tag_file | wall s | CPU s |\n|---|---|---|")
    for resume, name in ((False, "resume=False"), (True, "resume=True (default)")):
        print(f"| {name} | {best[resume][0]:.2f} | {best[resume][1]:.2f} |")


if __name__ == "__main__":
    main()

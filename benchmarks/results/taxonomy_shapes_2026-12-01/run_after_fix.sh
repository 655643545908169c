#!/bin/sh
# The multilevel builder of this branch (a660b90 and later) on every shape of run_grid.sh, the
# references taken from the first run's JSON (--reuse: same graphs, the generator is seeded).
# Writes after_fix/<shape>.json. Run from the repo root after run_grid.sh.
D=$(pwd)/benchmarks/results/taxonomy_shapes_2026-12-01
PY=${PY:-/work/main/.venv/bin/python}
OUT=${OUT:-after_fix}
mkdir -p "$D/$OUT"
for f in "$D"/*.json; do
  name=$(basename "$f" .json)
  [ -f "$D/$OUT/$name.json" ] && continue
  shape=$("$PY" -c "import json,sys; s=json.load(open(sys.argv[1]))['shape']; print(','.join(f'{k}={v}' for k,v in s.items()))" "$f")
  sizes=$("$PY" -c "import json,sys; print(','.join(sorted({str(r['n']) for r in json.load(open(sys.argv[1]))['results']}, key=int)))" "$f")
  seeds=$("$PY" -c "import json,sys; print(','.join(sorted({str(r['seed']) for r in json.load(open(sys.argv[1]))['results']}, key=int)))" "$f")
  PYTHONPATH=$(pwd) nice -n 19 "$PY" benchmarks/bench_taxonomy.py --sizes "$sizes" --heights 2,3,4,5 --seeds "$seeds" --only multilevel \
    --shape "$shape" --reuse "$f" --out "$D/$OUT/$name.json" > "$D/$OUT/$name.txt" 2> "$D/$OUT/$name.log"
done

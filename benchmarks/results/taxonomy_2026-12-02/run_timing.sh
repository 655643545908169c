#!/bin/sh
# Timings with the top-down start, one job after another on a quiet machine. Run from the repo root.
D=benchmarks/results/taxonomy_2026-12-02
PY=${PY:-.venv/bin/python}
"$PY" benchmarks/bench_taxonomy.py --sizes 3000,10000 --heights 2,3,4,5 --only multilevel,baselines --repeat 3 --out $D/time_3k_10k.json > $D/time_3k_10k.txt 2>&1
for i in 1 2 3 4 5; do
  "$PY" benchmarks/bench_taxonomy.py --sizes 10000,50000 --heights 2,3,4,5 --only multilevel --repeat 3 --out $D/exponent_run$i.json > $D/exponent_run$i.txt 2>&1
done
"$PY" benchmarks/bench_taxonomy.py --sizes 300 --heights 4 --only multilevel --big 200000 --out $D/big_200k.json > $D/big_200k.txt 2>&1

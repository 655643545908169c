#!/bin/sh
# The default shape re-checked with the top-down start (entropies; references reused from the
# 2026-12-01 runs, same seeded graphs). Run from the repo root.
D=benchmarks/results/taxonomy_2026-12-02
P=benchmarks/results/taxonomy_2026-12-01
PY=${PY:-.venv/bin/python}
run() { out=$1; shift; [ -f "$D/$out.json" ] || nice -n 19 "$PY" benchmarks/bench_taxonomy.py --heights 2,3,4,5 --only multilevel "$@" --out "$D/$out.json" > "$D/$out.txt" 2> "$D/$out.log"; }
run seed0 --sizes 300,1000,3000,10000,20000,50000 --seeds 0 --reuse $P/seed0_1720.json
run seed1 --sizes 300,1000,3000,10000 --seeds 1 --reuse $P/seed1_1722.json
run seeds23 --sizes 300,1000,3000,10000 --seeds 2,3 --reuse $P/seeds23_1845.json
run seed2_big --sizes 20000,50000 --seeds 2 --reuse $P/seed2_big_1912.json

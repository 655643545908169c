#!/bin/sh
# The shapes grid of docs/taxonomy_shapes.md: one bench_taxonomy.py run per shape (resumes: a shape
# whose JSON exists is skipped). Run from the repo root: sh benchmarks/results/taxonomy_shapes_2026-12-01/run_grid.sh
# SRC: the checkout whose code is measured (default: this one; the 2026-12-01 run used an
# export of commit 420ff52, so that editing the builder meanwhile could not leak into it).
D=$(pwd)/benchmarks/results/taxonomy_shapes_2026-12-01
SRC=${SRC:-$(pwd)}
PY=${PY:-/work/main/.venv/bin/python}
run() {  # name sizes shape [seeds]
  [ -f "$D/$1.json" ] && return
  (cd "$SRC" && PYTHONPATH="$SRC" nice -n 19 "$PY" benchmarks/bench_taxonomy.py --sizes "$2" --heights 2,3,4,5 --seeds "${4:-5,6}" --ref-max 1000 \
    --only multilevel,greedy,baselines,ref --shape "$3" --out "$D/$1.json" > "$D/$1.txt" 2> "$D/$1.log")
}
S=300,1000,3000
run n_top3 $S n_top=3
run n_top4 $S n_top=4
run n_top16 $S n_top=16
run n_sub2 $S n_sub=2
run n_sub3 $S n_sub=3
run n_sub10 $S n_sub=10
run zipf0.6 $S zipf=0.6
run zipf1.4 $S zipf=1.4
run p_sib0.05 $S p_sibling=0.05
run p_sib0.45 $S p_sibling=0.45
run p_rnd0.0 $S p_random=0.0
run p_rnd0.15 $S p_random=0.15
run p_rnd0.3 $S p_random=0.3
run sparse5 $S rows_per_skill=5
run top4_sub10_sib0.4 $S n_top=4,n_sub=10,zipf=0.8,p_sibling=0.4
run top16_sub2 $S n_top=16,n_sub=2
run x_weak $S n_top=3,n_sub=10,p_sibling=0.45,p_random=0.3
run x_sparse_skew $S n_top=16,n_sub=3,zipf=1.4,rows_per_skill=5
run x_skew_noise $S zipf=1.4,p_random=0.3
run x_sparse2_sub10 $S n_sub=10,rows_per_skill=2
# 10,000 skills, seeds 5 and 6 (no reference port: it is O(n^2))
run big10k_n_top3 10000 n_top=3
run big10k_zipf0.6 10000 zipf=0.6
run big10k_p_sib0.05 10000 p_sibling=0.05
run big10k_sparse5 10000 rows_per_skill=5
run big10k_n_sub10 10000 n_sub=10

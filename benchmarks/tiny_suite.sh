#!/usr/bin/env bash
# The Tiny-ImageNet CPU scale's experiments, resumable: one 1-thread worker per call (start it twice for two).
#   bash benchmarks/tiny_suite.sh DATA_DIR [OUT] [RUNS]
# DATA_DIR: the unpacked tiny-imagenet-200 folder. Finished runs are skipped (records in OUT/records); a run another
# worker holds is left to it; an interrupted run resumes from its checkpoint in RUNS.
set -euo pipefail
data=${1:?the unpacked tiny-imagenet-200 folder}
out=${2:-docs/results}
runs=${3:-/work/runs}
export OMP_NUM_THREADS=1
common=(--scale cpu-tiny --data-dir "$data" --out "$out" --runs-dir "$runs")
# Vanilla first: its seed-0 run checks the scale's criterion (clean training error <= 2 %, test >= 15 points higher)
sgraft reproduce table3 --seeds 1 --row Vanilla "${common[@]}" > /dev/null
# the paper protocol's cells on every seed before the same-compute column: they decide Table 3's verdict
sgraft reproduce table3 --seeds 3 --column "50 · paper" "${common[@]}" > /dev/null
sgraft reproduce table3 wsol --seeds 3 "${common[@]}" > /dev/null
sgraft reproduce table6 --seeds 5 --reference-occlusion "${common[@]}" > /dev/null

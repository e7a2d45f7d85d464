#!/usr/bin/env bash
# The spoken-digit CPU scale's experiment, resumable: one 1-thread worker per call (start it twice for two).
#   bash benchmarks/speech_suite.sh DATA_DIR [OUT] [RUNS]
# DATA_DIR: the unpacked free-spoken-digit folder. Finished runs are skipped (records in OUT/records); a run another
# worker holds is left to it; an interrupted run resumes from its checkpoint in RUNS.
set -euo pipefail
data=${1:?the unpacked free-spoken-digit folder}
out=${2:-docs/results}
runs=${3:-/work/runs}
export OMP_NUM_THREADS=1
common=(--scale cpu-speech --data-dir "$data" --out "$out" --runs-dir "$runs")
# the official split under the paper protocol first (every method, seed by seed), then the speakers held out and
# the same-compute column
sgraft reproduce speech --seeds 5 --column "15 · paper" "${common[@]}" > /dev/null
sgraft reproduce speech --seeds 5 --column "speaker 0 held out · paper" --column "speaker 3 held out · paper" \
    "${common[@]}" > /dev/null
sgraft reproduce speech --seeds 5 "${common[@]}" > /dev/null

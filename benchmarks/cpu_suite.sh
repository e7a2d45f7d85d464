#!/usr/bin/env bash
# The cpu-scale suite in the order of issue 9's priorities, as one worker: start it twice for two 1-thread workers.
#
#   bash benchmarks/cpu_suite.sh DATA_DIR [OUT] [RUNS_DIR]    # from the repository root; OUT default docs/results,
#                                                             # RUNS_DIR default OUT/runs
#
# Workers given the same RUNS_DIR share the work: each run is claimed by one live process (experiments.runner.claim);
# the other moves on. Stopped workers resume when started again: finished runs are skipped by their records, an
# interrupted run continues from its checkpoint. Each worker uses one thread (two 1-thread runs beat one 2-thread run;
# PuzzleMix's graph cuts follow torch's thread count). Stop a worker with its training: kill -- -PGID (its process
# group), or kill its sgraft process. Each step writes OUT/report_cpu.md for its own experiment; the last step
# writes the whole report.
set -euo pipefail
data=${1:?usage: cpu_suite.sh DATA_DIR [OUT] [RUNS_DIR]}
out=${2:-docs/results}
runs=${3:-$out/runs}
command -v sgraft > /dev/null || { echo "cpu_suite: sgraft not found: pip install -e '.[dev]' first" >&2; exit 2; }
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
# A step that fails is logged and the worker goes on to the next one.
go() { sgraft reproduce "$@" --scale cpu --data-dir "$data" --out "$out" --runs-dir "$runs" > /dev/null ||
  echo "cpu_suite: failed: $*" >&2; }
go table5 --column "100 · paper"           # the headline comparison, 3 seeds
go network --seeds 1 --train-error --retrain-missing  # the overfitting criterion per size (clean training error)
go fastpath --seeds 1                      # bf16 + channels-last against fp32 on one cell
go table5 --column "100 · same compute"    # equal forward/backward sample passes
go table5 --column "100 · same objective"  # every mixer on clean + mixed
go fastpath                                # the fp32 check on 3 seeds
go table5                                  # 50 and 250 per class, 3 seeds
go tune --seeds 1                          # the same tuning budget per method, validation split, seed 0: the selection
go tuned                                   # each method's default and selection on fresh seeds 3-5, test set
go table6 --reference-occlusion --retrain-missing  # occlusion ranked by one network too (5 seeds; lost runs retrained)
go table7                                  # the ablation: SG's two components (its min_seeds: 5)
go table1
go fig4
go fig3
# Tuning seeds 1-2 last: the selection then reads 3 seeds and may change, so `tuned` must be run again after it.
go tune                                    # optional, beyond the issue
sgraft reproduce all --scale cpu --out "$out" --report-only > /dev/null

#!/usr/bin/env bash
# The cpu-scale suite in the order of issue 9's priorities, as one worker: start it twice for two 1-thread workers.
#
#   bash benchmarks/cpu_suite.sh DATA_DIR [OUT] [RUNS_DIR]    # OUT default docs/results, RUNS_DIR default OUT/runs
#
# Workers given the same RUNS_DIR share the work: each run is claimed by one live process (experiments.runner.claim);
# the other moves on. Stopped workers resume when started again: finished runs are skipped by their records, an
# interrupted run continues from its checkpoint. Each worker uses one thread (two 1-thread runs beat one 2-thread run).
set -euo pipefail
data=${1:?usage: cpu_suite.sh DATA_DIR [OUT] [RUNS_DIR]}
out=${2:-docs/results}
runs=${3:-$out/runs}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
# A step that fails is logged and the worker goes on to the next one.
go() { sgraft reproduce "$@" --scale cpu --data-dir "$data" --out "$out" --runs-dir "$runs" > /dev/null ||
  echo "cpu_suite: failed: $*" >&2; }
go table5 --column "100 · paper"           # the headline comparison, 3 seeds
go network --seeds 1                       # the overfitting criterion per size, and a narrower network
go fastpath --seeds 1                      # bf16 + channels-last against fp32 on one cell
go table5 --column "100 · same compute"    # equal forward/backward sample passes
go table5 --column "100 · same objective"  # every mixer on clean + mixed
go fastpath                                # the fp32 check on 3 seeds
go table5                                  # 50 and 250 per class, 3 seeds
go tune --seeds 1                          # same tuning budget per method, validation split (seed 0 first)
go tuned                                   # each method's default and selection on fresh seeds, test set
go tune                                    # seeds 1-2 of the tuning
go tuned                                   # the selection from all tuning seeds
go table6 --reference-occlusion --retrain-missing  # occlusion ranked by one network too (lost runs retrained)
go table1
go table7
go fig4
go fig3

"""Beyond one machine: the runs of ``reproduce`` and ``compare`` as jobs of submitit (SLURM, or local processes).

    executor = make_executor("slurm", folder, partition="gpu", timeout_min=240, gpus_per_node=1)
    run_experiment("table3", "cpu-tiny", 3, out, data_dir, executor=executor)

Every job trains one run with ``runner.train_claimed``: it claims the run in the shared runs folder (a file lock),
so jobs, retries and local workers never train one run twice, and a job whose run is already finished returns its
record. The built-in workers sharing a runs folder stay the default on one machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["ENGINES", "make_executor"]

# engine name -> submitit's cluster: "slurm" submits with sbatch, "local" runs each job in a process of this
# machine, "debug" runs it in this process (for tests and pdb).
ENGINES = {"slurm": "slurm", "local": "local", "debug": "debug"}


def make_executor(engine: str, folder: str | Path, **parameters: Any) -> Any:
    """A submitit executor of ``engine`` writing its logs and pickles under ``folder``.

    ``parameters`` are submitit's (``timeout_min``, ``slurm_partition`` or ``partition``, ``gpus_per_node``,
    ``cpus_per_task``, ...), set with ``update_parameters``; unknown ones raise submitit's own error.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    try:
        import submitit
    except ImportError as err:
        raise ImportError(
            "running on a cluster needs the cluster extra: pip install 'saliency_grafting[cluster]'"
        ) from err
    executor = submitit.AutoExecutor(folder=str(folder), cluster=ENGINES[engine])
    if parameters:
        executor.update_parameters(**parameters)
    return executor

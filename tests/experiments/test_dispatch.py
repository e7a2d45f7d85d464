"""Runs as jobs of a cluster engine (submitit's local processes here): the same records as in this process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from saliency_grafting.experiments.compare import Comparison, comparison_scale
from saliency_grafting.experiments.dispatch import make_executor
from saliency_grafting.experiments.runner import claim, plan, record_path, run_experiment, run_key, train_claimed

pytest.importorskip("submitit")


def _scale():
    comparison = Comparison(
        dataset="synthetic",
        dataset_args={"synthetic_size": [120, 40]},
        mixers=("none", "mixup"),
        model="convnet_small",
        model_args={"width": 4},
        per_class=5,
        val_per_class=5,
        epochs=2,
        batch_size=10,
    )
    return comparison_scale(comparison, num_classes=10, fingerprint=None)


def test_local_jobs_write_the_records_this_process_would(tmp_path: Path) -> None:
    scale = _scale()
    executor = make_executor("local", tmp_path / "jobs", timeout_min=10)
    rows = ["Vanilla", "Mixup"]
    jobs = run_experiment("tuned", scale, 1, tmp_path / "a", None, rows=rows, executor=executor, log=lambda _: None)
    here = run_experiment("tuned", scale, 1, tmp_path / "b", None, rows=rows, log=lambda _: None)
    assert len(jobs) == len(here) == 2  # Vanilla and Mixup defaults
    for _, _, config in [run for run in plan("tuned", scale, 1, None) if run[0].row in rows]:
        a, b = (json.loads(record_path(tmp_path / d, config).read_text()) for d in ("a", "b"))
        assert a["key"] == b["key"] == run_key(config.to_dict())
        assert a["summary"]["final_top1_error"] == b["summary"]["final_top1_error"]  # seeded: the same run
    assert list((tmp_path / "jobs").glob("*_result.pkl"))  # they ran as submitit jobs


def test_a_job_leaves_a_claimed_run_to_its_holder(tmp_path: Path) -> None:
    (_, _, config), *_ = plan("tuned", _scale(), 1, None)
    held = claim(tmp_path / "out" / "runs", run_key(config.to_dict()))
    try:
        assert train_claimed(config, tmp_path / "out", None, 8) is None
    finally:
        held.close()
    assert not record_path(tmp_path / "out", config).exists()


def test_engines_are_named() -> None:
    with pytest.raises(ValueError, match="engine must be one of slurm, local, debug, got 'ray'"):
        make_executor("ray", "/tmp/x")

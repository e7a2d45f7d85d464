"""Post-hoc measurements of finished runs from their run directories: reference occlusion and training error.

Table 6 by a fixed reference network: occlusion ranked by one network's saliency for all methods.

A run's own occlusion (``occlusion_top1_error`` in its record) ranks the regions by the evaluated network's forward
saliency, so each method removes different pixels. Here every finished run of an experiment is evaluated again with
the regions ranked by ONE reference network (by default the Vanilla seed-0 run of the same experiment), read from the
run directories (``checkpoint.pt`` + ``config.yaml``); the result is added to each record under ``REFERENCE_KEY``.
The training error of the final weights on the run's own training subset goes under ``TRAIN_KEY`` (the overfitting
gap of every method, mixed-only ones included). Both run after the experiment, on records already written.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from saliency_grafting.experiments.runner import (
    OCCLUSION_FRACTIONS,
    TRAIN_KEY,
    _dataset,
    plan,
    record_path,
    run_key,
    train_error,
)

__all__ = [
    "REFERENCE_KEY",
    "REFERENCE_ROW",
    "TRAIN_KEY",
    "add_reference_occlusion",
    "add_train_error",
    "load_run",
    "reference_run",
]

REFERENCE_KEY = "occlusion_top1_error_reference"
REFERENCE_ROW = "Vanilla"
GRID = 8  # regions per side, as in the runs' own occlusion


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def reference_run(name: str, scale: str, runs_dir: Path, out: Path | None = None) -> Path:
    """The run directory of experiment ``name``'s ``REFERENCE_ROW`` cell at seed 0 (its first such cell)."""
    for cell, _, config in plan(name, scale, 1, None, records=out):
        if cell.row == REFERENCE_ROW:
            return Path(runs_dir) / run_key(config.to_dict())
    raise ValueError(f"experiment {name!r} at scale {scale!r} has no {REFERENCE_ROW} cell to take as the reference")


def _retrain_if_gone(
    name: str, scale: str, reference: Path, out: Path, runs_dir: Path, data_dir: str | None,
    log: Callable[[str], None],
) -> None:  # fmt: skip
    """Train the default reference run again when its run directory is gone but its record is there.

    Runs are bit-identical across processes and commits (``benchmarks/check_record.py``), so the retrained network is
    the recorded one; its test error is compared with the record's, and a mismatch is an error. The record is left
    as it was (the new run writes its own into a temporary folder).
    """
    if (reference / "checkpoint.pt").exists():
        return
    from saliency_grafting.experiments.runner import run_cell

    config = next(c for cell, _, c in plan(name, scale, 1, data_dir, records=out) if cell.row == REFERENCE_ROW)
    recorded = record_path(out, config)
    if not recorded.exists():
        raise ValueError(f"experiment {name!r}: the reference run {reference.name} has neither a run directory nor "
                         f"a record; run the experiment first")  # fmt: skip
    log(f"[{name}] reference run {reference.name}: its run directory is gone, training it again")
    with tempfile.TemporaryDirectory() as tmp:
        again = run_cell(config, Path(tmp), runs_dir=runs_dir)
    expected = json.loads(recorded.read_text())["summary"]["final_top1_error"]
    if again["summary"]["final_top1_error"] != expected:
        raise ValueError(f"the retrained reference run {reference.name} has test error "
                         f"{again['summary']['final_top1_error']} against {expected} in its record")  # fmt: skip


def load_run(run_dir: Path, data_dir: str | None = None, cache: dict[str, Any] | None = None) -> Any:
    """A ``Trainer`` (nothing written) holding the final weights of the run in ``run_dir``."""
    from saliency_grafting.config import TrainConfig, load_yaml
    from saliency_grafting.engine import Trainer, load_checkpoint

    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").exists() or not (run_dir / "checkpoint.pt").exists():
        raise ValueError(f"run directory {run_dir}: expected config.yaml and checkpoint.pt")
    config = TrainConfig.from_dict(load_yaml(run_dir / "config.yaml"))
    config.out = None
    if data_dir is not None:
        config.data_dir = data_dir
    trainer = Trainer.from_config(config, data=_dataset(config, {} if cache is None else cache))
    trainer.model.load_state_dict(load_checkpoint(run_dir / "checkpoint.pt", trainer.device)["model"])
    return trainer


def _posthoc(
    name: str,
    scale: str,
    seeds: int,
    out: Path,
    runs_dir: Path,
    done: Callable[[dict[str, Any]], bool],
    measure: Callable[[Any], dict[str, Any]],
    *,
    data_dir: str | None,
    cache: dict[str, Any],
    log: Callable[[str], None],
) -> int:
    """Add ``measure(trainer)`` to every finished record of ``name`` not ``done`` yet, from its run directory."""
    updated = 0
    for cell, seed, config in plan(name, scale, seeds, data_dir, records=out):
        path = record_path(out, config)
        if not path.exists():
            continue
        record = json.loads(path.read_text())
        if done(record):
            continue
        run_dir = runs_dir / record["key"]
        if not (run_dir / "checkpoint.pt").exists():
            log(f"[{name}] {cell.row} {cell.column} seed {seed}: no checkpoint in {run_dir}, skipped")
            continue
        trainer = load_run(run_dir, data_dir, cache)
        added = measure(trainer)
        trainer.close()
        record.update(added)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=1) + "\n")
        os.replace(tmp, path)
        updated += 1
        log(f"[{name}] {cell.row} {cell.column} seed {seed}: {json.dumps(added)}")
    return updated


def add_reference_occlusion(
    name: str,
    scale: str,
    seeds: int,
    out: Path,
    runs_dir: Path,
    *,
    reference: Path | None = None,
    data_dir: str | None = None,
    log: Callable[[str], None] = _log,
) -> int:
    """Add ``REFERENCE_KEY`` to every finished record of ``name`` that lacks it for this reference; returns how many.

    Records whose run directory is gone are skipped (and logged). The reference's identity goes into the record
    (``occlusion_reference``), so a record made with another reference is computed again.
    """
    from saliency_grafting.engine.occlusion import occlusion_by_reference

    out, runs_dir = Path(out), Path(runs_dir)
    if reference is None:
        reference = reference_run(name, scale, runs_dir, out)
        _retrain_if_gone(name, scale, reference, out, runs_dir, data_dir, log)
    reference = Path(reference)
    cache: dict[str, Any] = {}
    ref = load_run(reference, data_dir, cache)
    identity = {"run": reference.name, "saliency": f"forward saliency of run {reference.name}, {GRID}x{GRID} regions"}

    def measure(trainer: Any) -> dict[str, Any]:
        errors = {}
        for fraction in OCCLUSION_FRACTIONS:
            transform = occlusion_by_reference(ref.model, fraction, GRID, ref.config.saliency_layer)
            errors[f"{fraction:g}"] = trainer.evaluate(transform)["top1_error"]
        return {REFERENCE_KEY: errors, "occlusion_reference": identity}

    def done(record: dict[str, Any]) -> bool:
        return REFERENCE_KEY in record and record.get("occlusion_reference", {}).get("run") == reference.name

    updated = _posthoc(name, scale, seeds, out, runs_dir, done, measure, data_dir=data_dir, cache=cache, log=log)
    ref.close()
    return updated


def add_train_error(
    name: str, scale: str, seeds: int, out: Path, runs_dir: Path, *, data_dir: str | None = None,
    log: Callable[[str], None] = _log,
) -> int:  # fmt: skip
    """Add ``TRAIN_KEY`` (``runner.train_error``) to finished records made before runs recorded it themselves."""

    def measure(trainer: Any) -> dict[str, Any]:
        return {TRAIN_KEY: train_error(trainer)}

    cache: dict[str, Any] = {}
    return _posthoc(name, scale, seeds, Path(out), Path(runs_dir), lambda record: TRAIN_KEY in record, measure,
                    data_dir=data_dir, cache=cache, log=log)  # fmt: skip

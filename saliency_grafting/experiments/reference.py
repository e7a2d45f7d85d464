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
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from saliency_grafting.engine.run import run_files
from saliency_grafting.experiments.runner import (
    OCCLUSION_FRACTIONS,
    TRAIN_KEY,
    _dataset,
    plan,
    record_path,
    run_key,
    train_error,
    write_record,
)
from saliency_grafting.experiments.scales import get_scale

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


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _reference_config(name: str, scale: str, out: Path | None, data_dir: str | None = None) -> Any:
    """The config of experiment ``name``'s ``REFERENCE_ROW`` cell at seed 0 (its first such cell)."""
    for cell, _, config in plan(name, scale, 1, data_dir, records=out):
        if cell.row == REFERENCE_ROW:
            return config
    raise ValueError(f"experiment {name!r} at scale {scale!r} has no {REFERENCE_ROW} cell to take as the reference")


def reference_run(name: str, scale: str, runs_dir: Path, out: Path | None = None) -> Path:
    """The run directory of experiment ``name``'s ``REFERENCE_ROW`` cell at seed 0 (its first such cell)."""
    return Path(runs_dir) / run_key(_reference_config(name, scale, out).to_dict())


def retrain(config: Any, out: Path, runs_dir: Path, *, cache: dict[str, Any] | None = None) -> Path | None:
    """Train a recorded run again into ``runs_dir`` (its run directory was lost) and check it against its record.

    Runs are bit-identical across processes and commits (``benchmarks/check_record.py``), so the retrained network is
    the recorded one: its test error must equal the record's (to the 4 decimals records are rounded to), or this
    raises ``ValueError`` and keeps nothing. The run is trained in a temporary folder and moved into place only after
    the check; the record is left as it was. The run is claimed (``runner.claim``) while it trains. Returns the run
    directory, or None when another process holds the run's claim.
    """
    from saliency_grafting.experiments.runner import claim, run_cell

    key = run_key(config.to_dict())
    recorded = record_path(out, config)
    if not recorded.exists():
        raise ValueError(f"run {key} has neither a run directory nor a record; run the experiment first")
    final = Path(runs_dir) / key
    held = claim(Path(runs_dir), key)
    if held is None:
        return None
    try:
        with tempfile.TemporaryDirectory(dir=runs_dir, prefix=f".retrain-{key}-") as tmp:
            again = run_cell(config, Path(tmp), runs_dir=Path(tmp), data_cache=cache)
            expected = json.loads(recorded.read_text())["summary"]["final_top1_error"]
            got = again["summary"]["final_top1_error"]
            if round(got, 4) != round(expected, 4):  # older records hold unrounded floats (50.580000000000005)
                raise ValueError(
                    f"the retrained run {key} has test error {got} against {expected} in its record "
                    "(a run is reproduced with the code, device and thread count it was made with)"
                )
            shutil.rmtree(final, ignore_errors=True)  # a run directory without a checkpoint: nothing to keep
            os.replace(Path(tmp) / key, final)
    finally:
        held.close()
    return final


def load_run(run_dir: Path, data_dir: str | None = None, cache: dict[str, Any] | None = None) -> Any:
    """A ``Trainer`` (nothing written) holding the final weights of the run in ``run_dir``."""
    from saliency_grafting.engine import Trainer
    from saliency_grafting.engine.run import read_run

    config, model_state = read_run(run_dir)
    if data_dir is not None:
        config.data_dir = data_dir
    trainer = Trainer.from_config(config, data=_dataset(config, {} if cache is None else cache))
    trainer.model.load_state_dict(model_state)
    return trainer


def _pending(
    name: str, scale: str, seeds: int, out: Path, done: Callable[[dict[str, Any]], bool], data_dir: str | None
) -> list[tuple[Any, int, Any, Path, dict[str, Any]]]:
    """The finished records of ``name`` not ``done`` yet: (cell, seed, config, record path, record)."""
    pending = []
    for cell, seed, config in plan(name, scale, seeds, data_dir, records=out):
        path = record_path(out, config)
        if path.exists() and not done(record := json.loads(path.read_text())):
            pending.append((cell, seed, config, path, record))
    return pending


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
    retrain_missing: bool = False,
) -> int:
    """Add ``measure(trainer)`` to every finished record of ``name`` not ``done`` yet, from its run directory.

    A record whose run directory is gone is skipped, or with ``retrain_missing`` trained again (``retrain``).
    """
    updated = 0
    for cell, seed, config, path, record in _pending(name, scale, seeds, out, done, data_dir):
        run_dir = runs_dir / record["key"]
        if not (run_dir / "checkpoint.pt").exists():
            if not retrain_missing:
                log(f"[{name}] {cell.row} {cell.column} seed {seed}: no checkpoint in {run_dir}, skipped")
                continue
            log(f"[{name}] {cell.row} {cell.column} seed {seed}: no checkpoint in {run_dir}, training it again")
            if retrain(config, out, runs_dir, cache=cache) is None:
                log(f"[{name}] {cell.row} {cell.column} seed {seed}: being trained by another process, skipped")
                continue
        trainer = load_run(run_dir, data_dir, cache)
        added = measure(trainer)
        trainer.close()
        record.update(added)
        write_record(path, record)
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
    retrain_missing: bool = False,
    log: Callable[[str], None] = _log,
) -> int:
    """Add ``REFERENCE_KEY`` to every finished record of ``name`` that lacks it for this reference; returns how many.

    Records whose run directory is gone are skipped (and logged), or trained again with ``retrain_missing`` (which
    the default reference needs when its directory is gone and some record still lacks the metric; when none does,
    nothing is loaded or trained). The reference's identity goes into the record (``occlusion_reference``), so a
    record made with another reference is computed again.
    """
    from saliency_grafting.engine.occlusion import occlusion_by_reference

    out, runs_dir = Path(out), Path(runs_dir)
    cache: dict[str, Any] = {}
    config = _reference_config(name, scale, out, data_dir) if reference is None else None
    reference = run_files(Path(str(reference))) if config is None else runs_dir / run_key(config.to_dict())
    if config is not None and not record_path(out, config).exists():
        raise ValueError(
            f"experiment {name!r}: the reference run {reference.name} has not finished (no record); "
            "run the experiment first"
        )

    def done(record: dict[str, Any]) -> bool:
        return REFERENCE_KEY in record and record.get("occlusion_reference", {}).get("run") == reference.name

    if not _pending(name, scale, seeds, out, done, data_dir):
        return 0  # every record has it already: the reference network is not needed (nor trained again)
    if config is not None and not (reference / "checkpoint.pt").exists():  # the experiment's own, lost
        if not retrain_missing:
            raise ValueError(
                f"experiment {name!r}: the reference run directory {reference} is gone; "
                "--retrain-missing trains it again"
            )
        log(f"[{name}] reference run {reference.name}: its run directory is gone, training it again")
        if retrain(config, out, runs_dir, cache=cache) is None:
            raise ValueError(
                f"experiment {name!r}: the reference run {reference.name} is being trained by "
                "another process; add the reference occlusion when it is done"
            )
    ref = load_run(reference, data_dir, cache)
    grid = get_scale(scale).occlusion_grid  # as in the runs' own occlusion
    identity = {"run": reference.name, "saliency": f"forward saliency of run {reference.name}, {grid}x{grid} regions"}

    def measure(trainer: Any) -> dict[str, Any]:
        errors = {}
        for fraction in OCCLUSION_FRACTIONS:
            transform = occlusion_by_reference(ref.model, fraction, grid, ref.config.saliency_layer)
            errors[f"{fraction:g}"] = trainer.evaluate(transform)["top1_error"]
        return {REFERENCE_KEY: errors, "occlusion_reference": identity}

    updated = _posthoc(
        name,
        scale,
        seeds,
        out,
        runs_dir,
        done,
        measure,
        data_dir=data_dir,
        cache=cache,
        log=log,
        retrain_missing=retrain_missing,
    )
    ref.close()
    return updated


def add_train_error(
    name: str,
    scale: str,
    seeds: int,
    out: Path,
    runs_dir: Path,
    *,
    data_dir: str | None = None,
    retrain_missing: bool = False,
    log: Callable[[str], None] = _log,
) -> int:
    """Add ``TRAIN_KEY`` (``runner.train_error``) to finished records made before runs recorded it themselves.

    Records whose run directory is gone are skipped, or trained again with ``retrain_missing``.
    """

    def measure(trainer: Any) -> dict[str, Any]:
        return {TRAIN_KEY: train_error(trainer)}

    cache: dict[str, Any] = {}
    return _posthoc(
        name,
        scale,
        seeds,
        Path(out),
        Path(runs_dir),
        lambda record: TRAIN_KEY in record,
        measure,
        data_dir=data_dir,
        cache=cache,
        log=log,
        retrain_missing=retrain_missing,
    )

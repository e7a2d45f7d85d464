"""Fair tuning on a ``cpu`` scale: the same budget of configurations per method, chosen on a validation split.

Stage 1, ``tune``: Mixup, CutMix, PuzzleMix and SG at the scale's main size under the paper protocol, each in its
default and six other configurations (``GRID``), evaluated on the scale's ``val_per_class`` training images per
class that the run's subset does not use (``val_per_class``; the test set is never seen). Run it with ``--seeds 3``
(seeds 0-2).

Stage 2, ``tuned``: ``select_tuned`` reads the tune records and keeps, per method, the configuration with the lowest
mean validation error over the seeds that all of the method's configurations have finished (the default wins ties).
The ``tuned`` cells are each method's default and its selected configuration (and Vanilla), on the test set, on fresh
seeds: seed ``TUNED_SEED_OFFSET`` on (3-5 with ``--seeds 3``). A method whose tune runs have no seed in common yet has
only its default cell. Defaults and selections share seeds, so their comparison is paired. Finish ``tune`` before
running ``tuned``: a selection read from fewer seeds may change as more land, and the tuned runs made for the old
selection would then no longer be part of the experiment (their records stay, keyed by config).

    sgraft reproduce tune --scale cpu --seeds 3 --data-dir DATA --out OUT     # stage 1, validation split
    sgraft reproduce tuned --scale cpu --seeds 3 --data-dir DATA --out OUT    # stage 2, seeds 3-5, test set
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from saliency_grafting.experiments.core import Cell
from saliency_grafting.experiments.overfit import protocol_config, row_label
from saliency_grafting.experiments.scales import Scale, get_scale

__all__ = ["GRID", "TUNED_SEED_OFFSET", "TUNE_SEEDS", "select_tuned", "tune_cells", "tuned_cells"]

TUNE_SEEDS = 3  # the tune stage's seeds: 0 .. TUNE_SEEDS - 1
TUNED_SEED_OFFSET = TUNE_SEEDS  # the tuned stage starts on the first seed the tune stage did not use


def _mix(**kwargs: Any) -> dict[str, Any]:
    return {"mixer_args": kwargs}


# Six configurations besides the default for every tuned method. The warm-up (clean epochs before mixing; 6 of 120
# by default) is tuned for every method, as it is one of SG's open choices.
GRID: dict[str, dict[str, dict[str, Any]]] = {
    "Mixup": {
        **{f"alpha = {a:g}": _mix(alpha=a) for a in (0.1, 0.2, 0.5, 2.0, 4.0)},
        "warm-up 0": {"warmup_epochs": 0},
    },
    "CutMix": {
        **{f"alpha = {a:g}": _mix(alpha=a) for a in (0.1, 0.25, 0.5, 2.0, 4.0)},
        "warm-up 0": {"warmup_epochs": 0},
    },
    "PuzzleMix": {
        "alpha = 0.5": _mix(alpha=0.5),
        "alpha = 2": _mix(alpha=2.0),
        "beta = 0.8": _mix(beta=0.8),
        "beta = 1.6": _mix(beta=1.6),
        "gamma = 1": _mix(gamma=1.0),
        "warm-up 0": {"warmup_epochs": 0},
    },
    "Saliency Grafting": {
        "T = 0.25": _mix(temperature=0.25),
        "T = 1": _mix(temperature=1.0),
        "alpha = 0.5": _mix(alpha=0.5),
        "alpha = 2": _mix(alpha=2.0),
        "grid 8 x 8": _mix(grid_sizes=[8]),
        "warm-up 0": {"warmup_epochs": 0},
    },
}


def _configs(method: str) -> dict[str, dict[str, Any]]:
    """Each configuration of ``method`` by label, ``"default"`` first: the overrides on its paper-protocol config."""
    return {"default": {}, **GRID[method]}


def tune_cells(scale: Scale) -> list[Cell]:
    """Stage 1: every configuration of every tuned method, evaluated on the validation split."""
    held_out = {"val_per_class": scale.val_per_class}
    return [
        Cell(
            method,
            label,
            {**protocol_config(scale, method, "paper", scale.main_size), **extra, **held_out},
            size=scale.main_size,
            protocol="paper",
        )
        for method in GRID
        for label, extra in _configs(method).items()
    ]


def select_tuned(out: Path, scale: str | Scale = "cpu", seeds: int = TUNE_SEEDS) -> dict[str, dict[str, Any]]:
    """Per method with finished tune runs: its configuration of lowest mean validation error (the default on ties).

    ``{method: {"label", "overrides", "val_error", "default_val_error", "seeds", "errors": {label: mean}}}``; the
    means are over the seeds (of the first ``seeds``) that every configuration of the method has finished, so that
    they are paired. Methods with no such seed are left out.
    """
    from saliency_grafting.experiments.runner import plan, record_path

    finished: dict[str, dict[str, dict[int, float]]] = {method: {} for method in GRID}
    for cell, seed, config in plan("tune", get_scale(scale), seeds, None):
        errors = finished[cell.row].setdefault(cell.column, {})
        path = record_path(Path(out), config)
        if path.exists():
            errors[seed] = json.loads(path.read_text())["summary"]["final_top1_error"]
    selection = {}
    for method, by_label in finished.items():
        common = sorted(set.intersection(*(set(errors) for errors in by_label.values())))
        if not common:
            continue
        means = {label: sum(errors[s] for s in common) / len(common) for label, errors in by_label.items()}
        best = min(means, key=means.__getitem__)  # the first minimum: "default" comes first
        selection[method] = {
            "label": best,
            "overrides": _configs(method)[best],
            "val_error": means[best],
            "default_val_error": means["default"],
            "seeds": common,
            "errors": means,
        }
    return selection


def tuned_cells(scale: Scale, records: Path | None) -> list[Cell]:
    """Stage 2: Vanilla, each method's default and its selection from the tune records in ``records``, and the
    scale's recipes."""
    chosen = select_tuned(records, scale) if records is not None else {}
    cells = []
    typed: dict[str, Any] = {"seed_offset": TUNED_SEED_OFFSET, "size": scale.main_size, "protocol": "paper"}
    for method in ["Vanilla", *GRID, *scale.recipes]:
        default = protocol_config(scale, method, "paper", scale.main_size)
        cells.append(Cell(row_label(method), "default", default, **typed))
        if method in chosen:
            config = {**default, **chosen[method]["overrides"]}
            cells.append(Cell(method, "tuned", config, **typed))
    return cells

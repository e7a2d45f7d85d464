"""Appendix A's localization claim as an experiment: WSOL of Table 3's networks, measured post hoc on saved runs.

``wsol`` has Table 3's cells (the same runs: nothing is trained for it). ``add_localization`` reads each finished
run's directory, scores its CAM and its forward saliency (``engine.localize``) on the test images with their boxes,
thresholds chosen on ``HELD_OUT`` training images per class that the run did not train on, and adds the scores to
its record under ``LOCALIZATION_KEY``.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from saliency_grafting.experiments import claims
from saliency_grafting.experiments.claims import fmt
from saliency_grafting.experiments.core import Cell, Cells, Experiment, ReportContext, register
from saliency_grafting.experiments.overfit import grid
from saliency_grafting.experiments.scales import Scale
from saliency_grafting.experiments.settings import TABLE3, TINY, methods

__all__ = ["HELD_OUT", "LOCALIZATION_KEY", "METRICS", "add_localization", "held_out_split"]

LOCALIZATION_KEY = "localization"
HELD_OUT = 10  # training images per class, with their boxes, on which each threshold is chosen
METRICS = (
    ("cam", "gt_known_loc", "CAM GT-known loc"),
    ("cam", "top1_loc", "CAM top-1 loc"),
    ("cam", "max_box_acc_v2", "CAM MaxBoxAccV2"),
    ("forward", "gt_known_loc", "forward saliency GT-known loc"),
    ("forward", "max_box_acc_v2", "forward saliency MaxBoxAccV2"),
)


def held_out_split(full: Any, per_class: int | None, seed: int, count: int = HELD_OUT) -> tuple[Any, Any, Any]:
    """``count`` training images per class (with labels and boxes) that the run's subset did not use."""
    from saliency_grafting.data import class_balanced_subset, validation_split
    from saliency_grafting.data.folders import DataError

    if full.train_boxes is None:
        raise DataError(f"dataset {full.name!r} has no object boxes to localize")
    if per_class is None:
        raise DataError("localization needs training images the run did not train on: the run used every one")
    keep = class_balanced_subset(full.train_labels, per_class, seed)
    try:
        held = validation_split(full.train_labels, keep, count)
    except DataError as err:
        raise DataError(f"held_out {count}: {err}", field="held_out") from None
    return full.train_images[held], full.train_labels[held], full.train_boxes[held]


def _cells(scale: Scale) -> list[Cell]:
    """Table 3's cells on a scale whose data has object boxes (none elsewhere: nothing to localize against)."""
    from saliency_grafting.data import get_source

    return grid(scale, TABLE3, (scale.main_size,), ("paper",)) if get_source(scale.dataset).has_boxes else []


def _table(ctx: ReportContext) -> list[str]:
    """Localization accuracy (%) per method, higher is better; the test error beside it."""
    header = " | ".join(label for _, _, label in METRICS)
    lines = [f"| method | top-1 error | {header} |", "|---" + "|---:" * (len(METRICS) + 1) + "|"]
    for row in ctx.rows:
        values = ctx.cells[(row, ctx.columns[0])]
        cells = [fmt(values.get(f"loc_{kind}_{metric}", [])) for kind, metric, _ in METRICS]
        lines.append(f"| {row} | {fmt(values.get('top1_error', []))} | " + " | ".join(cells) + " |")
    return lines


def _check(cells: Cells) -> str:
    """Where SG ranks by CAM and by forward-saliency MaxBoxAccV2 (higher is better), against the best other."""
    parts = []
    for kind, label in (("cam", "CAM"), ("forward", "forward saliency")):
        key = f"loc_{kind}_max_box_acc_v2"
        means = {cell: statistics.fmean(v[key]) for cell, v in cells.items() if v.get(key)}
        order = sorted(means, key=means.__getitem__, reverse=True)
        sg = next((cell for cell in order if cell[0] == claims.SG), None)
        if sg is None:
            continue
        rival = next(cell for cell in order if cell != sg) if len(order) > 1 else None
        versus = "" if rival is None else f", {claims.versus(cells, sg, rival, rival[0], key)}"
        parts.append(f"{label} MaxBoxAccV2: SG ranks {order.index(sg) + 1} of {len(order)} ({means[sg]:.2f} %){versus}")
    if parts:
        return "; ".join(parts) + "."
    if any(key.startswith("loc_") and values for v in cells.values() for key, values in v.items()):
        return "SG's networks have no localization measured yet (sgraft reproduce wsol adds it)."
    return "no localization measured yet (sgraft reproduce wsol adds it)."


register(
    Experiment(
        name="wsol",
        title="Appendix A: weakly supervised object localization (Table 3's networks)",
        claim="a network trained with SG localizes objects better",
        kind="table",
        table=_table,
        check=_check,
        cells={
            "paper": lambda _, __: methods(TABLE3, TINY),
            "cpu": lambda scale, _: _cells(scale),
        },
        localization=True,
    )
)


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def add_localization(
    name: str,
    scale: str,
    seeds: int,
    out: Path,
    runs_dir: Path,
    *,
    data_dir: Any = None,
    retrain_missing: bool = False,
    log: Callable[[str], None] = _log,
) -> int:
    """Add ``LOCALIZATION_KEY`` to every finished record of ``name`` without it, from its run directory."""
    from saliency_grafting.engine.localize import localization_scores
    from saliency_grafting.experiments.reference import _posthoc

    cache: dict[str, Any] = {}

    def measure(trainer: Any) -> dict[str, Any]:
        full = next(iter(cache.values()))  # the run's whole dataset, which the runner keeps in the cache
        data, config = trainer.data, trainer.config
        held = held_out_split(full, config.per_class, config.seed)
        test = (data.test_images, data.test_labels, data.test_boxes)
        found = localization_scores(
            trainer.model, held, test, data.mean, data.std, device=trainer.device, saliency_layer=config.saliency_layer
        )
        return {LOCALIZATION_KEY: {**found, "held_out_per_class": HELD_OUT}}

    return _posthoc(
        name,
        scale,
        seeds,
        Path(out),
        Path(runs_dir),
        lambda record: LOCALIZATION_KEY in record,
        measure,
        data_dir=data_dir,
        cache=cache,
        log=log,
        retrain_missing=retrain_missing,
    )

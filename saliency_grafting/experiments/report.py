"""Aggregate an experiment's records over seeds (mean ± standard error) into its report section and line plot."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from saliency_grafting.experiments.claims import mean_se
from saliency_grafting.experiments.core import Cells, Experiment, ReportContext, cells_for, get_experiment
from saliency_grafting.experiments.reference import REFERENCE_KEY, TRAIN_KEY
from saliency_grafting.experiments.runner import OCCLUSION_FRACTIONS, DataDirs, plan, record_path
from saliency_grafting.experiments.scales import Scale, get_scale
from saliency_grafting.experiments.sections import plot_name, standard_table

__all__ = ["aggregate", "check_claim", "mean_se", "render", "setting"]


def aggregate(
    name: str, scale: str | Scale, seeds: int, out: Path, data_dir: DataDirs = None
) -> dict[tuple[str, str], dict[str, list[float]]]:
    """``{(row, column): {metric: [value per finished seed]}}``; missing runs are left out. ``data_dir``: only for
    a scale that does not name its data (the paper scale), whose run keys hold the fingerprint of the folder."""
    cells: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for cell, seed, config in plan(name, scale, seeds, data_dir, records=out):
        path = record_path(out, config)
        values = cells[(cell.row, cell.column)]
        if not path.exists():
            continue
        record = json.loads(path.read_text())
        summary = record["summary"]
        values["seed"].append(seed)
        values["top1_error"].append(summary["final_top1_error"])
        values["top5_error"].append(summary["final_top5_error"])
        values["wall_seconds"].append(record["wall_seconds"])
        if "evaluated" in record.get("data", {}):
            values["evaluated"].append(record["data"]["evaluated"])
        if summary.get("train_seconds") is not None:
            values["train_seconds"].append(summary["train_seconds"])
        _add_occlusion(values, "", record["occlusion_top1_error"])
        if REFERENCE_KEY in record:  # added post hoc (experiments.reference), so on some seeds only
            values["reference_seed"].append(seed)
            _add_occlusion(values, "reference_", record[REFERENCE_KEY])
        if summary.get("final_train_top1_error") is not None:  # None when trained on mixed batches only
            values["train_top1_error"].append(summary["final_train_top1_error"])
        if "localization" in record:  # added post hoc (experiments.localization)
            values["loc_seed"].append(seed)
            for kind in ("cam", "forward"):
                for metric, value in record["localization"][kind].items():
                    values[f"loc_{kind}_{metric}"].append(value)
        if TRAIN_KEY in record:  # the final weights on the clean training subset (older records: added post hoc)
            values["train_clean_top1_error"].append(record[TRAIN_KEY])
            values["train_clean_seed"].append(seed)
    return {key: dict(values) for key, values in cells.items()}


def _add_occlusion(values: dict[str, list[float]], prefix: str, errors: dict[str, float]) -> None:
    """A run's error at each occluded fraction (``occluded_k``, ``reference_k``) and its rise over the unoccluded
    error (``rise_k``, ``reference_rise_k``): a network with a lower clean error can be lower under occlusion
    while losing more."""
    for fraction in OCCLUSION_FRACTIONS:
        values[f"{prefix or 'occluded_'}{fraction:g}"].append(errors[f"{fraction:g}"])
        if fraction:
            values[f"{prefix}rise_{fraction:g}"].append(errors[f"{fraction:g}"] - errors["0"])


def render(
    name: str, scale: str | Scale, seeds: int, out: Path, plot_dir: Path | None = None, data_dir: DataDirs = None
) -> str:
    """A markdown section for experiment ``name``: its table (and plot), runs finished, wall time."""
    experiment = get_experiment(name)
    scale = get_scale(scale)
    if not cells_for(name, scale, records=out):
        return f"### {experiment.title}\n\nNot defined at the {scale.name} scale.\n"
    cells = aggregate(name, scale, seeds, out, data_dir)
    rows = list(dict.fromkeys(row for row, _ in cells))
    columns = list(dict.fromkeys(column for _, column in cells))
    # a run shared by several cells (Table 5's Vanilla in every protocol, Figure 4's CutMix line) counts once
    runs = plan(name, scale, seeds, data_dir, records=out)
    paths = dict.fromkeys(record_path(out, config) for _, _, config in runs)
    walls = [json.loads(path.read_text())["wall_seconds"] for path in paths if path.exists()]
    planned, finished, wall = len(paths), len(walls), sum(walls)
    layout = {(cell.row, cell.column): cell for cell, _, _ in runs}
    ctx = ReportContext(
        experiment=experiment,
        scale=scale,
        seeds=seeds,
        out=out,
        cells=cells,
        rows=rows,
        columns=columns,
        layout=layout,
        plot_dir=plot_dir if finished else None,
    )
    lines = [f"### {experiment.title}", "", setting(name, scale), ""]
    lines += (experiment.table or standard_table)(ctx)
    lines += [
        "",
        f"{experiment.error_label} error (%), mean ± standard error over seeds; {finished} of {planned} "
        f"distinct runs finished; {wall / 60:.0f} min of training and testing.",
        "",
    ]
    lines += [f"Check of the claim ({experiment.claim}): {check_claim(name, cells)}", ""]
    for section in experiment.extras.get(scale.family, ()):
        lines += section(ctx)
    if experiment.kind == "line" and ctx.plot_dir is not None:
        path = _plot(experiment, cells, rows, columns, ctx.plot_dir / plot_name(name, scale))
        lines += [f"![{experiment.title}]({path.name})", ""]
    return "\n".join(lines)


def setting(name: str, scale: str | Scale) -> str:
    """One line naming what an experiment's cells share (model, data, images per class, epochs); the rest varies."""
    configs = [cell.config for cell in cells_for(name, scale)]

    def shared(key: str, default: Any = None) -> str:
        values = {json.dumps(c.get(key, default)) for c in configs}
        return str(configs[0].get(key, default)) if len(values) == 1 else "(varies)"

    per_class = shared("per_class")
    data = f"{shared('dataset')}, " + ("full training set" if per_class == "None" else f"{per_class} images per class")
    epochs = f"{shared('epochs')} epochs ({shared('warmup_epochs')} warm-up)"
    name = get_scale(scale).name
    return f"Setting ({name} scale): {shared('model')} on {data}, {epochs}, batch {shared('batch_size', 128)}."


def check_claim(name: str, cells: Cells) -> str:
    """A factual, automatic reading of the claim from the mean errors (the verdict in prose is the report's)."""
    if not any(v.get("top1_error") for v in cells.values()):
        return "no finished runs yet."
    return get_experiment(name).check(cells)


def _plot(experiment: Experiment, cells: Cells, rows: list[str], columns: list[str], path: Path) -> Path:
    """One line per row of mean top-1 error (± s.e.) against the numeric columns, labelled ``experiment.x_label``."""
    from saliency_grafting.experiments.report_cpu import plot_lines

    xs = [float(c) for c in columns]
    series = {}
    for row in rows:
        errors = [cells.get((row, c), {}).get("top1_error", []) for c in columns]
        series[row] = [(x, *(mean_se(e) if e else (math.nan, 0.0))) for x, e in zip(xs, errors, strict=True)]
    return plot_lines(series, experiment.title, experiment.x_label, path)

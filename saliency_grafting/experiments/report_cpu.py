"""What the ``cpu`` scale's report sections read: verdicts by protocol, compute per cell, curves and line plots."""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from saliency_grafting.experiments.core import cells_for
from saliency_grafting.experiments.overfit import epoch_passes, passes_per_step, passes_text
from saliency_grafting.experiments.runner import plan, record_path
from saliency_grafting.experiments.scales import PROTOCOLS, Scale

__all__ = ["budget_winners", "compute_table", "curves", "mean_curve", "plot_lines", "protocol_verdicts"]

SG = "Saliency Grafting"


def _rank(cells: dict[Any, Any], column: str) -> tuple[int, int] | None:
    """SG's rank by mean top-1 error in ``column`` and the number of methods ranked; None without SG."""
    means = {
        row: statistics.fmean(v["top1_error"]) for (row, c), v in cells.items() if c == column and v.get("top1_error")
    }
    if SG not in means:
        return None
    return sorted(means, key=means.__getitem__).index(SG) + 1, len(means)


def protocol_verdicts(
    cells: dict[Any, Any],
    columns: dict[str, tuple[int, str]],
    *,
    variants: Mapping[str, str] | None = None,
    protocols: Sequence[str] = PROTOCOLS,
) -> str:
    """Per data size: the claim holds if SG is best under ``paper``, fairly if also under the other ``protocols``
    (those the experiment compares).

    ``columns``: each grid column's (images per class, protocol); "best" is the lowest mean error (the noise is in
    the claim check). ``variants``: column -> the data it differs in from the scale's (e.g. a held-out speaker), so
    that columns of one size on different data are judged apart.
    """
    variants = variants or {}
    by_size: dict[tuple[int, str], dict[str, str]] = defaultdict(dict)
    for column, (size, protocol) in columns.items():
        by_size[(size, variants.get(column, ""))][protocol] = column
    parts = []
    for (size, variant), where_run in by_size.items():
        ranks = {p: r for p in protocols if p in where_run and (r := _rank(cells, where_run[p])) is not None}
        if "paper" not in ranks:
            continue
        where = ", ".join(f"{p} {rank} of {count}" for p, (rank, count) in ranks.items())
        others = [p for p in protocols if p != "paper" and p in ranks]
        if ranks["paper"][0] != 1:
            verdict = "does not hold"
        elif len(others) < len(protocols) - 1:
            verdict = "holds (paper protocol only run" + (" so far" if others else "") + ")"
        elif all(ranks[p][0] == 1 for p in others):
            verdict = "holds fairly"
        else:
            verdict = "holds under the paper protocol only"
        label = f"{size} per class" + (f", {variant}" if variant else "")
        parts.append(f"{label}: {verdict} (SG ranks {where})")
    return "; ".join(parts) + "." if parts else "no finished SG runs yet."


def compute_table(name: str, scale: Scale, cells: dict[Any, Any], records: Path | None = None) -> list[str]:
    """Markdown rows per cell: training vs test error (the overfitting gap) and the compute it took."""
    lines = [
        "| method | setting | train error (%) | test error (%) | gap | passes / step | epochs | passes (epochs) "
        "| wall (min / run) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for cell in cells_for(name, scale, records=records):
        values = cells.get((cell.row, cell.column), {})
        train = values.get("train_clean_top1_error") or values.get("train_top1_error", [])
        test = values.get("top1_error", [])
        gap = f"{statistics.fmean(test) - statistics.fmean(train):.1f}" if train and test else "—"
        wall = f"{statistics.fmean(values['wall_seconds']) / 60:.1f}" if values.get("wall_seconds") else "—"
        config = cell.config
        lines.append(
            f"| {cell.row} | {cell.column or '—'} | {_mean(train)} | {_mean(test)} | {gap} | "
            f"{passes_text(passes_per_step(config))} | {config['epochs']} | {passes_text(epoch_passes(config))} | "
            f"{wall} |"
        )
    return [*dict.fromkeys(lines)]  # a cell listed twice (the same config) once


def _mean(values: list[float]) -> str:
    return f"{statistics.fmean(values):.1f}" if values else "—"


def curves(name: str, scale: str | Scale, seeds: int, out: Path) -> dict[str, list[list[dict[str, float]]]]:
    """``{row: [the record's curve per finished seed]}``: test error at each evaluation and training seconds."""
    found: dict[str, list[list[dict[str, float]]]] = defaultdict(list)
    for cell, _, config in plan(name, scale, seeds, None, records=out):
        path = record_path(out, config)
        if path.exists() and (curve := json.loads(path.read_text()).get("curve")):
            found[cell.row].append(curve)
    return dict(found)


def mean_curve(runs: list[list[dict[str, float]]]) -> list[tuple[float, float]]:
    """``(mean seconds, mean error)`` at each evaluation that every run has (runs are aligned by evaluation index)."""
    length = min(len(run) for run in runs)
    return [
        (statistics.fmean(r[i]["train_seconds"] for r in runs), statistics.fmean(r[i]["top1_error"] for r in runs))
        for i in range(length)
    ]


def budget_winners(means: dict[str, list[tuple[float, float]]]) -> str:
    """Which method has the lowest error at each time budget (its last evaluation within the budget counts).

    The budgets are the evaluation times of all methods; consecutive budgets with the same winner are merged.
    """
    budgets = sorted({t for points in means.values() for t, _ in points})
    spans: list[list[Any]] = []  # [winner, error, first budget, last budget]
    for budget in budgets:
        reached = {
            row: [e for t, e in points if t <= budget][-1]
            for row, points in means.items()
            if points and points[0][0] <= budget
        }
        winner = min(reached, key=reached.__getitem__)
        if spans and spans[-1][0] == winner:
            spans[-1][1], spans[-1][3] = reached[winner], budget
        else:
            spans.append([winner, reached[winner], budget, budget])
    if not spans:
        return "no curves yet."
    parts = [
        f"{start:.0f}-{end:.0f} s: {winner} ({error:.2f} %)"
        if end > start
        else f"{start:.0f} s: {winner} ({error:.2f} %)"
        for winner, error, start, end in spans
    ]
    return "lowest mean test error by training-time budget: " + "; ".join(parts) + "."


def plot_lines(
    series: dict[str, list[tuple[float, float, float]]], title: str, xlabel: str, path: Path, *, log_x: bool = False
) -> Path:
    """One line per series of ``(x, mean, standard error)`` points, saved as a PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.4), dpi=120)
    for label, points in series.items():
        if points:
            xs, ys, es = zip(*points, strict=True)
            ax.errorbar(xs, ys, yerr=[0 if math.isnan(e) else e for e in es], marker="o", capsize=3, label=label)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("top-1 error (%)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path

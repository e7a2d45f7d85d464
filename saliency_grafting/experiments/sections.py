"""Report sections that experiments carry: their main tables and the extras after the claim check."""

from __future__ import annotations

import math
import statistics
from typing import Any

from saliency_grafting.experiments import report_cpu
from saliency_grafting.experiments.claims import fmt, mean_se
from saliency_grafting.experiments.core import ReportContext, Section
from saliency_grafting.experiments.runner import OCCLUSION_FRACTIONS
from saliency_grafting.experiments.scales import Scale

__all__ = [
    "binomial_se",
    "compute",
    "cpu_report",
    "error_by_size",
    "occlusion_tables",
    "plot_name",
    "protocol_verdicts",
    "standard_table",
    "tune_table",
    "tuned_selection",
    "wallclock",
]


def plot_name(name: str, scale: Scale) -> str:
    """The PNG of an experiment's plot; the cpu family's carry the scale, so they can share a folder with the rest."""
    return f"{name}_{scale.name}.png" if scale.family == "cpu" else f"{name}.png"


def standard_table(ctx: ReportContext) -> list[str]:
    """One column per metric when the cells have no columns, else rows x columns of top-1 error."""
    cells, rows, columns = ctx.cells, ctx.rows, ctx.columns
    if columns == [""]:
        metrics = ctx.experiment.metrics
        lines = [
            "| method | " + " | ".join(m.replace("_", " ") + " (%)" for m in metrics) + " |",
            "|---" + "|---:" * len(metrics) + "|",
        ]
        for row in rows:
            lines.append(f"| {row} | " + " | ".join(fmt(cells[(row, "")].get(m, [])) for m in metrics) + " |")
        return lines
    lines = ["| method | " + " | ".join(columns) + " |", "|---" + "|---:" * len(columns) + "|"]
    for row in rows:
        values = [fmt(cells.get((row, c), {}).get("top1_error", [])) for c in columns]
        lines.append(f"| {row} | " + " | ".join(values) + " |")
    return lines


def occlusion_tables(ctx: ReportContext) -> list[str]:
    """The occlusion table by each network's own saliency and, where computed, by the reference network's."""
    cells, column = ctx.cells, ctx.columns[0]
    header = [f"k = {100 * f:g} %" for f in OCCLUSION_FRACTIONS]
    tables = [("occluded", "Ranked by each network's own forward saliency (sum_c |A_c| of its last conv stage):")]
    if any(v.get(f"reference_{OCCLUSION_FRACTIONS[-1]:g}") for v in cells.values()):
        tables.append(
            (
                "reference",
                "Ranked by one reference network's forward saliency for every method (the "
                "Vanilla seed-0 run unless stated), so every method loses the same regions:",
            )
        )
    lines = []
    for prefix, caption in tables:
        lines += [caption, "", "| method | " + " | ".join(header) + " |", "|---" + "|---:" * len(header) + "|"]
        for row in ctx.rows:
            values = cells[(row, column)]
            lines.append(
                f"| {row} | " + " | ".join(fmt(values.get(f"{prefix}_{f:g}", [])) for f in OCCLUSION_FRACTIONS) + " |"
            )
        lines.append("")
    return lines[:-1]


def tune_table(ctx: ReportContext) -> list[str]:
    """One line per configuration with its validation error; each method's selection (``select_tuned``) in bold."""
    from saliency_grafting.experiments.tuning import select_tuned

    chosen = select_tuned(ctx.out, ctx.scale)
    lines = ["| method | configuration | validation error (%) |", "|---|---|---:|"]
    for (row, column), values in ctx.cells.items():
        mark = "**" if chosen.get(row, {}).get("label") == column else ""
        lines.append(f"| {row} | {mark}{column}{mark} | {fmt(values.get('top1_error', []))} |")
    return lines


def protocol_verdicts(ctx: ReportContext) -> list[str]:
    """Per data size, whether the claim holds under the paper protocol and under the fair ones (grid columns only)."""
    typed = {
        column: (cell.size, cell.protocol)
        for (_, column), cell in ctx.layout.items()
        if cell.protocol is not None and cell.size is not None
    }
    if not typed:
        return []
    default = {"dataset": ctx.scale.dataset, **ctx.scale.dataset_args}
    variants = {}
    for (_, column), cell in ctx.layout.items():
        data = {"dataset": cell.config.get("dataset", ctx.scale.dataset), **cell.config.get("dataset_args", {})}
        if changed := sorted(k for k in default.keys() | data.keys() if default.get(k) != data.get(k)):
            variants[column] = ", ".join(f"{k} {data.get(k)}" for k in changed)
    # the protocols this experiment compares (Table 3 has no same-objective column), in the scale's order
    defined = {protocol for _, protocol in typed.values()}
    protocols = [protocol for protocol in ctx.scale.protocols if protocol in defined]
    verdicts = report_cpu.protocol_verdicts(ctx.cells, typed, variants=variants, protocols=protocols)
    return [f"Verdict by protocol: {verdicts}", ""]


def binomial_se(ctx: ReportContext) -> list[str]:
    """Per column, the binomial standard error of one run's test error, sqrt(p (1 - p) / n) at the column's mean
    error p over its n test examples, beside the standard deviation of one method's error over seeds (the table's
    ± is the standard error of the mean, smaller by sqrt(seeds)). Every seed tests on the same n examples, so the
    first does not shrink with more seeds."""
    parts = []
    for column in ctx.columns:
        values = [ctx.cells.get((row, column), {}) for row in ctx.rows]
        errors = [e for v in values for e in v.get("top1_error", [])]
        counts = {n for v in values for n in v.get("evaluated", [])}
        if not errors or len(counts) != 1 or (n := counts.pop()) <= 0:
            continue
        p = sum(errors) / len(errors) / 100
        spreads = [statistics.stdev(v["top1_error"]) for v in values if len(v.get("top1_error", [])) > 1]
        spread = f", s.d. over seeds ±{statistics.fmean(spreads):.2f}" if spreads else ""
        parts.append(
            f"{column or 'all'}: ±{100 * math.sqrt(p * (1 - p) / n):.2f} (n = {n}, p = {100 * p:.1f} %){spread}"
        )
    if not parts:
        return []
    return [
        "One run's noise: the binomial standard error of its test error at each column's mean error over its n test "
        "examples, beside the standard deviation over seeds of one method's error (mean over methods): "
        f"{'; '.join(parts)}.",
        "",
    ]


def tuned_selection(ctx: ReportContext) -> list[str]:
    """Each method's configuration selected on validation, against its default."""
    from saliency_grafting.experiments.tuning import select_tuned

    selection = select_tuned(ctx.out, ctx.scale)
    lines = []
    if not selection:
        lines.append("No selection yet: no method has a seed finished by all its tune configurations.")
    for method, chosen in selection.items():
        lines.append(
            f"- {method}: selected {chosen['label']} on validation ({chosen['val_error']:.2f} % vs "
            f"{chosen['default_val_error']:.2f} % for the default, seeds "
            f"{', '.join(map(str, chosen['seeds']))})."
        )
    return [*lines, "", "The tuned and default cells run on fresh seeds against the test set; see the tune table.", ""]


def error_by_size(ctx: ReportContext) -> list[str]:
    """A plot of the paper protocol's test error against images per class."""
    if ctx.plot_dir is None:
        return []
    series = {}
    for row in ctx.rows:
        points = [
            (float(ctx.layout[(r, c)].size or 0), *mean_se(v["top1_error"]))
            for (r, c), v in ctx.cells.items()
            if r == row and ctx.layout[(r, c)].protocol == "paper" and v.get("top1_error")
        ]
        series[row] = sorted(points)
    path = report_cpu.plot_lines(
        series,
        "Test error against images per class (paper protocol)",
        "images per class",
        ctx.plot_dir / plot_name(ctx.experiment.name, ctx.scale),
        log_x=True,
    )
    return [f"![error against images per class]({path.name})", ""]


def wallclock(ctx: ReportContext) -> list[str]:
    """Which method is best at each training-time budget, from the learning curves (and their plot)."""
    curves = report_cpu.curves(ctx.experiment.name, ctx.scale, ctx.seeds, ctx.out)
    means = {row: report_cpu.mean_curve(runs) for row, runs in curves.items()}
    lines = [
        f"Wall clock: {report_cpu.budget_winners(means)} An evaluation part-way through a run is not a "
        "run trained for that budget (its learning rate has not decayed yet).",
        "",
    ]
    if ctx.plot_dir is not None and means:
        series: dict[str, Any] = {row: [(t, e, math.nan) for t, e in points] for row, points in means.items()}
        path = report_cpu.plot_lines(
            series,
            "Test error against training time (mean over seeds)",
            "training seconds",
            ctx.plot_dir / plot_name(ctx.experiment.name, ctx.scale),
        )
        lines += [f"![error against training time]({path.name})", ""]
    return lines


def compute(ctx: ReportContext) -> list[str]:
    """Per cell: training against test error (the overfitting gap) and the compute it took."""
    return [
        "Per cell, overfitting and compute (train error: the final weights on the clean training subset, which "
        "every record carries since commit e2afbe3 and `--train-error` adds to older ones from their run "
        "directories; else the last epoch's running error on clean batches, — for mixed-only objectives; passes: "
        "forward/backward passes over the subset, warm-up epochs counted as one):",
        "",
        *report_cpu.compute_table(ctx.experiment.name, ctx.scale, ctx.cells, ctx.out),
        "",
    ]


def cpu_report(*sections: Section) -> dict[str, tuple[Section, ...]]:
    """The ``extras`` of an experiment on the cpu family: ``sections``, then the compute and overfitting table."""
    return {"cpu": (*sections, compute)}

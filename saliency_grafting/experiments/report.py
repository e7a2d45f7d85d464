"""Aggregate an experiment's records over seeds (mean ± standard error) into markdown tables and PNG line plots."""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from saliency_grafting.experiments.reference import REFERENCE_KEY, TRAIN_KEY
from saliency_grafting.experiments.runner import OCCLUSION_FRACTIONS, plan, record_path
from saliency_grafting.experiments.suite import EXPERIMENTS, cells_for

__all__ = ["aggregate", "check_claim", "mean_se", "render", "setting"]


def mean_se(values: list[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (0 for a single value)."""
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0)


def _fmt(values: list[float]) -> str:
    if not values:
        return "—"
    mean, se = mean_se(values)
    return f"{mean:.2f} ± {se:.2f}" if len(values) > 1 else f"{mean:.2f} (1 seed)"


def aggregate(name: str, scale: str, seeds: int, out: Path) -> dict[tuple[str, str], dict[str, list[float]]]:
    """``{(row, column): {metric: [value per finished seed]}}``; missing runs are left out."""
    cells: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for cell, seed, config in plan(name, scale, seeds, None, records=out):
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
        for fraction in OCCLUSION_FRACTIONS:
            values[f"occluded_{fraction:g}"].append(record["occlusion_top1_error"][f"{fraction:g}"])
            if REFERENCE_KEY in record:  # added post hoc (experiments.reference)
                values[f"reference_{fraction:g}"].append(record[REFERENCE_KEY][f"{fraction:g}"])
        if summary.get("final_train_top1_error") is not None:  # None when trained on mixed batches only
            values["train_top1_error"].append(summary["final_train_top1_error"])
        if TRAIN_KEY in record:  # added post hoc: the final weights on the clean training subset
            values["train_clean_top1_error"].append(record[TRAIN_KEY])
    return {key: dict(values) for key, values in cells.items()}


def render(name: str, scale: str, seeds: int, out: Path, plot_dir: Path | None = None) -> str:
    """A markdown section for experiment ``name``: its table (and plot), runs finished, wall time."""
    experiment = EXPERIMENTS[name]
    if not cells_for(name, scale, records=out):
        return f"### {experiment.title}\n\nNot defined at the {scale} scale.\n"
    cells = aggregate(name, scale, seeds, out)
    rows = list(dict.fromkeys(row for row, _ in cells))
    columns = list(dict.fromkeys(column for _, column in cells))
    planned = len(cells) * seeds
    finished = sum(len(v.get("top1_error", [])) for v in cells.values())
    wall = sum(sum(v.get("wall_seconds", [])) for v in cells.values())
    lines = [f"### {experiment.title}", "", setting(name, scale), ""]
    if experiment.occlusion:
        lines += _occlusion_tables(cells, rows, columns[0])
    elif name == "tune":
        lines += _tune_table(cells, out)
    elif columns == [""]:
        metrics = experiment.metrics
        lines += ["| method | " + " | ".join(m.replace("_", " ") + " (%)" for m in metrics) + " |",
                  "|---" + "|---:" * len(metrics) + "|"]  # fmt: skip
        for row in rows:
            lines.append(f"| {row} | " + " | ".join(_fmt(cells[(row, "")].get(m, [])) for m in metrics) + " |")
    else:
        lines += ["| method | " + " | ".join(columns) + " |", "|---" + "|---:" * len(columns) + "|"]
        for row in rows:
            values = [_fmt(cells.get((row, c), {}).get("top1_error", [])) for c in columns]
            lines.append(f"| {row} | " + " | ".join(values) + " |")
    what = "Validation" if name == "tune" else "Top-1"
    lines += ["", f"{what} error (%), mean ± standard error over seeds; {finished} of {planned} runs "
              f"finished; {wall / 60:.0f} min of training and testing.", ""]  # fmt: skip
    lines += [f"Check of the claim ({experiment.claim}): {check_claim(name, cells)}", ""]
    if scale == "cpu":
        lines += _cpu_sections(name, seeds, out, cells, plot_dir if finished else None)
    if experiment.kind == "line" and plot_dir is not None and finished:
        path = _plot(name, experiment.title, cells, rows, columns, plot_dir, _plot_name(name, scale))
        lines += [f"![{experiment.title}]({path.name})", ""]
    return "\n".join(lines)


def _plot_name(name: str, scale: str) -> str:
    """The PNG of an experiment's plot; the cpu scale's carry the scale, so they can share a folder with the rest."""
    return f"{name}_{scale}.png" if scale == "cpu" else f"{name}.png"


def _occlusion_tables(cells: dict[Any, Any], rows: list[str], column: str) -> list[str]:
    """The occlusion table by each network's own saliency and, where computed, by the reference network's."""
    header = [f"k = {100 * f:g} %" for f in OCCLUSION_FRACTIONS]
    tables = [("occluded", "Ranked by each network's own forward saliency (sum_c |A_c| of its last conv stage):")]
    if any(v.get(f"reference_{OCCLUSION_FRACTIONS[-1]:g}") for v in cells.values()):
        tables.append(("reference", "Ranked by one reference network's forward saliency for every method (the "
                       "Vanilla seed-0 run unless stated), so every method loses the same regions:"))  # fmt: skip
    lines = []
    for prefix, caption in tables:
        lines += [caption, "", "| method | " + " | ".join(header) + " |", "|---" + "|---:" * len(header) + "|"]
        for row in rows:
            values = cells[(row, column)]
            lines.append(
                f"| {row} | " + " | ".join(_fmt(values.get(f"{prefix}_{f:g}", [])) for f in OCCLUSION_FRACTIONS) + " |"
            )
        lines.append("")
    return lines[:-1]


def _tune_table(cells: dict[Any, Any], out: Path) -> list[str]:
    """One line per configuration with its validation error; each method's selection (``select_tuned``) in bold."""
    from saliency_grafting.experiments.tuning import select_tuned

    chosen = select_tuned(out)
    lines = ["| method | configuration | validation error (%) |", "|---|---|---:|"]
    for (row, column), values in cells.items():
        mark = "**" if chosen.get(row, {}).get("label") == column else ""
        lines.append(f"| {row} | {mark}{column}{mark} | {_fmt(values.get('top1_error', []))} |")
    return lines


def _cpu_sections(name: str, seeds: int, out: Path, cells: dict[Any, Any], plot_dir: Path | None) -> list[str]:
    """The cpu scale's additions: verdicts by protocol, the tuned selection, curves and plots, compute per cell."""
    from saliency_grafting.experiments import report_cpu

    lines = []
    if name in ("table1", "table2", "table3", "table4", "table5") and any(" · " in column for _, column in cells):
        lines += [f"Verdict by protocol: {report_cpu.protocol_verdicts(cells)}", ""]
    if name == "tuned":
        from saliency_grafting.experiments.tuning import select_tuned

        selection = select_tuned(out)
        if not selection:
            lines.append("No selection yet: no method has a seed finished by all its tune configurations.")
        for method, chosen in selection.items():
            lines.append(f"- {method}: selected {chosen['label']} on validation ({chosen['val_error']:.2f} % vs "
                         f"{chosen['default_val_error']:.2f} % for the default, seeds "
                         f"{', '.join(map(str, chosen['seeds']))}).")  # fmt: skip
        lines += ["", "The tuned and default cells run on fresh seeds against the test set; see the tune table."]
        lines.append("")
    if name == "table5" and plot_dir is not None:
        series = {}
        for row in dict.fromkeys(r for r, _ in cells):
            points = [(float(c.split(" · ")[0]), *mean_se(v["top1_error"])) for (r, c), v in cells.items()
                      if r == row and c.endswith(" · paper") and v.get("top1_error")]  # fmt: skip
            series[row] = sorted(points)
        path = report_cpu.plot_lines(series, "Test error against images per class (paper protocol)",
                                     "images per class", plot_dir / _plot_name(name, "cpu"), log_x=True)  # fmt: skip
        lines += [f"![error against images per class]({path.name})", ""]
    if name == "wallclock":
        means = {row: report_cpu.mean_curve(runs) for row, runs in report_cpu.curves(name, "cpu", seeds, out).items()}
        lines += [f"Wall clock: {report_cpu.budget_winners(means)} An evaluation part-way through a run is not a "
                  "run trained for that budget (its learning rate has not decayed yet).", ""]  # fmt: skip
        if plot_dir is not None and means:
            series = {row: [(t, e, math.nan) for t, e in points] for row, points in means.items()}
            path = report_cpu.plot_lines(series, "Test error against training time (mean over seeds)",
                                         "training seconds", plot_dir / _plot_name(name, "cpu"))  # fmt: skip
            lines += [f"![error against training time]({path.name})", ""]
    if name != "tune":
        lines += [
            "Per cell, overfitting and compute (train error: the final weights on the clean training subset where "
            "measured (`--train-error`), else the last epoch's running error on clean batches, — for mixed-only "
            "objectives; passes: forward/backward passes over the subset, warm-up epochs counted as one):",
            "",
        ]
        lines += [*report_cpu.compute_table(name, "cpu", cells, out), ""]
    return lines


def _means(cells: dict[Any, Any], column: str, metric: str = "top1_error") -> dict[str, float]:
    return {row: statistics.fmean(v[metric]) for (row, col), v in cells.items() if col == column and v.get(metric)}


def _against_rival(cells: dict[Any, Any], order: list[str], row: str, column: str, metric: str = "top1_error") -> str:
    """``row`` against the best other row of ``order`` (rows sorted by mean error); empty if there is none."""
    rival = next((other for other in order if other != row), None)
    return "" if rival is None else _versus(cells, (row, column), (rival, column), rival, metric)


def _versus(
    cells: dict[Any, Any], a: tuple[str, str], b: tuple[str, str], label: str, metric: str = "top1_error"
) -> str:
    """Cell ``a`` against cell ``b``: the difference of mean errors and whether it exceeds 2 standard errors.

    Runs with the same seed share the subset, initialisation, data order and draws, so when both cells have the same
    seeds the test is paired (the standard error of the per-seed differences); otherwise it is unpaired.
    """
    va, vb = cells[a], cells[b]
    xa, xb = va[metric], vb[metric]
    diff = statistics.fmean(xa) - statistics.fmean(xb)
    if len(xa) < 2 or len(xb) < 2:
        return f"{diff:+.2f} points vs {label} (no test: fewer than 2 seeds)"
    paired = bool(va.get("seed")) and va.get("seed") == vb.get("seed")
    if paired:
        se = mean_se([x - y for x, y in zip(xa, xb, strict=True)])[1]
    else:
        se = math.hypot(mean_se(xa)[1], mean_se(xb)[1])
    verdict = "within noise" if abs(diff) <= 2 * se else ("lower" if diff < 0 else "higher")
    return f"{diff:+.2f} points vs {label} ({verdict}, 2 s.e. = {2 * se:.2f}, {'paired' if paired else 'unpaired'})"


def setting(name: str, scale: str) -> str:
    """One line naming what an experiment's cells share (model, data, images per class, epochs); the rest varies."""
    configs = [cell.config for cell in cells_for(name, scale)]

    def shared(key: str, default: Any = None) -> str:
        values = {json.dumps(c.get(key, default)) for c in configs}
        return str(configs[0].get(key, default)) if len(values) == 1 else "(varies)"

    per_class = shared("per_class")
    data = f"{shared('dataset')}, " + ("full training set" if per_class == "None" else f"{per_class} images per class")
    epochs = f"{shared('epochs')} epochs ({shared('warmup_epochs')} warm-up)"
    return f"Setting ({scale} scale): {shared('model')} on {data}, {epochs}, batch {shared('batch_size', 128)}."


def _slope(xs: list[float], ys: list[float]) -> float:
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def check_claim(name: str, cells: dict[Any, Any]) -> str:
    """A factual, automatic reading of the claim from the mean errors (the verdict in prose is the report's)."""
    sg = "Saliency Grafting"
    columns = list(dict.fromkeys(column for _, column in cells))
    if not any(v.get("top1_error") for v in cells.values()):
        return "no finished runs yet."
    if name in ("table1", "table2", "table3", "table4", "table5", "wallclock", "tuned"):
        parts = []
        for column in columns:
            means = _means(cells, column)
            if sg in means:
                order = sorted(means, key=means.get)
                where = f" at {column}" if column else ""
                gap = f"; {versus}" if (versus := _against_rival(cells, order, sg, column)) else ""
                parts.append(f"SG ranks {order.index(sg) + 1} of {len(means)}{where}{gap}")
        if name == "tuned":  # each method's selection against its default, paired by seed
            for row in dict.fromkeys(r for r, _ in cells):
                tuned, default = (row, "tuned"), (row, "default")
                if cells.get(tuned, {}).get("top1_error") and cells.get(default, {}).get("top1_error"):
                    parts.append(f"{row}: tuned {_versus(cells, tuned, default, 'default')}")
        return "; ".join(parts) + "." if parts else "SG has no finished runs yet."
    if name == "table6":
        parts = []
        saliencies = [("occluded", "")]
        if any(v.get(f"reference_{OCCLUSION_FRACTIONS[-1]:g}") for v in cells.values()):
            saliencies.append(("reference", " (reference saliency)"))
        for prefix, which in saliencies:
            for fraction in OCCLUSION_FRACTIONS:
                metric = f"{prefix}_{fraction:g}"
                means = _means(cells, columns[0], metric)
                if not means:
                    continue
                order = sorted(means, key=means.get)
                line = f"k = {100 * fraction:g} %{which}: lowest {order[0]} ({means[order[0]]:.2f} %)"
                if sg in means and len(order) > 1:
                    line += f", SG {_against_rival(cells, order, sg, columns[0], metric)}"
                parts.append(line)
        return "; ".join(parts) + "."
    if name == "tune":  # per method: its best configuration on validation against its default
        parts = []
        for row in dict.fromkeys(r for r, _ in cells):
            means = {
                c: statistics.fmean(v["top1_error"]) for (r, c), v in cells.items() if r == row and v.get("top1_error")
            }
            if means:
                best = min(means, key=means.__getitem__)
                gap = f", {_versus(cells, (row, best), (row, 'default'), 'default')}" if best != "default" else ""
                parts.append(f"{row}: best {best}{gap}")
        return "; ".join(parts) + "."
    if name == "fastpath":
        fast, slow = ("Vanilla", "bf16 + channels-last"), ("Vanilla", "fp32")
        if not (cells.get(fast, {}).get("top1_error") and cells.get(slow, {}).get("top1_error")):
            return "needs both cells."
        speed = statistics.fmean(cells[slow]["wall_seconds"]) / statistics.fmean(cells[fast]["wall_seconds"])
        return f"bf16 + channels-last {_versus(cells, fast, slow, 'fp32')}; {speed:.2f}x faster (wall time)."
    if name in ("table7", "sweep", "recipe"):
        parts = []
        for column in columns:
            order = sorted(means := _means(cells, column), key=means.get)
            if order:  # a column with no finished runs yet is left out
                gap = f", {_versus(cells, (order[0], column), (order[1], column), order[1])}" if len(order) > 1 else ""
                parts.append(f"{column or 'all'}: best {order[0]}{gap}")
        if name == "recipe":  # each method's two objectives against each other
            for row in dict.fromkeys(r for r, _ in cells):
                both, mixed = (row, "clean + mixed"), (row, "mixed only")
                if cells.get(both, {}).get("top1_error") and cells.get(mixed, {}).get("top1_error"):
                    parts.append(f"{row}: clean + mixed {_versus(cells, both, mixed, 'mixed only')}")
        return "; ".join(parts) + "."
    slopes = []
    for row in dict.fromkeys(r for r, _ in cells):
        points = [(float(c), statistics.fmean(v["top1_error"])) for (r, c), v in cells.items()
                  if r == row and v.get("top1_error")]  # fmt: skip
        if len(points) > 1:
            slopes.append(f"{row}: {_slope(*map(list, zip(*points, strict=True))):+.2f} points per unit")
    return "least-squares slope of the mean error, " + "; ".join(slopes) + "."


def _plot(
    name: str, title: str, cells: dict[Any, Any], rows: list[str], columns: list[str], plot_dir: Path, filename: str
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.4), dpi=120)
    xs = [float(c) for c in columns]
    for row in rows:
        errors = [cells.get((row, c), {}).get("top1_error", []) for c in columns]
        stats = [mean_se(e) if e else (math.nan, 0.0) for e in errors]
        ax.errorbar(xs, [m for m, _ in stats], yerr=[s for _, s in stats], marker="o", capsize=3, label=row)
    ax.set_xlabel("k" if name == "fig3" else "sigma / sigma_mean")
    ax.set_ylabel("top-1 error (%)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    plot_dir.mkdir(parents=True, exist_ok=True)
    path = plot_dir / filename
    fig.savefig(path)
    plt.close(fig)
    return path

"""Claim checks: factual readings of a claim from the aggregated cells, and the statistics they use."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable

from saliency_grafting.experiments.core import Cells, Check
from saliency_grafting.experiments.runner import OCCLUSION_FRACTIONS

__all__ = [
    "SG",
    "against",
    "best_per_column",
    "fastpath_speed",
    "fmt",
    "mean_se",
    "occlusion_ranking",
    "overfit_criterion",
    "paired_rows",
    "sg_rank",
    "slopes",
    "tune_best",
    "versus",
]

SG = "Saliency Grafting"
# Parts of a check: one sentence each, joined by "; ".
Parts = Callable[[Cells], list[str]]


def mean_se(values: list[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (0 for a single value)."""
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0)


def fmt(values: list[float]) -> str:
    """``mean ± s.e.`` of a cell's values, ``(1 seed)`` for one, a dash for none."""
    if not values:
        return "—"
    mean, se = mean_se(values)
    return f"{mean:.2f} ± {se:.2f}" if len(values) > 1 else f"{mean:.2f} (1 seed)"


def _columns(cells: Cells) -> list[str]:
    return list(dict.fromkeys(column for _, column in cells))


def _rows(cells: Cells) -> list[str]:
    return list(dict.fromkeys(row for row, _ in cells))


def _means(cells: Cells, column: str, metric: str = "top1_error") -> dict[str, float]:
    return {row: statistics.fmean(v[metric]) for (row, col), v in cells.items() if col == column and v.get(metric)}


def _against_rival(cells: Cells, order: list[str], row: str, column: str, metric: str = "top1_error") -> str:
    """``row`` against the best other row of ``order`` (rows sorted by mean error); empty if there is none."""
    rival = next((other for other in order if other != row), None)
    return "" if rival is None else versus(cells, (row, column), (rival, column), rival, metric)


def versus(cells: Cells, a: tuple[str, str], b: tuple[str, str], label: str, metric: str = "top1_error") -> str:
    """Cell ``a`` against cell ``b``: the difference of mean errors and whether it exceeds 2 standard errors.

    Runs with the same seed share the subset, initialisation, data order and draws, so when both cells have the same
    seeds the test is paired (the standard error of the per-seed differences); otherwise it is unpaired.
    """
    va, vb = cells[a], cells[b]
    xa, xb = va[metric], vb[metric]
    diff = statistics.fmean(xa) - statistics.fmean(xb)
    if len(xa) < 2 or len(xb) < 2:
        return f"{diff:+.2f} points vs {label} (no test: fewer than 2 seeds)"
    key = _seed_key(metric)
    paired = bool(va.get(key)) and va.get(key) == vb.get(key) and len(va[key]) == len(xa) == len(xb)
    if paired:
        se = mean_se([x - y for x, y in zip(xa, xb, strict=True)])[1]
    else:
        se = math.hypot(mean_se(xa)[1], mean_se(xb)[1])
    verdict = "within noise" if abs(diff) <= 2 * se else ("lower" if diff < 0 else "higher")
    return f"{diff:+.2f} points vs {label} ({verdict}, 2 s.e. = {2 * se:.2f}, {'paired' if paired else 'unpaired'})"


def _seed_key(metric: str) -> str:
    """The per-seed list that ``metric``'s values line up with: metrics added post hoc cover only some seeds."""
    if metric.startswith("reference_"):
        return "reference_seed"
    if metric.startswith("loc_"):
        return "loc_seed"
    return "train_clean_seed" if metric == "train_clean_top1_error" else "seed"


def paired_rows(a: str, b: str) -> Parts:
    """Per row with both cells finished: its column ``a`` against its column ``b`` (a tuned vs default, say)."""

    def parts(cells: Cells) -> list[str]:
        found = []
        for row in _rows(cells):
            if cells.get((row, a), {}).get("top1_error") and cells.get((row, b), {}).get("top1_error"):
                found.append(f"{row}: {a} {versus(cells, (row, a), (row, b), b)}")
        return found

    return parts


def against_protocol(protocol: str) -> Parts:
    """SG under the paper protocol against every method's cell under ``protocol`` (e.g. the one-pass methods at the
    two-pass methods' sample passes), paired by seed."""

    def parts(cells: Cells) -> list[str]:
        columns = _columns(cells)
        paper = next((c for c in columns if c.endswith("· paper")), None)
        other = next((c for c in columns if c.endswith(f"· {protocol}")), None)
        if paper is None or other is None or not cells.get((SG, paper), {}).get("top1_error"):
            return []
        return [
            f"SG at {paper} {versus(cells, (SG, paper), (row, other), f'{row} at {other}')}"
            for row in _rows(cells)
            if row != SG and cells.get((row, other), {}).get("top1_error")  # SG's own cell there: the same runs
        ]

    return parts


def against(row: str) -> Check:
    """In each column where ``row`` has finished runs: ``row`` against every other row with finished runs."""

    def check(cells: Cells) -> str:
        parts = []
        for column in _columns(cells):
            if not cells.get((row, column), {}).get("top1_error"):
                continue
            where = f" at {column}" if column else ""
            for other in _means(cells, column):
                if other != row:
                    parts.append(f"{row}{where} {versus(cells, (row, column), (other, column), other)}")
        if parts:
            return "; ".join(parts) + "."
        finished = any(cells.get((row, column), {}).get("top1_error") for column in _columns(cells))
        return "no other row has finished runs yet." if finished else f"{row} has no finished runs yet."

    return check


def sg_rank(*more: Parts) -> Check:
    """SG's rank by mean top-1 error in each column and its gap to the best other method, then ``more`` parts."""

    def check(cells: Cells) -> str:
        parts = []
        for column in _columns(cells):
            means = _means(cells, column)
            if SG in means:
                order = sorted(means, key=means.__getitem__)
                where = f" at {column}" if column else ""
                gap = f"; {rival}" if (rival := _against_rival(cells, order, SG, column)) else ""
                parts.append(f"SG ranks {order.index(SG) + 1} of {len(means)}{where}{gap}")
        parts += [part for extra in more for part in extra(cells)]
        return "; ".join(parts) + "." if parts else "SG has no finished runs yet."

    return check


def best_per_column(*more: Parts) -> Check:
    """The best row of each column against the second, then ``more`` parts."""

    def check(cells: Cells) -> str:
        parts = []
        for column in _columns(cells):
            order = sorted(means := _means(cells, column), key=means.__getitem__)
            if order:  # a column with no finished runs yet is left out
                gap = f", {versus(cells, (order[0], column), (order[1], column), order[1])}" if len(order) > 1 else ""
                parts.append(f"{column or 'all'}: best {order[0]}{gap}")
        parts += [part for extra in more for part in extra(cells)]
        return "; ".join(parts) + "."

    return check


def occlusion_ranking(cells: Cells) -> str:
    """At each occluded fraction (own saliency, then the reference network's): the lowest error, and SG's gap; then
    the least rise of the error over the unoccluded one, and SG's gap (robustness apart from the clean error)."""
    column = _columns(cells)[0]
    saliencies = [("", "")]
    if any(v.get(f"reference_{OCCLUSION_FRACTIONS[-1]:g}") for v in cells.values()):
        saliencies.append(("reference_", " (reference saliency)"))
    readings = [  # (metric, what it reads, its best, unit): the metric names of report.aggregate
        (f"{prefix or 'occluded_'}{k:g}", f"k = {100 * k:g} %{which}", "lowest", " %")
        for prefix, which in saliencies
        for k in OCCLUSION_FRACTIONS
    ]
    readings += [
        (f"{prefix}rise_{k:g}", f"rise at k = {100 * k:g} %{which}", "least rise", " points")
        for prefix, which in saliencies
        for k in OCCLUSION_FRACTIONS[1:]
    ]
    parts = []
    for metric, what, best, unit in readings:
        means = _means(cells, column, metric)
        if not means:
            continue
        order = sorted(means, key=means.__getitem__)
        line = f"{what}: {best} {order[0]} ({means[order[0]]:.2f}{unit})"
        if SG in means and len(order) > 1:
            line += f", SG {_against_rival(cells, order, SG, column, metric)}"
        parts.append(line)
    return "; ".join(parts) + "."


# The cpu scale's criterion (issue 9): vanilla fits its training set and generalises much worse.
MAX_TRAIN_ERROR = 2.0
MIN_GAP = 15.0


def overfit_criterion(cells: Cells) -> str:
    """Per cell: training error (clean images, final weights) and test error, and whether the criterion holds.

    The criterion: training error at most ``MAX_TRAIN_ERROR`` % and test error at least ``MIN_GAP`` points higher.
    Only the clean training error counts (``runner.TRAIN_KEY``), on the seeds that have it; a cell whose records
    lack it is named (``sgraft reproduce ... --train-error --retrain-missing`` adds it).
    """
    parts, missing = [], []
    for (row, column), values in cells.items():
        if not values.get("top1_error"):
            continue
        if not values.get("train_clean_top1_error"):
            missing.append(f"{row} at {column}")
            continue
        seeds = values["train_clean_seed"]
        tests = [e for s, e in zip(values["seed"], values["top1_error"], strict=True) if s in seeds]
        test, fit = statistics.fmean(tests), statistics.fmean(values["train_clean_top1_error"])
        holds = fit <= MAX_TRAIN_ERROR and test - fit >= MIN_GAP
        parts.append(
            f"{row} at {column}: train {fit:.2f} %, test {test:.2f} % ({'meets' if holds else 'fails'}; "
            f"seeds {', '.join(map(str, seeds))})"
        )
    if missing:
        parts.append(f"no clean training error yet: {', '.join(missing)}")
    if not parts:
        return "no finished runs yet."
    rule = f"training error <= {MAX_TRAIN_ERROR:g} % and test error >= {MIN_GAP:g} points higher"
    return f"criterion: {rule}; " + "; ".join(parts) + "."


def tune_best(cells: Cells) -> str:
    """Per method: its best configuration on validation against its default."""
    parts = []
    for row in _rows(cells):
        means = {
            c: statistics.fmean(v["top1_error"]) for (r, c), v in cells.items() if r == row and v.get("top1_error")
        }
        if means:
            best = min(means, key=means.__getitem__)
            gap = f", {versus(cells, (row, best), (row, 'default'), 'default')}" if best != "default" else ""
            parts.append(f"{row}: best {best}{gap}")
    return "; ".join(parts) + "."


def fastpath_speed(cells: Cells) -> str:
    """bf16 + channels-last against fp32 on the seeds both have: the error difference and the training speed-up.

    Only common seeds are compared, so the test is paired and the speed-up compares the same work; the speed-up is
    the ratio of mean training seconds (evaluation excluded; wall time where a record has no training seconds).
    """
    fast, slow = ("Vanilla", "bf16 + channels-last"), ("Vanilla", "fp32")
    if not (cells.get(fast, {}).get("top1_error") and cells.get(slow, {}).get("top1_error")):
        return "needs both cells."
    common = sorted(int(seed) for seed in set(cells[fast]["seed"]) & set(cells[slow]["seed"]))
    if not common:
        return "needs both cells at a common seed."
    pairs = {key: _at_seeds(cells[key], common) for key in (fast, slow)}
    time = "train_seconds" if all(pairs[key].get("train_seconds") for key in pairs) else "wall_seconds"
    speed = statistics.fmean(pairs[slow][time]) / statistics.fmean(pairs[fast][time])
    seeds = ", ".join(map(str, common))
    return (
        f"bf16 + channels-last {versus(pairs, fast, slow, 'fp32')} over seeds {seeds}; {speed:.2f}x faster "
        f"({'training' if time == 'train_seconds' else 'wall'} time)."
    )


def _at_seeds(values: dict[str, list[float]], seeds: list[int]) -> dict[str, list[float]]:
    """A cell's per-seed values at ``seeds`` only (lists that are not per seed are left out)."""
    index = [values["seed"].index(seed) for seed in seeds]
    return {
        metric: [series[i] for i in index] for metric, series in values.items() if len(series) == len(values["seed"])
    }


def _slope(xs: list[float], ys: list[float]) -> float:
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def _seed_slope(cells: Cells, row: str, points: dict[str, dict[str, list[float]]]) -> str:
    """`` (per seed ...)``: the slope fitted per seed and the last column against the first, when seeds line up."""
    seeds = [v.get("seed") for v in points.values()]
    if (
        not seeds[0]
        or len(seeds[0]) < 2
        or any(s != seeds[0] or len(s) != len(v["top1_error"]) for s, v in zip(seeds, points.values(), strict=True))
    ):
        return ""
    xs = [float(c) for c in points]
    mean, se = mean_se([_slope(xs, [v["top1_error"][i] for v in points.values()]) for i in range(len(seeds[0]))])
    verdict = "flat within noise" if abs(mean) <= 2 * se else ("falls" if mean < 0 else "rises")
    first, last = min(points, key=float), max(points, key=float)
    return (
        f" (per seed {mean:+.2f}, 2 s.e. = {2 * se:.2f}: {verdict}; at {last} "
        f"{versus(cells, (row, last), (row, first), f'at {first}')})"
    )


def slopes(cells: Cells) -> str:
    """Per row: the least-squares slope of its mean error against the (numeric) column, tested per seed.

    When every point of a row has the same two or more seeds, the slope is also fitted per seed (the runs of one seed
    share the subset, initialisation and data order) and said to rise or fall only beyond 2 standard errors of those
    per-seed slopes; then the last column is set against the first (``versus``, paired).
    """
    found = []
    for row in _rows(cells):
        points = {c: v for (r, c), v in cells.items() if r == row and v.get("top1_error")}
        if len(points) > 1:
            means = [statistics.fmean(v["top1_error"]) for v in points.values()]
            slope = _slope([float(c) for c in points], means)
            found.append(f"{row}: {slope:+.2f} points per unit{_seed_slope(cells, row, points)}")
    return "least-squares slope of the mean error, " + "; ".join(found) + "."

"""Run a comparison (``compare.Comparison``) through the experiment runner and write its report.

run_comparison(comparison, data_dir, out)   # tune -> tuned (-> compare) -> OUT/compare_<dataset>.md and .png
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from saliency_grafting.config import TrainConfig
from saliency_grafting.experiments.claims import fmt, mean_se
from saliency_grafting.experiments.compare import Comparison, comparison_scale, difference, recommend
from saliency_grafting.experiments.overfit import epoch_passes, passes_per_step, passes_text
from saliency_grafting.experiments.runner import data_cache_key, plan, record_path, run_experiment
from saliency_grafting.experiments.scales import Scale
from saliency_grafting.experiments.tuning import GRID, select_tuned

__all__ = ["StepTimer", "comparison_runs", "render_comparison", "run_comparison"]

Log = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class StepTimer:
    """Seconds per training run of a config, from a few measured steps on the real data (for the dry run and ETA).

    One trainer per (mixer, objective, mix_times): its median step over ``steps`` steps after one warm-up step. A
    run is then its warm-up epochs at the vanilla step's cost and the rest at the method's, evaluation left out.
    """

    def __init__(self, data: Any, *, steps: int = 3) -> None:
        self.data, self.steps = data, steps
        self.seconds: dict[tuple[Any, ...], float] = {}

    def _step(self, config: TrainConfig) -> float:
        from saliency_grafting.engine import Trainer

        key = (config.mixer, config.objective, config.mix_times, json_key(config.mixer_args))
        if key not in self.seconds:
            probe = TrainConfig.from_dict({**config.to_dict(), "out": None, "quiet": True, "data_fingerprint": None})
            trainer = Trainer.from_config(probe, data=self.data)
            images, labels = next(iter(trainer.train_loader))
            times = []
            for _ in range(self.steps + 1):
                start = time.perf_counter()
                trainer.optimizer.zero_grad(set_to_none=True)
                trainer.step_batch(images, labels, config.mixer != "none")
                trainer.optimizer.step()
                times.append(time.perf_counter() - start)
            trainer.close()
            self.seconds[key] = statistics.median(times[1:])
        return self.seconds[key]

    def __call__(self, config: TrainConfig) -> float:
        per_epoch = max(1, config.per_class * self.data.num_classes // config.batch_size)
        clean = self._step(TrainConfig.from_dict({**config.to_dict(), "mixer": "none", "mixer_args": {}}))
        mixed = self._step(config) if config.mixer != "none" else clean
        warmup = min(config.warmup_epochs, config.epochs) if config.mixer != "none" else config.epochs
        return per_epoch * (warmup * clean + (config.epochs - warmup) * mixed)


def json_key(values: Mapping[str, Any]) -> str:
    return repr(sorted(values.items()))


def _stages(comparison: Comparison) -> list[tuple[str, int, list[str]]]:
    """(experiment, seeds, rows) in the order they run."""
    tuned = [m for m in comparison.methods if m in GRID]
    stages = [("tune", comparison.tune_seeds, tuned), ("tuned", comparison.seeds, comparison.methods)]
    if len(comparison.protocols) > 1:
        stages.append(("compare", comparison.seeds, comparison.methods))
    return [(name, seeds, rows) for name, seeds, rows in stages if rows]


def comparison_runs(scale: Scale, comparison: Comparison, out: Path, data_dir: str | None) -> list[tuple[Any, ...]]:
    """Every (experiment, cell, seed, config) of the comparison, as planned now (the tuned cells follow the tune
    records in ``out``)."""
    runs = []
    for name, seeds, rows in _stages(comparison):
        runs += [(name, *run) for run in plan(name, scale, seeds, data_dir, records=out) if run[0].row in rows]
    return runs


def run_comparison(
    comparison: Comparison,
    data_dir: str | None,
    out: Path,
    *,
    runs_dir: Path | None = None,
    dry_run: bool = False,
    log: Log = _stderr,
    executor: Any | None = None,
) -> str:
    """Tune, train and test every method of ``comparison`` (or, with ``dry_run``, list the runs with an estimate
    of their time); returns the report, also written to ``out/compare_<dataset>.md`` (its plot beside it).
    ``executor``: train the runs as jobs of a cluster engine (``dispatch.make_executor``)."""
    from saliency_grafting.data import load_dataset

    out = Path(out)
    data = load_dataset(comparison.dataset, data_dir, image_size=comparison.image_size, **comparison.dataset_args)
    smallest = int(torch.bincount(data.labels("train")).min())
    held_out = comparison.val_per_class
    if held_out is None:
        held_out = max(1, min(500, smallest - comparison.per_class))
        comparison = dataclasses.replace(comparison, val_per_class=held_out)
    if comparison.per_class + held_out > smallest:
        raise ValueError(
            f"per_class {comparison.per_class} + val_per_class {held_out} exceed the "
            f"{smallest} training images of the smallest class: lower one of them"
        )
    scale = comparison_scale(comparison, num_classes=data.num_classes, fingerprint=data.fingerprint)
    cache = {"held": data}
    timer = StepTimer(_small(data, comparison.per_class))
    if dry_run:
        lines = ["experiment\tmethod\tsetting\tseed\tstatus\testimate (s)"]
        total = 0.0
        for name, cell, seed, config in comparison_runs(scale, comparison, out, data_dir):
            done = record_path(out, config).exists()
            seconds = 0.0 if done else timer(config)
            total += seconds
            lines.append(f"{name}\t{cell.row}\t{cell.column}\t{seed}\t{'done' if done else 'todo'}\t{seconds:.0f}")
        lines.append(
            f"total left: ~{total / 60:.0f} min on this machine (the tuned cells of methods whose tuning "
            "has not run yet are added once it has)"
        )
        return "\n".join(lines)
    for name, seeds, rows in _stages(comparison):
        log(f"compare: stage {name} ({', '.join(rows)}; {seeds} seed(s))")
        run_experiment(
            name,
            scale,
            seeds,
            out,
            data_dir,
            runs_dir=runs_dir,
            rows=rows,
            log=log,
            estimate=timer,
            data_cache=_runner_cache(cache, data_dir, comparison),
            executor=executor,
        )
    report = render_comparison(comparison, scale, out, data_dir, plot=True)
    (out / f"compare_{comparison.dataset}.md").write_text(report)
    return report


def _small(data: Any, per_class: int) -> Any:
    """A few batches of ``data`` for the step timer (the subset a run would train on, seed 0)."""
    from saliency_grafting.data import subset

    return subset(data, min(per_class, 50), 0) if data.resident else data


def _runner_cache(cache: dict[str, Any], data_dir: str | None, comparison: Comparison) -> dict[str, Any]:
    """The runner's data cache holding the data already loaded, under the runner's own key (no second decode)."""
    probe = TrainConfig(
        dataset=comparison.dataset,
        data_dir=data_dir,
        image_size=comparison.image_size,
        dataset_args=dict(comparison.dataset_args),
    )
    return {data_cache_key(probe): cache["held"]}


def render_comparison(
    comparison: Comparison, scale: Scale, out: Path, data_dir: str | None, *, plot: bool = False
) -> str:
    """The report: test error per method and configuration, paired differences against the best, cost, and the
    one-sentence answer."""
    chosen = select_tuned(out, scale)
    table: dict[str, dict[str, Any]] = {}
    for name, cell, seed, config in comparison_runs(scale, comparison, out, data_dir):
        if name == "tune":
            continue
        tuned = cell.column.startswith("tuned")  # the cells of ``tuned`` and ``compare``: default or tuned
        if tuned and chosen.get(cell.row, {}).get("label") == "default":
            continue  # the selection is the default: the same runs as the default row
        label = _label(cell, tuned, chosen)
        row = table.setdefault(
            label, {"errors": [], "seeds": [], "walls": [], "config": cell.config, "passes": epoch_passes(cell.config)}
        )
        path = record_path(out, config)
        if path.exists() and seed not in row["seeds"]:
            record = json.loads(path.read_text())
            row["errors"].append(record["summary"]["final_top1_error"])
            row["seeds"].append(seed)
            row["walls"].append(record["wall_seconds"])
    answer = recommend(table)
    best = min(
        (k for k in table if table[k]["errors"]), key=lambda k: statistics.fmean(table[k]["errors"]), default=None
    )
    lines = [
        f"# Which augmentation for {comparison.dataset} ({data_dir or 'generated data'})",
        "",
        f"**{answer}**",
        "",
        _setting(comparison, scale),
        "",
        "| method (configuration) | test error (%) | vs the best (points, 2 s.e.) | passes / step | passes "
        "(epochs) | wall (min / run) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, row in sorted(table.items(), key=lambda kv: statistics.fmean(kv[1]["errors"] or [1e9])):
        versus = "—" if label == best or best is None else _versus(table[best], row)
        wall = f"{statistics.fmean(row['walls']) / 60:.1f}" if row["walls"] else "—"
        lines.append(
            f"| {label} | {fmt(row['errors'])} | {versus} | {passes_text(passes_per_step(row['config']))} | "
            f"{passes_text(row['passes'])} | {wall} |"
        )
    lines += ["", _selection_text(chosen, comparison), ""]
    if plot and any(row["errors"] for row in table.values()):
        path = _plot(table, out / f"compare_{comparison.dataset}.png")
        lines += [f"![test error by method]({path.name})", ""]
    return "\n".join(lines)


def _label(cell: Any, tuned: bool, chosen: Mapping[str, Any]) -> str:
    """``Mixup (tuned: alpha = 0.2, same compute)``: the method, its configuration and a protocol not the paper's."""
    what = f"tuned: {chosen[cell.row]['label']}" if tuned and cell.row in chosen else "default"
    if not tuned and chosen.get(cell.row, {}).get("label") == "default":
        what = "default, also the tuned choice"
    protocol = f", {cell.protocol}" if cell.protocol not in (None, "paper") else ""
    return f"{cell.row} ({what}{protocol})"


def _versus(best: Mapping[str, Any], row: Mapping[str, Any]) -> str:
    """The mean difference to the best and 2 s.e. of it."""
    if not row["errors"] or not best["errors"]:
        return "—"
    diff, se, paired = difference(best, row)
    if se is None:
        return f"{diff:+.2f} (no test: fewer than 2 seeds)"
    return f"{diff:+.2f} ({2 * se:.2f}, {'paired' if paired else 'unpaired'})"


def _setting(comparison: Comparison, scale: Scale) -> str:
    epochs = scale.epochs(comparison.per_class)
    return (
        f"Setting: {comparison.model} {dict(comparison.model_args) or ''} on {comparison.dataset} "
        f"(fingerprint {scale.fingerprint}), {comparison.per_class} training images per class, "
        f"{comparison.val_per_class} more per class held out for tuning, {epochs} epochs of batch "
        f"{comparison.batch_size}; "
        f"{comparison.tune_seeds} tuning seed(s) and {comparison.seeds} fresh test seeds; "
        f"{_test_split(comparison)}; protocols "
        f"{', '.join(comparison.protocols)}. Test error in %, mean ± standard error over seeds."
    )


def _test_split(comparison: Comparison) -> str:
    held = comparison.dataset_args.get("test_per_class")
    if held is None:
        return "tested on the data's own test split"
    return f"no test split in the data: {held} training images per class held out as the test set"


def _selection_text(chosen: Mapping[str, Any], comparison: Comparison) -> str:
    parts = [
        f"{method}: {info['label']} ({info['val_error']:.2f} % on validation against "
        f"{info['default_val_error']:.2f} % for the default)"
        for method, info in chosen.items()
        if method in comparison.methods
    ]
    if not parts:
        return "Tuning: no selection yet (no tuned method has finished its tuning runs)."
    return "Tuning (seven configurations per method, chosen on the validation split): " + "; ".join(parts) + "."


def _plot(table: Mapping[str, Mapping[str, Any]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(label, *mean_se(row["errors"])) for label, row in table.items() if row["errors"]]
    rows.sort(key=lambda r: r[1], reverse=True)
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(rows) + 1.2), dpi=120)
    ax.barh([r[0] for r in rows], [r[1] for r in rows], xerr=[r[2] for r in rows], capsize=3, color="#4c72b0")
    ax.set_xlabel("test top-1 error (%)")
    ax.set_xlim(left=min(r[1] for r in rows) * 0.9)
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path

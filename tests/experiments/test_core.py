"""An experiment is one registered object: a toy one is planned, checked, rendered and plotted from what it carries."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from saliency_grafting.experiments import (
    EXPERIMENTS,
    SCALES,
    Cell,
    Experiment,
    cells_for,
    check_claim,
    plan,
    record_path,
    register,
    render,
    run_key,
)
from saliency_grafting.experiments.core import ReportContext
from saliency_grafting.experiments.scales import Scale

TINY = {
    "dataset": "synthetic",
    "per_class": 6,
    "epochs": 2,
    "warmup_epochs": 1,
    "batch_size": 30,
    "model": "convnet_small",
    "model_args": {"width": 4},
}


def _toy_cells(scale: Scale, records: Path | None) -> list[Cell]:
    return [
        Cell(row, str(knob), {**TINY, "mixer": mixer, "lr": 0.01 * knob})
        for row, mixer in (("Vanilla", "none"), ("Mixup", "mixup"))
        for knob in (1, 2, 3)
    ]


def _extra(ctx: ReportContext) -> list[str]:
    return [f"Toy extra: {len(ctx.rows)} rows x {len(ctx.columns)} columns at the {ctx.scale.name} scale.", ""]


def _toy_check(cells: dict) -> str:
    finished = sorted(row for (row, _), values in cells.items() if values.get("top1_error"))
    return f"finished rows {', '.join(dict.fromkeys(finished))}."


@pytest.fixture
def toy() -> Iterator[Experiment]:
    """A line experiment defined at the cpu-small scale only, registered for the test and removed after it."""
    experiment = register(
        Experiment(
            name="toy",
            title="Toy: error against a knob",
            claim="toy claim",
            kind="line",
            x_label="the knob",
            cells={"cpu-small": _toy_cells},
            check=_toy_check,
            extras={"cpu-small": (_extra,)},
        )
    )
    try:
        yield experiment
    finally:
        EXPERIMENTS.pop("toy")


def _write_records(out: Path, name: str, scale: str, seeds: int) -> None:
    for cell, seed, config in plan(name, scale, seeds, None, records=out):
        error = 40.0 - float(cell.column) * (2 if cell.row == "Mixup" else 1) + seed
        record = {
            "key": run_key(config.to_dict()),
            "seed": seed,
            "wall_seconds": 30.0,
            "summary": {"final_top1_error": error, "final_top5_error": error / 4},
            "occlusion_top1_error": {"0": error, "0.125": error + 1, "0.25": error + 2},
        }
        path = record_path(out, config)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record))


def test_a_registered_experiment_is_planned_checked_and_rendered(
    toy: Experiment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import matplotlib.axes

    assert list(EXPERIMENTS)[-1] == "toy" and cells_for("toy", "cpu-small") == _toy_cells(SCALES["cpu-small"], None)
    assert cells_for("toy", "paper") == [] and plan("toy", "cpu", 2, None) == []
    assert len(plan("toy", "cpu-small", 2, None)) == 12
    assert check_claim("toy", {("Vanilla", "1"): {}}) == "no finished runs yet."  # before the experiment's check
    labels: list[str] = []
    original = matplotlib.axes.Axes.set_xlabel
    monkeypatch.setattr(
        matplotlib.axes.Axes,
        "set_xlabel",
        lambda ax, label, *a, **k: labels.append(label) or original(ax, label, *a, **k),
    )
    _write_records(tmp_path, "toy", "cpu-small", 2)
    text = render("toy", "cpu-small", 2, tmp_path, plot_dir=tmp_path / "plots")
    assert text.startswith("### Toy: error against a knob\n")
    assert "| method | 1 | 2 | 3 |" in text and "| Mixup | 38.50 ± 0.50 | 36.50 ± 0.50 | 34.50 ± 0.50 |" in text
    assert "12 of 12 distinct runs finished" in text
    assert "Check of the claim (toy claim): finished rows Mixup, Vanilla." in text
    assert "Toy extra: 2 rows x 3 columns at the cpu-small scale." in text
    assert (tmp_path / "plots" / "toy.png").exists() and "![Toy: error against a knob](toy.png)" in text
    assert labels == ["the knob"]
    assert render("toy", "paper", 2, tmp_path) == "### Toy: error against a knob\n\nNot defined at the paper scale.\n"


def test_without_finished_runs_nothing_is_plotted(toy: Experiment, tmp_path: Path) -> None:
    text = render("toy", "cpu-small", 2, tmp_path, plot_dir=tmp_path)
    assert "0 of 12 distinct runs finished" in text and "no finished runs yet." in text
    assert not list(tmp_path.glob("*.png"))


def test_registration_rejects_bad_experiments(toy: Experiment) -> None:
    with pytest.raises(ValueError, match="already registered"):
        register(toy)
    with pytest.raises(TypeError, match="must be an Experiment"):
        register({"name": "dict"})  # type: ignore[arg-type]
    common = {"name": "bad", "title": "t", "claim": "c", "check": _toy_check}
    with pytest.raises(ValueError, match="kind must be"):
        Experiment(**common, kind="bar", cells={})
    with pytest.raises(ValueError, match="keyed by family"):
        Experiment(**common, kind="table", cells={"gpu": _toy_cells})
    with pytest.raises(ValueError, match="keyed by family"):
        Experiment(**common, kind="table", cells={}, extras={"tpu": ()})
    with pytest.raises(ValueError, match="x_label"):
        Experiment(**common, kind="line", cells={})
    with pytest.raises(ValueError, match="min_seeds is keyed by family"):
        Experiment(**common, kind="table", cells={}, min_seeds={"gpu": 5})
    with pytest.raises(ValueError, match=r"min_seeds: expected an int >= 1 per family, got \{'cpu': 0\}"):
        Experiment(**common, kind="table", cells={}, min_seeds={"cpu": 0})
    with pytest.raises(TypeError):
        Experiment("bad", "t", "c", "table", {}, _toy_check)  # type: ignore[misc]  # keyword-only
    assert "bad" not in EXPERIMENTS


def test_min_seeds_raises_the_seeds_of_its_scale_only(toy: Experiment) -> None:
    more = dataclasses.replace(toy, min_seeds={"cpu-small": 3})
    EXPERIMENTS["toy"] = more
    try:
        assert {seed for _, seed, _ in plan("toy", "cpu-small", 2, None)} == {0, 1, 2}
        assert {seed for _, seed, _ in plan("toy", "cpu-small", 4, None)} == {0, 1, 2, 3}  # a minimum, not a cap
        assert len(plan("toy", "cpu-small", 1, None)) == 3 * len(_toy_cells(SCALES["cpu-small"], None))
    finally:
        EXPERIMENTS["toy"] = toy
    assert {seed for _, seed, _ in plan("toy", "cpu-small", 2, None)} == {0, 1}


def test_cells_for_rejects_unknown_names_and_scales() -> None:
    with pytest.raises(ValueError, match="unknown experiment 'toy'; valid names: table1"):
        cells_for("toy", "cpu")
    with pytest.raises(ValueError, match="scale must be one of paper, cpu, cpu-small, cpu-tiny, cpu-speech"):
        cells_for("table1", "tpu")


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("name", [name for name in EXPERIMENTS if name != "toy"])
def test_every_claim_check_reads_one_finished_seed_per_cell(name: str, scale: str) -> None:
    cells = {
        (c.row, c.column): {
            "top1_error": [30.0 + i],
            "seed": [0],
            "wall_seconds": [60.0],
            **{f"occluded_{f}": [40.0 + i] for f in ("0", "0.125", "0.25")},
        }
        for i, c in enumerate(cells_for(name, scale))
    }
    if cells:
        text = check_claim(name, cells)
        assert text.endswith(".") and "no finished runs" not in text

"""Scales as registered objects: epochs follow from the step budget, cells are functions of the scale."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saliency_grafting.experiments import cells_for, plan
from saliency_grafting.experiments.scales import SCALES, Scale, get_scale, register_scale


def test_the_cpu_budget_gives_the_measured_epochs() -> None:
    cpu = SCALES["cpu"]
    assert {size: cpu.epochs(size) for size in cpu.sizes} == {50: 280, 100: 120, 250: 66}
    assert cpu.epochs(250, longer=False) == 44


@given(per_class=st.integers(1, 500), classes=st.integers(1, 200), steps=st.integers(1, 5000))
def test_epochs_make_the_step_budget(per_class: int, classes: int, steps: int) -> None:
    scale = dataclasses.replace(SCALES["cpu"], num_classes=classes, steps=steps, longer={})
    per_epoch = max(1, per_class * classes // 128)  # drop-last batches of 128
    epochs = scale.epochs(per_class)
    if steps >= per_epoch:  # the closest whole number of epochs to the budget
        assert abs(epochs * per_epoch - steps) <= per_epoch / 2
    else:  # a budget below one epoch still trains one
        assert epochs == 1


def test_every_cpu_scale_builds_the_cpu_experiments_on_its_own_data() -> None:
    for name in ("cpu-tiny", "cpu-speech"):
        scale = SCALES[name]
        runs = plan("table3", name, 1, "/data")
        assert {config.dataset for _, _, config in runs} == {scale.dataset}
        assert {config.per_class for _, _, config in runs} == {scale.main_size}
        vanilla = {c.protocol: config.epochs for c, _, config in runs if c.row == "Vanilla"}
        assert vanilla == {"paper": scale.epochs(scale.main_size), "same compute": 2 * scale.epochs(scale.main_size)}
        sizes = {cell.size for cell in cells_for("table5", name)}
        assert sizes == set(scale.sizes) and all(cell.protocol for cell in cells_for("table5", name))
        tune = cells_for("tune", name)
        assert {cell.config["val_per_class"] for cell in tune} == {scale.val_per_class}


def test_scales_are_checked_and_registered_once() -> None:
    with pytest.raises(ValueError, match="family must be one of paper, cpu, cpu-small"):
        Scale(name="x", family="gpu", dataset="synthetic", description="")
    with pytest.raises(ValueError, match="a cpu scale needs sizes holding main_size"):
        Scale(name="x", family="cpu", dataset="synthetic", description="", sizes=(10,), main_size=20)
    with pytest.raises(ValueError, match="'cpu' is already registered"):
        register_scale(SCALES["cpu"])
    with pytest.raises(ValueError, match="scale must be one of paper, cpu"):
        get_scale("tpu")
    assert get_scale(SCALES["cpu"]) is SCALES["cpu"]

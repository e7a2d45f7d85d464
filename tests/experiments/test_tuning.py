"""Tuning on a validation split: the tune cells, the selection read from their records, the tuned cells, fastpath."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from saliency_grafting.config import TrainConfig
from saliency_grafting.experiments import cells_for, plan, record_path, run_key
from saliency_grafting.experiments.overfit import protocol_config
from saliency_grafting.experiments.scales import SCALES
from saliency_grafting.experiments.tuning import GRID, TUNED_SEED_OFFSET, select_tuned

CPU = SCALES["cpu"]


def _write(out: Path, config: TrainConfig, error: float) -> None:
    path = record_path(out, config)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"key": run_key(config.to_dict()), "summary": {"final_top1_error": error}}))


def test_tune_cells_are_paper_protocol_runs_on_the_validation_split() -> None:
    cells = cells_for("tune", "cpu")
    assert {c.row for c in cells} == set(GRID) and len(cells) == 7 * len(GRID)
    for cell in cells:
        assert cell.config["val_per_class"] == CPU.val_per_class == 500 and cell.config["per_class"] == 100
        assert cell.seed_offset == 0
    defaults = {c.row: c.config for c in cells if c.column == "default"}
    for method, config in defaults.items():  # the default differs from the paper cell only by the evaluation set
        assert {k: v for k, v in config.items() if k != "val_per_class"} == protocol_config(CPU, method, "paper", 100)
    configs = [json.dumps(c.config, sort_keys=True) for c in cells]
    assert len(set(configs)) == len(configs)  # no configuration is tried twice
    for _, _, config in plan("tune", "cpu", 1, "/data"):  # every configuration builds
        TrainConfig.from_dict(config.to_dict())


def test_selection_takes_the_lowest_mean_validation_error_over_shared_seeds(tmp_path: Path) -> None:
    assert select_tuned(tmp_path) == {}
    # alpha = 4 has finished seed 0 only, so the selection uses seed 0 alone until its seed 1 lands
    errors = {
        ("Mixup", "default"): [40.0, 42.0],
        ("Mixup", "alpha = 0.2"): [39.0, 40.0],
        ("Mixup", "alpha = 4"): [30.0],
    }
    for cell, seed, config in plan("tune", "cpu", 2, None):
        if cell.row == "Mixup":
            values = errors.get((cell.row, cell.column), [41.0, 41.0])
            if seed < len(values):
                _write(tmp_path, config, values[seed])
    chosen = select_tuned(tmp_path)
    assert set(chosen) == {"Mixup"}  # no other method has tune records
    assert chosen["Mixup"]["seeds"] == [0]  # alpha = 4 has finished seed 0 only
    assert chosen["Mixup"]["label"] == "alpha = 4" and chosen["Mixup"]["val_error"] == 30.0
    # with seed 1 of alpha = 4 finished (worse), both seeds are shared: alpha = 0.2 wins on the mean
    for cell, seed, config in plan("tune", "cpu", 2, None):
        if (cell.row, cell.column, seed) == ("Mixup", "alpha = 4", 1):
            _write(tmp_path, config, 60.0)
    chosen = select_tuned(tmp_path)["Mixup"]
    assert chosen["seeds"] == [0, 1] and chosen["label"] == "alpha = 0.2"
    assert chosen["val_error"] == pytest.approx(39.5) and chosen["default_val_error"] == pytest.approx(41.0)
    assert chosen["overrides"] == {"mixer_args": {"alpha": 0.2}}


def test_ties_keep_the_default(tmp_path: Path) -> None:
    for cell, _, config in plan("tune", "cpu", 1, None):
        if cell.row == "CutMix":
            _write(tmp_path, config, 45.0)
    assert select_tuned(tmp_path)["CutMix"]["label"] == "default"


def test_tuned_cells_run_default_and_selection_on_fresh_test_seeds(tmp_path: Path) -> None:
    bare = cells_for("tuned", "cpu", records=tmp_path)
    assert [c.column for c in bare] == ["default"] * 5 and bare == cells_for("tuned", "cpu")
    for cell, _, config in plan("tune", "cpu", 1, None):
        if cell.row == "Saliency Grafting":
            _write(tmp_path, config, 30.0 if cell.column == "T = 1" else 35.0)
    cells = {(c.row, c.column): c for c in cells_for("tuned", "cpu", records=tmp_path)}
    tuned = cells[("Saliency Grafting", "tuned")].config
    assert tuned["mixer_args"] == {"temperature": 1.0} and "val_per_class" not in tuned  # the test set
    assert ("Mixup", "tuned") not in cells and ("Vanilla", "default") in cells
    runs = plan("tuned", "cpu", 3, "/data", records=tmp_path)
    assert {seed for _, seed, _ in runs} == {TUNED_SEED_OFFSET, TUNED_SEED_OFFSET + 1, TUNED_SEED_OFFSET + 2}
    assert all(config.val_per_class is None for _, _, config in runs)
    # the defaults are Table 5's 100 · paper runs at those seeds
    table5 = {run_key(c.to_dict()) for _, _, c in plan("table5", "cpu", 6, "/data")}
    defaults = {run_key(c.to_dict()) for cell, _, c in runs if cell.column == "default"}
    assert defaults <= table5


def test_fastpath_pairs_the_bf16_cell_with_fp32() -> None:
    fast, slow = cells_for("fastpath", "cpu")
    assert (fast.config["amp"], fast.config["channels_last"]) == ("bf16", True)
    assert (slow.config["amp"], slow.config["channels_last"]) == ("none", False)
    assert {k: v for k, v in slow.config.items() if k not in ("amp", "channels_last")} == {
        k: v for k, v in fast.config.items() if k not in ("amp", "channels_last")
    }
    table5 = {run_key(c.to_dict()) for _, _, c in plan("table5", "cpu", 3, "/data")}
    keys = [run_key(c.to_dict()) for _, _, c in plan("fastpath", "cpu", 3, "/data")]
    assert keys[0] in table5 and keys[1] not in table5  # the bf16 runs are Table 5's, the fp32 ones new

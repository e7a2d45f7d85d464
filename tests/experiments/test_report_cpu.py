"""The cpu scale's report: verdicts by protocol, compute per cell, curves, plots and tuning, from fake records."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from saliency_grafting.config import TrainConfig
from saliency_grafting.experiments import plan, record_path, render, run_key
from saliency_grafting.experiments.overfit import epoch_passes, passes_per_step, protocol_config
from saliency_grafting.experiments.report import check_claim
from saliency_grafting.experiments.report_cpu import budget_winners, mean_curve, protocol_verdicts
from saliency_grafting.experiments.scales import SCALES

SG = "Saliency Grafting"
CPU = SCALES["cpu"]


def _write(out: Path, config: TrainConfig, error: float, *, train: float | None = None, curve: list | None = None):
    record = {
        "key": run_key(config.to_dict()),
        "seed": config.seed,
        "wall_seconds": 60.0 * (1 + config.seed),
        "summary": {"final_top1_error": error, "final_top5_error": error / 5, "final_train_top1_error": train},
        "occlusion_top1_error": {"0": error, "0.125": error + 5, "0.25": error + 10},
        "curve": curve or [],
    }
    path = record_path(out, config)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))


def _fill(out: Path, name: str, seeds: int, error: Callable[[str, str, int], float | None]) -> None:
    for cell, seed, config in plan(name, "cpu", seeds, None, records=out):
        value = error(cell.row, cell.column, seed)
        if value is not None:
            _write(out, config, value, train=0.5 if config.mixer == "none" else None)


def _table(ranking: dict[str, list[str]]) -> tuple[dict[tuple[str, str], dict[str, list[float]]], dict[str, Any]]:
    """Cells whose mean errors follow ``ranking[column]`` (best first), and each column's (size, protocol)."""
    cells = {
        (row, column): {"top1_error": [30.0 + i, 31.0 + i]}
        for column, rows in ranking.items()
        for i, row in enumerate(rows)
    }
    typed = {column: (int(column.split(" · ")[0]), column.split(" · ")[1]) for column in ranking}  # test fixture
    return cells, typed


def test_verdicts_by_protocol() -> None:
    best, second = [SG, "Mixup"], ["Mixup", SG]
    fair = _table({"100 · paper": best, "100 · same objective": best, "100 · same compute": best})
    assert protocol_verdicts(*fair) == (
        "100 per class: holds fairly (SG ranks paper 1 of 2, same objective 1 of 2, same compute 1 of 2)."
    )
    paper_only = _table(
        {
            "50 · paper": second,
            "100 · paper": best,
            "100 · same objective": second,
            "100 · same compute": best,
            "250 · paper": best,
        }
    )
    verdicts = protocol_verdicts(*paper_only).split("; ")
    assert verdicts[0] == "50 per class: does not hold (SG ranks paper 2 of 2)"
    assert verdicts[1].startswith("100 per class: holds under the paper protocol only")
    assert verdicts[2] == "250 per class: holds (paper protocol only run) (SG ranks paper 1 of 2)."
    partial = _table({"100 · paper": best, "100 · same compute": best})
    assert "holds (paper protocol only run so far)" in protocol_verdicts(*partial)
    assert protocol_verdicts(*_table({"100 · paper": ["Mixup"]})) == "no finished SG runs yet."


def test_lowest_error_by_time_budget() -> None:
    means = {"Vanilla": [(10.0, 60.0), (20.0, 50.0), (30.0, 48.0)], SG: [(25.0, 55.0), (50.0, 40.0)]}
    # up to 30 s Vanilla is lowest (at 25 s its 50 % beats SG's 55 %); at 50 s SG's 40 % beats Vanilla's 48 %
    assert budget_winners(means) == (
        "lowest mean test error by training-time budget: 10-30 s: Vanilla (48.00 %); 50 s: Saliency Grafting (40.00 %)."
    )
    assert budget_winners({}) == "no curves yet."


def test_mean_curve_aligns_evaluations_and_drops_unfinished_ones() -> None:
    runs = [
        [{"train_seconds": 10.0, "top1_error": 50.0}, {"train_seconds": 20.0, "top1_error": 40.0}],
        [{"train_seconds": 12.0, "top1_error": 54.0}],
    ]
    assert mean_curve(runs) == [(11.0, 52.0)]


def test_passes_count_every_forward_backward_pass() -> None:
    sg, mixup = protocol_config(CPU, SG, "paper", 100), protocol_config(CPU, "Mixup", "paper", 100)
    assert (passes_per_step(sg), passes_per_step(mixup)) == (2, 1)
    assert passes_per_step(protocol_config(CPU, "PuzzleMix", "same objective", 100)) == 3  # clean, gradient, mixed
    assert epoch_passes(sg) == sg["warmup_epochs"] + 2 * (sg["epochs"] - sg["warmup_epochs"])
    same = protocol_config(CPU, "Mixup", "same compute", 100)  # twice the epochs: within a warm-up of SG's passes
    assert abs(epoch_passes(same) - epoch_passes(sg)) <= same["warmup_epochs"]


@pytest.mark.parametrize("mixer", [SG, "saliency_grafting+specaugment", "augmix"])
def test_same_objective_of_a_clean_batch_recipe_is_its_paper_run(mixer: str) -> None:
    # one training, one key: the cell shares the paper cell's record instead of training it again
    same, paper = protocol_config(CPU, mixer, "same objective", 100), protocol_config(CPU, mixer, "paper", 100)
    assert run_key(same) == run_key(paper)


@pytest.mark.parametrize("mixer", ["Mixup", "PuzzleMix", "specaugment+cutmix", "mixup|saliency_grafting"])
def test_same_objective_adds_the_clean_batch_to_a_mixed_only_recipe(mixer: str) -> None:
    paper = protocol_config(CPU, mixer, "paper", 100)
    assert protocol_config(CPU, mixer, "same objective", 100) == {**paper, "objective": "clean+mixed"}


def test_undefined_experiments_say_so(tmp_path: Path) -> None:
    assert render("sweep", "cpu", 3, tmp_path) == (
        "### SG's free hyper-parameters, one at a time around the defaults\n\nNot defined at the cpu scale.\n"
    )
    assert "Not defined at the cpu-small scale." in render("wallclock", "cpu-small", 3, tmp_path)
    assert "Not defined at the paper scale." in render("tuned", "paper", 3, tmp_path)


def test_table5_report_at_cpu_scale(tmp_path: Path) -> None:
    order = {"Vanilla": 50.0, "Mixup": 44.0, "CutMix": 45.0, "PuzzleMix": 46.0, SG: 43.0}
    _fill(
        tmp_path,
        "table5",
        2,
        lambda row, column, seed: order[row] + seed - (4 if "same objective" in column and row == "Mixup" else 0),
    )
    text = render("table5", "cpu", 2, tmp_path, plot_dir=tmp_path)
    assert "42 of 42 distinct runs finished" in text  # 5 methods x 5 columns x 2 seeds; 4 cells per seed share runs
    assert (
        "Verdict by protocol: 50 per class: holds (paper protocol only run) (SG ranks paper 1 of "
        "5); 100 per class: holds under the paper protocol only (SG ranks paper 1 of 5, same objective 2 of 5, "
        "same compute 1 of 5)"
    ) in text
    assert "| Vanilla | 100 · paper | 0.5 | 50.5 | 50.0 | 1 | 120 | 120 | 1.5 |" in text  # gap = test - train
    assert f"| {SG} | 250 · paper | — | 43.5 | — | 2 | 66 | 129 |" in text  # 3 warm-up epochs of one pass
    assert (tmp_path / "table5_cpu.png").exists() and "![error against images per class](table5_cpu.png)" in text


def test_wallclock_report_draws_the_curves(tmp_path: Path) -> None:
    for cell, seed, config in plan("wallclock", "cpu", 2, None):
        fast = cell.row == "Vanilla"
        curve = [
            {"epoch": e, "train_seconds": e * (1.0 if fast else 2.0), "top1_error": 60.0 - e * (1 if fast else 2)}
            for e in (10, 20)
        ]
        _write(tmp_path, config, curve[-1]["top1_error"] + seed, curve=curve)
    text = render("wallclock", "cpu", 2, tmp_path, plot_dir=tmp_path)
    assert "Wall clock: lowest mean test error by training-time budget: 10-20 s: Vanilla (40.00 %); 40 s:" in text
    assert (tmp_path / "wallclock_cpu.png").exists()


def test_tuning_stages_report_the_selection(tmp_path: Path) -> None:
    assert "No selection yet" in render("tuned", "cpu", 2, tmp_path)
    _fill(tmp_path, "tune", 2, lambda row, column, seed: 30.0 if column == "alpha = 2" else 35.0 + seed)
    text = render("tune", "cpu", 2, tmp_path)
    assert f"| {SG} | **alpha = 2** | 30.00 ± 0.00 |" in text and f"| {SG} | default | 35.50 ± 0.50 |" in text
    assert "Validation error (%)" in text
    assert "Mixup: best alpha = 2, -5.50 points vs default (lower, 2 s.e. = 1.00, paired)" in text
    _fill(tmp_path, "tuned", 2, lambda row, column, seed: 37.0 + seed - (2 if column == "tuned" else 0))
    assert {seed for _, seed, _ in plan("tuned", "cpu", 2, None, records=tmp_path)} == {3, 4}
    text = render("tuned", "cpu", 2, tmp_path)
    assert f"- {SG}: selected alpha = 2 on validation (30.00 % vs 35.50 % for the default, seeds 0, 1)." in text
    assert "| Vanilla | 40.50 ± 0.50 | — |" in text
    assert "Mixup: tuned -2.00 points vs default (lower, 2 s.e. = 0.00, paired)" in text


def test_fastpath_check_compares_accuracy_and_speed() -> None:
    cells = {
        ("Vanilla", "bf16 + channels-last"): {
            "top1_error": [45.0, 46.0],
            "seed": [0, 1],
            "wall_seconds": [50.0, 50.0],
            "train_seconds": [40.0, 40.0],
        },
        ("Vanilla", "fp32"): {
            "top1_error": [45.5, 45.5],
            "seed": [0, 1],
            "wall_seconds": [100.0, 100.0],
            "train_seconds": [60.0, 100.0],
        },
    }
    assert check_claim("fastpath", cells) == (
        "bf16 + channels-last +0.00 points vs fp32 (within noise, 2 s.e. = 1.00, paired) over seeds 0, 1; "
        "2.00x faster (training time)."
    )
    assert check_claim("fastpath", {("Vanilla", "fp32"): cells[("Vanilla", "fp32")]}) == "needs both cells."
    # seeds that only one cell has are left out: seed 2's bf16 run (made under other load) is not compared
    cells[("Vanilla", "bf16 + channels-last")] = {
        "top1_error": [45.0, 46.0, 30.0],
        "seed": [0, 1, 2],
        "wall_seconds": [50.0, 50.0, 500.0],
    }
    assert check_claim("fastpath", cells).endswith("over seeds 0, 1; 2.00x faster (wall time).")
    cells[("Vanilla", "fp32")] = {"top1_error": [45.5], "seed": [5], "wall_seconds": [100.0]}
    assert check_claim("fastpath", cells) == "needs both cells at a common seed."


@pytest.mark.parametrize("name", ["table1", "table6", "table7", "fig3", "fig4", "recipe", "fastpath"])
def test_every_cpu_experiment_renders_with_partial_records(tmp_path: Path, name: str) -> None:
    _fill(tmp_path, name, 2, lambda row, column, seed: None if seed else 40.0 + len(row) % 7)
    text = render(name, "cpu", 2, tmp_path, plot_dir=tmp_path)
    assert text.startswith("### ") and "Per cell, overfitting and compute" in text


def test_verdict_asks_only_for_the_experiment_s_protocols(tmp_path: Path) -> None:
    """Table 3 compares the paper and same-compute protocols (no same-objective column): Mixup at SG's sample passes
    beats SG, so the claim holds under the paper protocol only, not "paper protocol only run so far"."""
    order = {"Vanilla": 5, "Mixup": 2, "CutMix": 3, "SaliencyMix": 4, "PuzzleMix": 2.5, SG: 1}
    longer = {"Vanilla", "Mixup"}  # the one-pass methods train twice the epochs; PuzzleMix and SG keep their runs
    _fill(tmp_path, "table3", 2, lambda row, col, seed: 40.0 + order[row] - 3 * ("compute" in col and row in longer))
    text = render("table3", "cpu", 2, tmp_path, plot_dir=tmp_path)
    assert "Verdict by protocol: 100 per class: holds under the paper protocol only (SG ranks paper 1 of 6, " in text
    assert "same compute 2 of 4)." in text


def test_verdicts_judge_columns_of_one_size_on_other_data_apart() -> None:
    """A held-out-speaker column shares the main column's size and protocol, but not its data."""
    cells, typed = _table({"15 · paper": [SG, "Mixup"]})
    cells[("Mixup", "held out")] = {"top1_error": [20.0]}
    cells[(SG, "held out")] = {"top1_error": [25.0]}
    typed["held out"] = (15, "paper")
    verdicts = protocol_verdicts(cells, typed, variants={"held out": "fold 0, split speaker"}).split("; ")
    assert verdicts[0] == "15 per class: holds (paper protocol only run) (SG ranks paper 1 of 2)"
    assert verdicts[1] == "15 per class, fold 0, split speaker: does not hold (SG ranks paper 2 of 2)."


def test_verdicts_ask_only_for_the_scale_s_protocols() -> None:
    both = _table({"15 · paper": [SG, "Mixup"], "15 · same compute": [SG, "Mixup"]})
    assert protocol_verdicts(*both, protocols=("paper", "same compute")).startswith("15 per class: holds fairly")
    assert "paper protocol only run so far" in protocol_verdicts(*both)  # where same objective is a protocol too

"""The paper's experiments as data, the resumable runner and the report, on tiny synthetic cells."""

from __future__ import annotations

from pathlib import Path

import pytest

import saliency_grafting.experiments.report as report_module
import saliency_grafting.experiments.runner as runner_module
from saliency_grafting.experiments import EXPERIMENTS, Cell, cells_for, mean_se, plan, render, run_experiment, run_key
from saliency_grafting.experiments.scales import SCALES
from saliency_grafting.mixing import create_mixer
from saliency_grafting.models import MODELS

UNDEFINED = {
    "paper": {"tune", "tuned", "fastpath", "network", "compare", "speech", "warmup"},
    "cpu": {"sweep", "speech", "wsol"},
    "cpu-tiny": {"sweep", "speech"},
    "cpu-speech": {"sweep", "wsol"},
    "cpu-small": {
        "tune",
        "tuned",
        "fastpath",
        "wallclock",
        "saliency",
        "network",
        "compare",
        "wsol",
        "speech",
        "warmup",
    },
}


@pytest.mark.parametrize("scale", list(UNDEFINED))
@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_every_cell_is_a_valid_run(name: str, scale: str) -> None:
    runs = plan(name, scale, 2, "/data")
    assert bool(runs) != (name in UNDEFINED[scale])
    offset = 3 if name in ("tuned", "compare") else 0  # the stages after tuning run on fresh seeds
    seeds = max(2, EXPERIMENTS[name].min_seeds.get(SCALES[scale].family, 1))
    assert {seed for _, seed, _ in runs} == set(range(offset, offset + seeds)) or not runs
    for _, _, config in runs:
        assert config.model in MODELS and config.warmup_epochs < config.epochs
        create_mixer(config.mixer, 10, **config.mixer_args)


def test_cpu_small_scale_shares_cells_across_tables() -> None:
    keys = {name: {run_key(c.to_dict()) for _, _, c in plan(name, "cpu-small", 1, "/d")} for name in EXPERIMENTS}
    assert keys["table3"] <= keys["table1"] and keys["table6"] <= keys["table1"]
    assert len(keys["table7"] & keys["table1"]) == 1  # stochastic + saliency labels is plain SG
    paper = [keys[name] for name in EXPERIMENTS if name not in ("sweep", "recipe", "saliency")]
    assert len(set().union(*paper)) == 46
    assert sorted({c.column for c in cells_for("fig3", "cpu-small")}) == ["1", "2", "4", "6"]
    assert len(keys["sweep"] & keys["table1"]) == 1 and len(keys["sweep"]) == 12  # the defaults are plain SG
    assert len(keys["recipe"] & keys["table1"]) == 3 and len(keys["recipe"]) == 6  # each method's own recipe


def test_recipe_swaps_each_methods_objective() -> None:
    cells = {(c.row, c.column): c.config for c in cells_for("recipe", "cpu-small")}
    assert cells[("Saliency Grafting", "mixed only")]["objective"] == "mixed"
    assert cells[("Mixup", "clean + mixed")]["objective"] == "clean+mixed"
    assert "objective" not in cells[("Mixup", "mixed only")]  # "auto" = Mixup's own recipe, Table 1's run


def test_paper_scale_uses_the_papers_settings() -> None:
    table1 = cells_for("table1", "paper")
    assert {c.config["model"] for c in table1} == {"pyramidnet200"} and table1[0].config["epochs"] == 300
    assert {c.config["per_class"] for c in cells_for("table5", "paper")} == {50, 100, 250}
    assert sorted({c.column for c in cells_for("fig3", "paper")}) == [str(k) for k in range(1, 7)]
    with pytest.raises(ValueError, match="valid names"):
        cells_for("table9", "cpu")
    with pytest.raises(ValueError, match="valid names"):
        cells_for("table9", "cpu-small")
    with pytest.raises(ValueError, match="scale"):
        cells_for("table1", "gpu")


def test_run_key_ignores_paths_and_verbosity() -> None:
    base = {"model": "m", "seed": 1, "out": "a", "quiet": True}
    assert run_key(base) == run_key({**base, "out": "b", "quiet": False}) != run_key({**base, "seed": 2})


def test_mean_and_standard_error() -> None:
    assert mean_se([1.0, 2.0, 3.0]) == pytest.approx((2.0, 1 / 3**0.5))
    assert mean_se([4.0]) == (4.0, 0.0)


def test_runner_skips_finished_runs_and_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tiny = {
        "dataset": "synthetic",
        "per_class": 6,
        "epochs": 2,
        "warmup_epochs": 1,
        "batch_size": 30,
        "model": "convnet_small",
        "model_args": {"width": 4},
    }

    def fake_cells(name: str, scale: str, *, records: Path | None = None) -> list[Cell]:
        return [
            Cell("Vanilla", "1", {**tiny, "mixer": "none"}),
            Cell("Saliency Grafting", "1", {**tiny}),
            Cell("Saliency Grafting", "2", {**tiny, "mix_times": 2}),
        ]

    monkeypatch.setattr(runner_module, "cells_for", fake_cells)
    lines: list[str] = []
    records = run_experiment("fig3", "cpu-small", 2, tmp_path, None, log=lines.append)
    assert len(records) == 6 and len(list((tmp_path / "records").glob("*.json"))) == 6
    assert all(set(r["occlusion_top1_error"]) == {"0", "0.125", "0.25"} for r in records)
    assert records[0]["git_commit"] and records[0]["config"]["seed"] == 0
    again = run_experiment("fig3", "cpu-small", 2, tmp_path, None, log=lines.append)
    assert [r["key"] for r in again] == [r["key"] for r in records]
    assert sum("done before" in line for line in lines) == 6
    monkeypatch.setattr(report_module, "plan", runner_module.plan)
    text = render("fig3", "cpu-small", 2, tmp_path, plot_dir=tmp_path)
    assert "| Saliency Grafting |" in text and "6 of 6 distinct runs finished" in text and "±" in text
    assert (tmp_path / "fig3.png").exists()


def test_claim_checks_read_the_means() -> None:
    from saliency_grafting.experiments.report import check_claim

    table = {("Vanilla", ""): {"top1_error": [30.0, 32.0]}, ("Saliency Grafting", ""): {"top1_error": [28.0, 29.0]}}
    # means 28.5 (s.e. 0.5) and 31 (s.e. 1): the gap of 2.5 exceeds 2 * sqrt(0.5² + 1²) = 2.236
    assert check_claim("table2", table) == (
        "SG ranks 1 of 2; -2.50 points vs Vanilla (lower, 2 s.e. = 2.24, unpaired)."
    )
    table[("Vanilla", "")] = {"top1_error": [28.0, 31.0]}  # 29.5 ± 1.5: a gap of 1 is within 2 * 1.58
    assert check_claim("table2", table) == (
        "SG ranks 1 of 2; -1.00 points vs Vanilla (within noise, 2 s.e. = 3.16, unpaired)."
    )
    # the same values, paired by seed: differences 0 and -2, mean -1, s.e. 1, so 2 s.e. = 2: still within noise
    table[("Vanilla", "")]["seed"] = table[("Saliency Grafting", "")]["seed"] = [0, 1]
    assert check_claim("table2", table).endswith("(within noise, 2 s.e. = 2.00, paired).")
    table[("Vanilla", "")] = {"top1_error": [29.0, 30.1], "seed": [0, 1]}  # differences -1, -1.1: s.e. 0.05
    assert check_claim("table2", table).endswith("-1.05 points vs Vanilla (lower, 2 s.e. = 0.10, paired).")
    table[("CutMix", "")] = {"top1_error": [20.0]}
    assert check_claim("table2", table) == ("SG ranks 2 of 3; +8.50 points vs CutMix (no test: fewer than 2 seeds).")
    lines = {("Saliency Grafting", str(k)): {"top1_error": [40.0 - k]} for k in range(1, 4)}
    lines.update({("PuzzleMix", str(k)): {"top1_error": [35.0]} for k in range(1, 4)})
    assert check_claim("fig3", lines) == (
        "least-squares slope of the mean error, Saliency Grafting: -1.00 points per unit; "
        "PuzzleMix: +0.00 points per unit."
    )
    assert check_claim("table1", {("Vanilla", ""): {"top1_error": [3.0]}}) == "SG has no finished runs yet."
    assert check_claim("table1", {("Vanilla", ""): {}}) == "no finished runs yet."


def test_recipe_check_compares_each_methods_objectives() -> None:
    from saliency_grafting.experiments.report import check_claim

    cells = {
        ("Mixup", "clean + mixed"): {"top1_error": [30.0, 31.0], "seed": [0, 1]},
        ("Mixup", "mixed only"): {"top1_error": [33.0, 34.0], "seed": [0, 1]},
        ("CutMix", "clean + mixed"): {},
        ("CutMix", "mixed only"): {"top1_error": [36.0, 36.0], "seed": [0, 1]},
    }
    assert check_claim("recipe", cells) == (
        "clean + mixed: best Mixup; mixed only: best Mixup, -2.50 points vs CutMix (lower, 2 s.e. = 1.00, paired); "
        "Mixup: clean + mixed -3.00 points vs mixed only (lower, 2 s.e. = 0.00, paired)."
    )


def test_setting_names_what_the_cells_share() -> None:
    from saliency_grafting.experiments.report import setting

    assert setting("table5", "cpu-small") == (
        "Setting (cpu-small scale): resnet_tiny on imagefolder, (varies) images per class, (varies) epochs "
        "(2 warm-up), batch 128."
    )
    assert setting("table7", "paper").startswith("Setting (paper scale): (varies) on cifar100, full training set")
    paper = setting("table1", "paper")
    assert "pyramidnet200 on cifar100, full training set, 300 epochs (5 warm-up), batch 64" in paper

"""The ``warmup`` experiment: the clean warm-up caveats of Table 5, on runs shared with Table 5, tune and tuned."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from saliency_grafting.experiments import plan, run_key
from saliency_grafting.experiments.core import cells_for
from saliency_grafting.experiments.runner import record_path, resolve
from saliency_grafting.experiments.scales import SCALES
from saliency_grafting.experiments.warmup import _check, longer_warmup

SG = "Saliency Grafting"


def _keys(name: str, records: Path | None = None, **where: str) -> dict[tuple[str, str, int], str]:
    return {
        (cell.row, cell.column, seed): run_key(config.to_dict())
        for cell, seed, config in plan(name, "cpu", 3, "/data", records=records)
        if all(getattr(cell, k) == v for k, v in where.items())
    }


def test_the_defaults_are_the_runs_table5_tune_and_tuned_already_have() -> None:
    ours = _keys("warmup")
    table5 = set(_keys("table5").values())
    for method in ("Mixup", "CutMix", "PuzzleMix", SG):
        assert {ours[method, "250 · paper", s] for s in range(3)} <= table5
    tune = _keys("tune", row=SG, column="default")
    assert {ours[SG, "100 · warm-up 5 % (validation)", s] for s in range(3)} == set(tune.values())
    configs = {(c.row, c.column): cfg for c, s, cfg in plan("warmup", "cpu", 1, "/data")}
    assert all(configs[m, "250 · warm-up 0"].warmup_epochs == 0 for m in ("Mixup", "CutMix", "PuzzleMix"))
    assert configs[m := (SG, "100 · warm-up 5 % (validation)")].warmup_epochs == 6 and configs[m].val_per_class
    assert [configs[SG, f"100 · warm-up {p} % (validation)"].warmup_epochs for p in (10, 20)] == [12, 24]


def _write(out: Path, cell, seed: int, error: float) -> None:
    path = record_path(out, resolve(SCALES["cpu"], cell.config, seed, None))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"summary": {"final_top1_error": error}}))


@pytest.mark.parametrize(
    ("errors", "chosen"),
    [((40.0, 41.0, 39.0), 0.2), ((40.0, 39.5, 41.0), 0.1), ((40.0, 40.0, 40.0), None), ((39.0, 40.0, 41.0), None)],
)
def test_a_longer_warmup_runs_on_fresh_seeds_only_when_it_wins_on_validation(
    tmp_path: Path, errors: tuple[float, float, float], chosen: float | None
) -> None:
    scale = SCALES["cpu"]
    validation = [c for c in cells_for("warmup", scale) if c.column.endswith("(validation)")]
    assert longer_warmup(scale, tmp_path) is None  # nothing finished
    for seed in range(2):
        for cell, error in zip(validation, errors, strict=True):
            _write(tmp_path, cell, seed, error + seed)
    _write(tmp_path, validation[1], 2, 0.0)
    assert longer_warmup(scale, tmp_path) is None  # not before every cell has finished seeds 0-2
    for cell, error in zip(validation, errors, strict=True):
        _write(tmp_path, cell, 2, error + 2)
    assert longer_warmup(scale, tmp_path) == chosen
    fresh = {(c.row, c.column): s for c, s, _ in plan("warmup", "cpu", 1, "/data", records=tmp_path) if s >= 3}
    if chosen is None:
        assert not fresh
    else:
        label = f"100 · warm-up {round(100 * chosen)} % (fresh seeds)"
        assert set(fresh) == {(SG, "100 · warm-up 5 % (fresh seeds)"), (SG, label)}
        tuned = _keys("tuned", row=SG, column="default")
        ours = _keys("warmup", records=tmp_path, column="100 · warm-up 5 % (fresh seeds)")
        assert set(ours.values()) == set(tuned.values())  # SG's default on fresh seeds is tuned's run


def test_the_check_reads_each_pair_paired_by_seed() -> None:
    seeds = [0, 1, 2]
    cells = {
        ("Mixup", "250 · paper"): {"top1_error": [33.0, 33.2, 33.1], "seed": seeds},
        ("Mixup", "250 · warm-up 0"): {"top1_error": [31.0, 31.4, 31.1], "seed": seeds},
        (SG, "250 · paper"): {"top1_error": [32.2, 32.3, 32.1], "seed": seeds},
        (SG, "100 · warm-up 5 % (validation)"): {"top1_error": [45.0, 46.0, 45.5], "seed": seeds},
        (SG, "100 · warm-up 10 % (validation)"): {"top1_error": [45.0, 46.0, 45.6], "seed": seeds},
    }
    text = _check(cells)
    assert "Mixup warm-up 0 -1.93 points vs default (lower" in text
    assert "SG +1.03 points vs Mixup at warm-up 0 (higher" in text
    assert "SG warm-up 10 % (validation) +0.03 points vs warm-up 5 % (within noise" in text
    assert _check({}) == "no pair of cells has finished runs yet."

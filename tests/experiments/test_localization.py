"""The ``wsol`` experiment's claim check: SG's rank by MaxBoxAccV2 (higher is better), paired by seed."""

from __future__ import annotations

from saliency_grafting.experiments import check_claim

SG = "Saliency Grafting"


def _cell(error: list[float], cam: list[float], forward: list[float]) -> dict[str, list[float]]:
    seeds = [float(s) for s in range(len(error))]
    return {
        "top1_error": error,
        "seed": seeds,
        "loc_cam_max_box_acc_v2": cam,
        "loc_forward_max_box_acc_v2": forward,
        "loc_seed": seeds,
    }


def test_sg_ranks_by_box_accuracy_higher_first() -> None:
    cells = {
        ("Vanilla", "50 · paper"): _cell([64.0, 64.5], [54.0, 55.0], [56.0, 56.5]),
        ("Mixup", "50 · paper"): _cell([62.0, 62.5], [55.0, 55.5], [55.0, 55.0]),
        (SG, "50 · paper"): _cell([60.0, 60.5], [57.0, 58.0], [54.0, 54.2]),
    }
    text = check_claim("wsol", cells)
    assert text.startswith("CAM MaxBoxAccV2: SG ranks 1 of 3 (57.50 %), +2.25 points vs Mixup")
    assert "forward saliency MaxBoxAccV2: SG ranks 3 of 3 (54.10 %), -2.15 points vs Vanilla" in text


def test_a_missing_sg_measurement_is_not_called_no_measurement() -> None:
    cells = {
        ("Vanilla", "50 · paper"): _cell([64.0], [54.0], [56.0]),
        (SG, "50 · paper"): {"top1_error": [60.0], "seed": [0.0]},
    }
    assert check_claim("wsol", cells).startswith("SG's networks have no localization measured yet")
    cells = {(SG, "50 · paper"): {"top1_error": [60.0], "seed": [0.0]}}
    assert check_claim("wsol", cells).startswith("no localization measured yet")

"""WSOL: IoU of boxes, components of a thresholded map, CAMs, and the scores with thresholds chosen on held-out data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from saliency_grafting.engine.localize import (
    THRESHOLDS,
    LocalizationIoU,
    _ious,
    box_iou,
    component_boxes,
    localization_maps,
    pooled_features,
    scores,
)
from saliency_grafting.models import create_model

coords = st.integers(0, 15)


def _mask(box: tuple[int, int, int, int]) -> torch.Tensor:
    mask = torch.zeros(16, 16, dtype=torch.bool)
    mask[box[1] : box[3] + 1, box[0] : box[2] + 1] = True
    return mask


@given(coords, coords, coords, coords, coords, coords, coords, coords)
def test_box_iou_is_the_iou_of_the_pixels(a0: int, a1: int, a2: int, a3: int, b0: int, b1: int, b2: int, b3: int):
    a = (min(a0, a2), min(a1, a3), max(a0, a2), max(a1, a3))
    b = (min(b0, b2), min(b1, b3), max(b0, b2), max(b1, b3))
    ma, mb = _mask(a), _mask(b)
    expected = (ma & mb).sum() / (ma | mb).sum()  # independent: count the pixels
    iou = box_iou(torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32))
    assert float(iou) == pytest.approx(float(expected)) and float(iou) == pytest.approx(
        float(box_iou(torch.tensor(b, dtype=torch.float32), torch.tensor(a, dtype=torch.float32)))
    )


def test_components_come_largest_first_with_their_boxes() -> None:
    mask = _mask((1, 1, 3, 2)) | _mask((8, 5, 12, 10)) | _mask((15, 15, 15, 15))
    boxes = component_boxes(mask)
    assert boxes.tolist() == [[8, 5, 12, 10], [1, 1, 3, 2], [15, 15, 15, 15]]
    assert component_boxes(torch.zeros(4, 4, dtype=torch.bool)).shape == (0, 4)
    diagonal = torch.eye(4, dtype=torch.bool)  # 8-connected: one component
    assert component_boxes(diagonal).tolist() == [[0, 0, 3, 3]]


def _maps(boxes: torch.Tensor, *, away: bool = False) -> torch.Tensor:
    """Maps that are 1 on each box (or, ``away``, on a patch in the opposite corner) and 0 elsewhere."""
    maps = torch.zeros(len(boxes), 32, 32)
    for m, box in zip(maps, boxes.long().tolist(), strict=True):
        if away:
            m[28:, 28:] = 1
        else:
            m[box[1] : box[3] + 1, box[0] : box[2] + 1] = 1
    return maps


def test_a_map_on_the_box_scores_100_and_a_map_away_from_it_0() -> None:
    boxes = torch.tensor([[2.0, 3.0, 12.0, 15.0], [5.0, 1.0, 20.0, 9.0], [0.0, 0.0, 10.0, 10.0]])
    exact = LocalizationIoU(*_ious(_maps(boxes), boxes, THRESHOLDS), torch.tensor([True, True, False]))
    away = LocalizationIoU(*_ious(_maps(boxes, away=True), boxes, THRESHOLDS), torch.ones(3, dtype=torch.bool))
    assert torch.all(exact.largest[:, 1:] == 1)  # any threshold above 0 keeps the box exactly
    held = {"cam": exact, "cam_top1": exact, "forward": exact}
    on = scores(held, held)
    assert on["cam"]["gt_known_loc"] == on["cam"]["max_box_acc_v2"] == 100.0
    assert on["cam"]["top1_loc"] == pytest.approx(200 / 3)  # one image of three is misclassified
    assert on["forward"]["threshold"] > 0
    off = scores(held, {"cam": away, "cam_top1": away, "forward": away})
    assert off["cam"]["gt_known_loc"] == off["cam"]["max_box_acc_v2"] == off["forward"]["top1_loc"] == 0.0


def test_the_threshold_is_chosen_on_the_held_out_images_only() -> None:
    boxes = torch.tensor([[2.0, 3.0, 12.0, 15.0]])
    exact = LocalizationIoU(*_ious(_maps(boxes), boxes, THRESHOLDS), torch.ones(1, dtype=torch.bool))
    whole = LocalizationIoU(torch.zeros(1, 100), torch.zeros(1, 100), torch.ones(1, dtype=torch.bool))
    whole.largest[0, 0] = whole.best[0, 0] = 1.0  # only tau = 0 localizes on the held-out images
    held = {"cam": whole, "cam_top1": whole, "forward": whole}
    result = scores(held, {"cam": exact, "cam_top1": exact, "forward": exact})
    assert result["cam"]["threshold"] == 0.0  # chosen where the held-out images localize ...
    assert result["cam"]["gt_known_loc"] < 100  # ... and not where the test images would have


def test_cams_average_to_the_logits() -> None:
    """Global pooling then a linear layer: the mean of a class's CAM plus its bias is its logit."""
    model = create_model("preactresnet18", 7, widths=(8, 8, 8, 8)).eval()
    images = torch.randn(3, 3, 32, 32)
    logits, features, weights = pooled_features(model, images)
    cams = torch.einsum("bkhw,ck->bchw", features, weights)
    assert torch.allclose(cams.mean(dim=(2, 3)) + model.fc.bias, logits, atol=1e-5)
    predicted, maps = localization_maps(model, images, torch.tensor([0, 1, 2]))
    assert torch.equal(predicted, logits.argmax(1))
    for found in maps.values():
        assert found.shape == (3, 32, 32) and found.min() >= 0 and found.max() <= 1
    with pytest.raises(ValueError, match="localization needs a network ending in global pooling"):
        pooled_features(torch.nn.Sequential(torch.nn.Flatten()), images)


def test_sgraft_localize_on_a_run_with_boxes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from saliency_grafting.cli import main
    from tests.data.test_sources import tiny_folder

    root = tiny_folder(tmp_path / "tiny", per_class=8, val_per_class=2)
    run = tmp_path / "run"
    main(
        [
            "train",
            "--dataset",
            "tinyimagenet",
            "--data-dir",
            str(root),
            "--per-class",
            "4",
            "--model",
            "preactresnet18",
            "--model-arg",
            "widths=[4,4,4,4]",
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--mixer",
            "none",
            "--quiet",
            "--out",
            str(run),
        ]
    )
    capsys.readouterr()
    main(["localize", "--run", str(run), "--held-out", "2", "--count", "3"])
    report = json.loads((run / "localize.json").read_text())
    assert set(report) == {"cam", "forward", "held_out_per_class"}
    assert set(report["cam"]) == {"gt_known_loc", "top1_loc", "max_box_acc_v2", "threshold"}
    assert (run / "localize.png").exists()
    with pytest.raises(SystemExit):
        main(["localize", "--run", str(run), "--held-out", "9"])  # 8 per class: 4 trained, 4 left
    assert "--held-out: held_out 9: val_per_class 9: class 0 has only 4 unused" in capsys.readouterr().err

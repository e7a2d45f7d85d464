"""Model registry: the paper's parameter counts, forward shapes, timm names and bad names."""

from __future__ import annotations

import pytest
import torch

from saliency_grafting.models import MODELS, create_model


def count(model: torch.nn.Module) -> float:
    return sum(p.numel() for p in model.parameters()) / 1e6


@pytest.mark.parametrize(
    ("name", "classes", "millions"),
    [("wrn28_10", 100, 36.5), ("pyramidnet200", 100, 26.8), ("resnet50", 1000, 25.6), ("preactresnet18", 200, 11.3)],
)
def test_paper_models_have_the_papers_parameter_counts(name: str, classes: int, millions: float) -> None:
    assert count(create_model(name, classes)) == pytest.approx(millions, abs=0.05)


@pytest.mark.parametrize("name", ["convnet_small", "resnet_small", "preactresnet18"])
@pytest.mark.parametrize("size", [32, 64])
def test_small_and_cifar_models_run_at_32_and_64_px(name: str, size: int) -> None:
    model = create_model(name, 7).eval()
    assert model(torch.randn(2, 3, size, size)).shape == (2, 7)


def test_model_options_and_errors() -> None:
    assert count(create_model("convnet_small", 10)) == pytest.approx(0.073, abs=0.001)
    small_wrn = create_model("wrn28_10", 10, depth=10, width=1)
    assert small_wrn(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    with pytest.raises(ValueError, match="depth must be 6n"):
        create_model("wrn28_10", 10, depth=27)
    with pytest.raises(ValueError, match="depth must be 9n"):
        create_model("pyramidnet200", 10, depth=30)
    with pytest.raises(ValueError, match=r"valid names: .*wrn28_10"):
        create_model("vgg", 10)
    assert "timm:<name>" not in MODELS


def test_timm_models_by_name() -> None:
    pytest.importorskip("timm")
    model = create_model("timm:resnet10t", 5).eval()
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 5)


@pytest.mark.parametrize("name", ["convnet_small", "resnet_tiny", "preactresnet18", "resnet50", "timm:resnet18"])
def test_models_take_one_channel_inputs(name: str) -> None:
    kwargs = {"widths": (8, 8, 8, 8)} if name == "preactresnet18" else {}
    model = create_model(name, 5, in_channels=1, **kwargs).eval()
    size = 64 if name in ("resnet50", "timm:resnet18") else 16
    assert model(torch.randn(2, 1, size, size)).shape == (2, 5)
    with pytest.raises(ValueError, match="in_channels must be an int >= 1, got 0"):
        create_model(name, 5, in_channels=0)

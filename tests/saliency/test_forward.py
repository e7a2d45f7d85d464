"""The forward-saliency hook on the library's, torchvision's and timm's networks."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

import saliency_grafting as sg


class CountingNet(nn.Module):
    """A small CNN that counts its forward passes."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.stage = nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU())
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.head(self.stage(self.stem(x)))


def test_hook_keeps_sum_of_absolute_features_without_extra_passes() -> None:
    net = CountingNet()
    x = torch.randn(4, 3, 16, 16)
    with sg.ForwardSaliency(net) as hook:
        assert hook.layer == "stage"
        logits = net(x)
        expected = net.stage(net.stem(x)).abs().sum(1)
        torch.testing.assert_close(hook.saliency, expected)
        assert hook.saliency.shape == (4, 8, 8) and not hook.saliency.requires_grad
        assert logits.requires_grad
    assert net.calls == 1  # the direct call above does not count: it bypasses forward()
    with pytest.raises(RuntimeError, match="no forward pass"):
        _ = hook.saliency


def test_default_layer_on_torchvision_models() -> None:
    assert sg.find_last_conv_stage(torchvision.models.resnet18(num_classes=10)) == "layer4"
    assert sg.find_last_conv_stage(torchvision.models.vgg11(num_classes=10)) == "features"
    wrapped = nn.Sequential(torchvision.models.resnet18(num_classes=10))
    assert sg.find_last_conv_stage(wrapped) == "0.layer4"
    model = torchvision.models.resnet18(num_classes=10).eval()
    with sg.ForwardSaliency(model) as hook:
        model(torch.randn(2, 3, 64, 64))
        assert hook.saliency.shape == (2, 2, 2)


def test_default_layer_on_timm_models() -> None:
    timm = pytest.importorskip("timm")
    model = timm.create_model("resnet18", pretrained=False, num_classes=10).eval()
    assert sg.find_last_conv_stage(model) == "layer4"
    convnext = timm.create_model("convnext_atto", pretrained=False, num_classes=10).eval()
    with sg.ForwardSaliency(convnext) as hook:
        assert hook.layer == "stages"
        convnext(torch.randn(2, 3, 64, 64))
        assert hook.saliency.shape == (2, 2, 2)


def test_layer_by_name_and_bad_names() -> None:
    net = CountingNet()
    with sg.ForwardSaliency(net, layer="stem") as hook:
        net(torch.randn(1, 3, 8, 8))
        assert hook.saliency.shape == (1, 8, 8)
    with pytest.raises(ValueError, match="'nope' is not a module"):
        sg.ForwardSaliency(net, layer="nope")
    with pytest.raises(ValueError, match=r"no nn\.Conv2d"):
        sg.find_last_conv_stage(nn.Linear(3, 3))
    head = sg.ForwardSaliency(net, layer="head")
    with pytest.raises(ValueError, match=r"\[B, C, h, w\]"):
        net(torch.randn(1, 3, 8, 8))
    head.remove()


def test_hook_feeds_saliency_grafting_in_a_training_step() -> None:
    net = CountingNet()
    mixer = sg.SaliencyGrafting(num_classes=10)
    x, y = torch.randn(6, 3, 16, 16), torch.randint(0, 10, (6,))
    with sg.ForwardSaliency(net) as hook:
        clean = nn.functional.cross_entropy(net(x), y)
        mixed, soft = mixer(x, y, hook.saliency, generator=torch.Generator().manual_seed(0))
        loss = clean + sg.soft_target_cross_entropy(net(mixed), soft)
        loss.backward()
    assert net.calls == 2 and all(p.grad is not None for p in net.parameters())


def test_half_precision_features_give_float32_saliency() -> None:
    net = CountingNet().to(torch.bfloat16)
    with sg.ForwardSaliency(net) as hook:
        net(torch.randn(2, 3, 8, 8, dtype=torch.bfloat16))
        assert hook.saliency.dtype == torch.float32

"""ShakeDrop and DropBlock as model regularisers."""

from __future__ import annotations

import pytest
import torch
from torchvision.ops import DropBlock2d

from saliency_grafting.models import create_model
from saliency_grafting.models.regularizers import ShakeDrop, apply_regularizer


def test_shakedrop_forward_backward_and_expectation() -> None:
    torch.manual_seed(0)
    layer = ShakeDrop(0.5)
    x = torch.ones(1000, 4, requires_grad=True)
    out = layer(x)
    scale = out[:, 0].detach()
    dropped = scale.unique().numel() > 1
    assert dropped or torch.equal(scale, torch.ones(1000))  # b = 0: alpha per sample in [-1, 1]; b = 1: identity
    if dropped:
        assert scale.min() >= -1 and scale.max() <= 1
    out.sum().backward()
    if dropped:
        assert x.grad.min() >= 0 and x.grad.max() <= 1 and x.grad[:, 0].unique().numel() > 1
    layer.eval()
    torch.testing.assert_close(layer(torch.ones(2, 3)), torch.full((2, 3), 0.5))
    # Over many batches the forward scale averages to E[b + alpha - b alpha] = 1 - p.
    layer.train()
    mean = torch.stack([layer(torch.ones(64, 1)).mean() for _ in range(4000)]).mean()
    assert mean.item() == pytest.approx(0.5, abs=0.03)
    with pytest.raises(ValueError, match="p must be in"):
        ShakeDrop(1.5)


@pytest.mark.parametrize("name", ["pyramidnet200", "preactresnet18", "wrn28_10"])
def test_shakedrop_linear_rule_on_residual_branches(name: str) -> None:
    kwargs = {"pyramidnet200": {"depth": 20, "alpha": 12}, "wrn28_10": {"depth": 10, "width": 1}}.get(name, {})
    model = apply_regularizer(create_model(name, 10, **kwargs), "shakedrop")
    drops = [m.p for m in model.modules() if isinstance(m, ShakeDrop)]
    count = len(drops)
    assert count > 0 and drops == pytest.approx([0.5 * (i + 1) / count for i in range(count)])
    model.train()
    model(torch.randn(2, 3, 32, 32)).sum().backward()


def test_dropblock_after_the_last_two_stages() -> None:
    model = apply_regularizer(create_model("preactresnet18", 10), "dropblock", p=0.2, block_size=1)
    assert isinstance(model.layer3[1], DropBlock2d) and isinstance(model.layer4[1], DropBlock2d)
    assert not isinstance(model.layer2[-1], DropBlock2d) and model.layer4[1].p == 0.2
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match="valid names"):
        apply_regularizer(model, "dropout")
    with pytest.raises(ValueError, match="no stages"):
        apply_regularizer(torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1)), "dropblock")
    with pytest.raises(ValueError, match="dropblock"):
        apply_regularizer(create_model("convnet_small", 10), "dropblock", keep=0.9)

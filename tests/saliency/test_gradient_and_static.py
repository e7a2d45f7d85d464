"""Backward saliency (input gradient, Grad-CAM) and static image saliency."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import saliency_grafting as sg


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 5),
    )


def test_input_gradient_saliency_is_rms_over_channels_and_leaves_params_alone() -> None:
    net = small_net()
    x, y = torch.randn(3, 3, 8, 8), torch.tensor([0, 2, 4])
    saliency = sg.input_gradient_saliency(net, x, y)
    assert all(p.grad is None for p in net.parameters())
    xr = x.clone().requires_grad_(True)
    nn.functional.cross_entropy(net(xr), y, reduction="sum").backward()
    torch.testing.assert_close(saliency, xr.grad.pow(2).mean(1).sqrt())
    assert not x.requires_grad


def test_grad_cam_is_relu_of_gradient_weighted_features() -> None:
    net = small_net()
    x, y = torch.randn(2, 3, 8, 8), torch.tensor([1, 3])
    cam = sg.grad_cam(net, x, y, layer="3")
    features = net[:4](x).detach().requires_grad_(True)
    logits = net[4:](features)
    (grad,) = torch.autograd.grad(logits.gather(1, y.view(-1, 1)).sum(), features)
    expected = torch.relu((grad.mean((2, 3), keepdim=True) * features.detach()).sum(1))
    torch.testing.assert_close(cam, expected)
    assert sg.grad_cam(net, x).shape == (2, 8, 8)  # default: predicted class, last conv stage


def blob_images() -> torch.Tensor:
    images = 0.3 * torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    images[:, :, 20:26, 4:10] += 3.0
    return images


def test_spectral_residual_finds_an_object_on_clutter() -> None:
    saliency = sg.spectral_residual_saliency(blob_images())
    assert saliency.shape == (4, 32, 32) and saliency.min() >= 0 and saliency.max() <= 1
    inside = saliency[:, 20:26, 4:10].mean((1, 2))
    outside = saliency.clone()
    outside[:, 20:26, 4:10] = float("nan")
    assert (inside > 3 * outside.flatten(1).nanmean(1)).all()
    with pytest.raises(ValueError, match="scale"):
        sg.spectral_residual_saliency(blob_images(), scale=2)
    with pytest.raises(ValueError, match="method"):
        sg.static_saliency(blob_images(), method="itti")


def test_opencv_fine_grained_on_uint8_converted_images() -> None:
    pytest.importorskip("cv2")
    saliency = sg.static_saliency(blob_images(), method="opencv_fine_grained")
    assert saliency.shape == (4, 32, 32) and saliency.dtype == torch.float32
    assert saliency.min() >= 0 and saliency.max() <= 1
    assert (saliency[:, 20:26, 4:10].mean((1, 2)) > saliency.mean((1, 2))).all()


def test_matrix_filters_equal_convolutions() -> None:
    from torchvision.transforms.v2.functional import gaussian_blur

    from saliency_grafting.saliency.static import _filter2d

    maps = torch.rand(2, 1, 20, 24, generator=torch.Generator().manual_seed(0))
    taps = torch.exp(-0.5 * (torch.arange(-5.0, 6.0) / 3.0) ** 2)
    blurred = _filter2d(maps, taps / taps.sum(), "reflect")
    torch.testing.assert_close(blurred, gaussian_blur(maps, [11, 11], [3.0, 3.0]))
    box = _filter2d(maps, torch.full((3,), 1 / 3), "circular")
    padded = torch.nn.functional.pad(maps, (1, 1, 1, 1), mode="circular")
    torch.testing.assert_close(box, torch.nn.functional.avg_pool2d(padded, 3, stride=1))


def test_input_gradient_can_return_the_raw_gradient() -> None:
    net = small_net()
    x, y = torch.randn(2, 3, 8, 8), torch.tensor([0, 1])
    saliency, gradient = sg.input_gradient_saliency(net, x, y, return_gradient=True)
    assert gradient.shape == x.shape
    torch.testing.assert_close(saliency, gradient.pow(2).mean(1).sqrt())

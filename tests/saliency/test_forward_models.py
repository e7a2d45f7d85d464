"""Forward saliency on real torchvision and timm constructors at 32 px and native size: layer, map, graft.

A representative few per family (batch 2); ``benchmarks/saliency_models.py`` sweeps every torchvision builder and the
listed timm families.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models.swin_transformer import SwinTransformer
from torchvision.models.vision_transformer import VisionTransformer

import saliency_grafting as sg
from saliency_grafting.saliency import FeatureLayer


def tv(name: str, **kwargs: Any) -> Callable[[], nn.Module]:
    return lambda: torchvision.models.get_model(name, num_classes=10, **kwargs)


def tm(name: str, **kwargs: Any) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        timm = pytest.importorskip("timm")
        return timm.create_model(name, pretrained=False, num_classes=10, **kwargs)

    return build


TINY_SWIN = {"embed_dim": 24, "num_heads": (1, 1, 1, 1), "depths": (1, 1, 1, 1)}
CASES: list[tuple[str, Callable[[], nn.Module], int, str, str]] = [
    # id, builder, input side, expected layer, expected layout
    ("tv-resnet18-32", tv("resnet18"), 32, "layer2", "nchw"),
    ("tv-resnet18-224", tv("resnet18"), 224, "layer4", "nchw"),
    ("tv-mobilenet_v3_small-32", tv("mobilenet_v3_small"), 32, "features.3", "nchw"),
    ("tv-mobilenet_v3_small-224", tv("mobilenet_v3_small"), 224, "features", "nchw"),
    ("tv-efficientnet_b0-32", tv("efficientnet_b0"), 32, "features.3", "nchw"),
    ("tv-squeezenet1_1-224", tv("squeezenet1_1"), 224, "features", "nchw"),  # not the class maps in `classifier`
    ("tv-densenet121-32", tv("densenet121"), 32, "features.denseblock2", "nchw"),
    ("tv-googlenet-32", tv("googlenet", init_weights=False), 32, "inception3b", "nchw"),  # not `aux2`
    ("tv-vgg11-32", tv("vgg11"), 32, "features.14", "nchw"),  # a flat Sequential: the ReLU at 4x4
    ("tv-shufflenet_v2_x0_5-224", tv("shufflenet_v2_x0_5"), 224, "conv5", "nchw"),
    ("tv-regnet_x_400mf-32", tv("regnet_x_400mf"), 32, "trunk_output.block2", "nchw"),
    (
        "tv-swin-32",
        lambda: SwinTransformer([4, 4], 24, [1, 1, 1, 1], [1, 1, 1, 1], [4, 4], num_classes=10),
        32,
        "features.3",
        "nhwc",
    ),
    ("tv-vit-32", lambda: VisionTransformer(32, 4, 2, 2, 32, 64, num_classes=10), 32, "encoder.layers", "tokens"),
    ("timm-resnet10t-32", tm("resnet10t"), 32, "layer2", "nchw"),
    ("timm-resnet18-224", tm("resnet18"), 224, "layer4", "nchw"),
    ("timm-efficientnet_b0-32", tm("efficientnet_b0"), 32, "blocks.2", "nchw"),
    ("timm-efficientnet_b0-224", tm("efficientnet_b0"), 224, "blocks", "nchw"),  # not bn2 after conv_head
    ("timm-convnext_atto-32", tm("convnext_atto"), 32, "stages.1", "nchw"),
    ("timm-regnetx_002-32", tm("regnetx_002"), 32, "s2", "nchw"),
    ("timm-mobilenetv3_small_050-224", tm("mobilenetv3_small_050"), 224, "blocks", "nchw"),  # not conv_head
    ("timm-vit_tiny-224", tm("vit_tiny_patch16_224"), 224, "blocks", "tokens"),
    ("timm-vit_tiny-32", tm("vit_tiny_patch16_224", img_size=32, patch_size=4), 32, "blocks", "tokens"),
    (
        "timm-deit_tiny_distilled-32",
        tm("deit_tiny_distilled_patch16_224", img_size=32, patch_size=4),
        32,
        "blocks",
        "tokens",
    ),
    ("timm-swin_tiny-224", tm("swin_tiny_patch4_window7_224", **TINY_SWIN), 224, "layers", "nhwc"),
    (
        "timm-swin_tiny-32",
        tm("swin_tiny_patch4_window7_224", img_size=32, patch_size=2, window_size=4, **TINY_SWIN),
        32,
        "layers.2",
        "nhwc",
    ),
]


def graft_draws(saliency: torch.Tensor, size: int, draws: int = 4) -> list[sg.GraftingParams]:
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(saliency.shape[0], 3, size, size, generator=generator)
    labels = torch.arange(saliency.shape[0])
    mixer = sg.SaliencyGrafting(num_classes=10)
    return [mixer.sample_params(images, labels, saliency, generator=generator) for _ in range(draws)]


@pytest.mark.parametrize(("build", "size", "layer", "layout"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_real_model_gets_a_graftable_map_at_the_expected_layer(
    build: Callable[[], nn.Module], size: int, layer: str, layout: str
) -> None:
    torch.manual_seed(0)
    model = build().train()
    images = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    with sg.ForwardSaliency(model) as hook:
        model(images)
        saliency = hook.saliency
        assert (hook.layer, hook.feature_layer.layout) == (layer, layout)
    assert saliency.dtype == torch.float32 and not saliency.requires_grad
    assert saliency.shape[0] == 2 and min(saliency.shape[1:]) >= 4
    assert torch.isfinite(saliency).all() and (saliency >= 0).all()
    params = graft_draws(saliency, size)
    # Every sample has regions above the mean (the map is not flat) and most grafts are non-empty.
    assert all(p.thresholded.flatten(1).any(1).all() for p in params)
    areas = torch.stack([p.mask.flatten(1).mean(1) for p in params])
    assert (areas > 0).float().mean() >= 0.75


def _output_of(model: nn.Module, name: str, images: torch.Tensor) -> torch.Tensor:
    kept: list[torch.Tensor] = []
    handle = model.get_submodule(name).register_forward_hook(lambda m, i, out: kept.append(out.detach()))
    with torch.no_grad():
        model(images)
    handle.remove()
    return kept[-1]


def test_vit_saliency_is_the_abs_sum_of_the_last_blocks_patch_tokens_without_prefix_tokens() -> None:
    timm = pytest.importorskip("timm")
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=10, reg_tokens=4).eval()
    assert model.num_prefix_tokens == 5  # class + 4 register tokens
    images = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    tokens = _output_of(model, "blocks", images)
    expected = tokens[:, 5:].abs().sum(-1).view(2, 14, 14)
    with sg.ForwardSaliency(model) as hook, torch.no_grad():
        model(images)  # the first pass resolves the layer; its map must already be the right one
        torch.testing.assert_close(hook.saliency, expected)
        model(images.flip(-1))
        torch.testing.assert_close(
            hook.saliency, _output_of(model, "blocks", images.flip(-1))[:, 5:].abs().sum(-1).view(2, 14, 14)
        )
    assert hook.feature_layer == FeatureLayer("blocks", "tokens", (14, 14), 5)


def test_swin_channels_last_stages_are_summed_over_their_last_dimension() -> None:
    timm = pytest.importorskip("timm")
    model = timm.create_model("swin_tiny_patch4_window7_224", pretrained=False, num_classes=10, **TINY_SWIN).eval()
    images = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    features = _output_of(model, "layers", images)
    assert features.shape == (2, 7, 7, 192)  # [B, H, W, C]
    with sg.ForwardSaliency(model) as hook, torch.no_grad():
        model(images)
        torch.testing.assert_close(hook.saliency, features.abs().sum(-1))


def test_torchvision_vit_prefix_is_inferred_from_the_patch_grid() -> None:
    model = VisionTransformer(32, 4, 2, 2, 32, 64, num_classes=10).eval()  # no num_prefix_tokens attribute
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    tokens = _output_of(model, "encoder.layers", images)
    with sg.ForwardSaliency(model) as hook, torch.no_grad():
        model(images)
        torch.testing.assert_close(hook.saliency, tokens[:, 1:].abs().sum(-1).view(2, 8, 8))
    assert hook.feature_layer.prefix_tokens == 1


def test_torchvision_vit_at_32_px_with_16_px_patches_is_too_small() -> None:
    model = VisionTransformer(32, 16, 1, 2, 32, 64, num_classes=10)
    with (
        sg.ForwardSaliency(model),
        pytest.raises(
            ValueError, match=r"min_size=4 for a 32x32 input; the deepest is layer 'encoder\.layers' \(2x2 map"
        ),
    ):
        model(torch.randn(2, 3, 32, 32))


def test_resnet18_at_32_px_with_min_size_2_takes_layer3_and_rejects_layer4_by_name() -> None:
    model = torchvision.models.resnet18(num_classes=10)
    images = torch.randn(2, 3, 32, 32)
    with sg.ForwardSaliency(model, min_size=2) as hook:
        model(images)
        assert hook.layer == "layer3" and hook.saliency.shape == (2, 2, 2)
    with sg.ForwardSaliency(model, "layer4") as hook, pytest.raises(ValueError, match=r"'layer4' \(1x1 map"):
        model(images)

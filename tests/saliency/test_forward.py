"""The forward-saliency hook on the library's, torchvision's and timm's networks."""

from __future__ import annotations

import pytest
import torch
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import saliency_grafting as sg
from saliency_grafting.saliency import FeatureLayer, reduce_features, resolve_feature_layer


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
        assert hook.layer is None  # resolved by the first forward pass
        logits = net(x)
        assert hook.layer == "stage"
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
    with sg.ForwardSaliency(wrapped) as hook:  # at 64 px layer4 is 2x2: the deepest map of at least 4x4 is layer3
        wrapped(torch.randn(2, 3, 64, 64))
        assert hook.layer == "0.layer3" and hook.saliency.shape == (2, 4, 4)
    before = [b.clone() for b in wrapped.buffers()]
    assert resolve_feature_layer(wrapped.train(), torch.randn(2, 3, 64, 64)) == FeatureLayer("0.layer3", "nchw", (4, 4))
    assert wrapped.training and all(torch.equal(a, b) for a, b in zip(before, wrapped.buffers(), strict=True))
    assert _hook_count(wrapped) == 0


def test_default_layer_on_timm_models() -> None:
    timm = pytest.importorskip("timm")
    model = timm.create_model("resnet18", pretrained=False, num_classes=10).eval()
    assert sg.find_last_conv_stage(model) == "layer4"
    convnext = timm.create_model("convnext_atto", pretrained=False, num_classes=10).eval()
    with sg.ForwardSaliency(convnext) as hook:
        convnext(torch.randn(2, 3, 64, 64))
        assert hook.layer == "stages.2" and hook.saliency.shape == (2, 4, 4)
    with sg.ForwardSaliency(convnext) as hook:
        convnext(torch.randn(2, 3, 128, 128))  # norm_pre (an Identity) shares the stages' output: the stage wins
        assert hook.layer == "stages" and hook.saliency.shape == (2, 4, 4)


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
    with pytest.raises(ValueError, match=r"\[B, C, h, w\].*'head'"):
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


class TwoStage(nn.Module):
    """stem (stride 2) -> shared conv -> pool to 1/4 -> the same shared conv again -> head."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.shared = nn.Conv2d(8, 8, 3, padding=1)
        self.pool = nn.MaxPool2d(4)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.shared(self.pool(self.shared(self.stem(x)))))


def _hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_later_passes_keep_one_hook_and_match_the_first_pass() -> None:
    net = CountingNet().eval()
    x = torch.randn(3, 3, 16, 16)
    with sg.ForwardSaliency(net) as hook:
        assert _hook_count(net) > 2  # the probe
        net(x)
        first = hook.saliency
        assert _hook_count(net) == 1 and len(net.stage._forward_hooks) == 1
        net(x)
        torch.testing.assert_close(hook.saliency, first)
        net(torch.randn(2, 3, 32, 32))  # another input size after resolving: the same layer, its new size
        assert hook.saliency.shape == (2, 16, 16)
        with pytest.raises(ValueError, match=r"'stage' gives a 2x2 map on this pass, smaller than min_size=4"):
            net(torch.randn(2, 3, 4, 4))  # never a silent tiny map, not even after the first pass
    assert _hook_count(net) == 0
    unused = sg.ForwardSaliency(net)
    unused.remove()  # removed before any forward pass: the probe goes too
    assert _hook_count(net) == 0
    with sg.ForwardSaliency(net, hook.feature_layer) as again:  # a resolved layer: hooked at once, no probe
        assert again.layer == "stage" and _hook_count(net) == 1
        net(x)
        torch.testing.assert_close(again.saliency, first)
    with pytest.raises(TypeError, match="layer must be a module name, a FeatureLayer or None"):
        sg.ForwardSaliency(net, 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'gone' is not a module"):
        sg.ForwardSaliency(net, FeatureLayer("gone", "nchw", (4, 4)))


def test_a_module_called_again_later_is_not_chosen_for_an_earlier_call() -> None:
    net = TwoStage()
    x = torch.randn(2, 3, 32, 32)
    with sg.ForwardSaliency(net) as hook:
        net(x)  # `shared` gives 16x16 then 4x4 maps; the hook would see its last call, so its 16x16 call is out
        assert hook.layer == "shared" and hook.saliency.shape == (2, 4, 4)
    with sg.ForwardSaliency(net, min_size=8) as hook:
        net(x)
        assert hook.layer == "stem"
        torch.testing.assert_close(hook.saliency, net.stem(x).detach().abs().sum(1))


def test_bad_arguments_and_maps_too_small_raise_clear_errors() -> None:
    net = CountingNet()
    for bad, error in ((1, ValueError), (0, ValueError), (2.5, TypeError), (True, TypeError), ("4", TypeError)):
        with pytest.raises(error, match="min_size must be an int >= 2"):
            sg.ForwardSaliency(net, min_size=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="layout must be"):
        sg.ForwardSaliency(net, "stage", layout="NCHW")
    with pytest.raises(ValueError, match="needs layer="):
        sg.ForwardSaliency(net, layout="nchw")
    too_small = r"min_size=4 for a 2x2 input; the deepest is layer 'stage' \(1x1 map.*largest 'stem' \(2x2 map.*layer="
    with sg.ForwardSaliency(net) as hook, pytest.raises(ValueError, match=too_small):
        net(torch.randn(2, 3, 2, 2))
    with sg.ForwardSaliency(net) as hook:  # at 4 px the stem's 4x4 map is the deepest that reaches 4x4
        net(torch.randn(2, 3, 4, 4))
        assert hook.layer == "stem"
    with sg.ForwardSaliency(net, min_size=8) as hook, pytest.raises(ValueError, match="min_size=8 for a 4x4 input"):
        net(torch.randn(2, 3, 4, 4))
    with sg.ForwardSaliency(net, "stage", min_size=8) as hook, pytest.raises(ValueError, match=r"'stage' \(4x4 map"):
        net(torch.randn(2, 3, 8, 8))
    net.calls = 0
    with sg.ForwardSaliency(net, min_size=2) as hook:  # after the error above nothing was left hooked
        net(torch.randn(2, 3, 4, 4))
        assert hook.layer == "stage" and net.calls == 1
    net.spare = nn.Conv2d(4, 4, 1)  # registered, never called by forward()
    with sg.ForwardSaliency(net, "spare") as hook, pytest.raises(ValueError, match="'spare' did not run"):
        net(torch.randn(1, 3, 8, 8))
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(48, 10))
    with sg.ForwardSaliency(mlp) as hook, pytest.raises(ValueError, match="found no feature map"):
        mlp(torch.randn(2, 3, 4, 4))


class ChannelsLast(nn.Module):
    """Linear layers on [B, H, W, C] (Swin-style), then global pooling over H and W."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.embed = nn.Conv2d(3, channels, 2, stride=2)
        self.mix = nn.Sequential(nn.Linear(channels, channels), nn.GELU())
        self.head = nn.Linear(channels, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.mix(self.embed(x).permute(0, 2, 3, 1)).mean((1, 2)))


class ToChannelsLast(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 2, 3, 1)


class Shuffle(nn.Module):
    """A parameter-free module whose output layout nothing tells."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flip(-1) * 2


def test_channels_last_maps_sum_over_the_last_dimension_and_ambiguity_is_an_error() -> None:
    net = ChannelsLast(16)
    x = torch.randn(2, 3, 16, 16)
    with sg.ForwardSaliency(net) as hook:
        net(x)
        assert hook.layer == "mix" and hook.feature_layer.layout == "nhwc"
        expected = net.mix(net.embed(x).permute(0, 2, 3, 1)).detach().abs().sum(-1)
        torch.testing.assert_close(hook.saliency, expected)
    square = ChannelsLast(8)  # [B, 8, 8, 8]: the shapes cannot tell, the Linear inside `mix` can
    with sg.ForwardSaliency(square) as hook:
        square(x)
        assert hook.feature_layer.layout == "nhwc"
    # [B, 8, 8, 8] out of parameter-free modules after a permute: neither the shapes nor a layer's type can tell.
    odd = nn.Sequential(nn.Conv2d(3, 8, 2, stride=2), ToChannelsLast(), Shuffle(), nn.AdaptiveAvgPool2d(1))
    with sg.ForwardSaliency(odd) as hook, pytest.raises(ValueError, match=r"cannot tell whether layer '2'.*layout="):
        odd(x)
    with sg.ForwardSaliency(odd, "2", layout="nhwc") as hook:
        odd(x)
        torch.testing.assert_close(hook.saliency, odd[:3](x).detach().abs().sum(-1))


def test_compiled_model_and_wrappers() -> None:
    net = CountingNet()
    x = torch.randn(2, 3, 16, 16)
    compiled = torch.compile(net, backend="eager")
    with sg.ForwardSaliency(net) as hook:  # hook the model, train the compiled one (as the Trainer does)
        compiled(x)
        assert hook.layer == "stage"
        compiled(x * 2)
        torch.testing.assert_close(hook.saliency, net.stage(net.stem(x * 2)).detach().abs().sum(1))
    with sg.ForwardSaliency(compiled) as hook:  # or hook the compiled module: names go through _orig_mod
        compiled(x)
        assert hook.layer == "_orig_mod.stage"


@settings(max_examples=30, deadline=None)
@given(
    strides=st.lists(st.sampled_from([1, 2]), min_size=1, max_size=5),
    side=st.integers(2, 40),
    aspect=st.sampled_from([1.0, 1.0, 0.5, 1.5, 3.0]),
    min_size=st.integers(2, 6),
)
def test_the_last_stage_whose_map_reaches_min_size_is_chosen(
    strides: list[int], side: int, aspect: float, min_size: int
) -> None:
    # Stages of a 3x3 conv (4 channels: square maps are [B, 4, 4, 4] at times, which only the conv's type resolves).
    widths = [3] + [4] * len(strides)
    stages = [nn.Sequential(nn.Conv2d(widths[i], 4, 3, stride=s, padding=1), nn.ReLU()) for i, s in enumerate(strides)]
    net = nn.Sequential(*stages, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    width = max(1, round(side * aspect))
    sizes, h, w = [], side, width
    for s in strides:
        h, w = (h - 1) // s + 1, (w - 1) // s + 1
        sizes.append(min(h, w))
    reaching = [i for i, size in enumerate(sizes) if size >= min_size]
    x = torch.randn(2, 3, side, width, generator=torch.Generator().manual_seed(side))
    with sg.ForwardSaliency(net, min_size=min_size) as hook:
        if not reaching:
            with pytest.raises(ValueError, match=f"min_size={min_size} for a {side}x{width} input"):
                net(x)
            return
        net(x)
        assert hook.layer == str(reaching[-1])
        torch.testing.assert_close(hook.saliency, net[: reaching[-1] + 1](x).detach().abs().sum(1))


def test_reduce_features_in_each_layout_against_a_direct_computation() -> None:
    g = torch.Generator().manual_seed(0)
    nchw = torch.randn(2, 5, 3, 4, generator=g, dtype=torch.float64)
    got = reduce_features(nchw, FeatureLayer("a", "nchw", (3, 4)))
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, nchw.abs().sum(1).float())
    torch.testing.assert_close(reduce_features(nchw.permute(0, 2, 3, 1), FeatureLayer("a", "nhwc", (3, 4))), got)
    tokens = torch.cat([torch.full((2, 2, 5), 1e6), nchw.flatten(2).transpose(1, 2)], 1)  # 2 huge prefix tokens
    layer = FeatureLayer("t", "tokens", (3, 4), prefix_tokens=2)
    torch.testing.assert_close(reduce_features(tokens, layer), got)
    square = torch.randn(2, 2 + 25, 5, generator=g)  # another input size later: a square 5x5 grid
    torch.testing.assert_close(reduce_features(square, layer), square[:, 2:].abs().sum(-1).view(2, 5, 5))
    with pytest.raises(ValueError, match=r"'t' gave 10 patch tokens.*neither the 3x4 grid"):
        reduce_features(torch.randn(2, 12, 5), layer)
    with pytest.raises(ValueError, match=r"needs a \[B, tokens, C\] feature map from layer 't', got \(2, 5, 3, 4\)"):
        reduce_features(nchw, layer)
    with pytest.raises(ValueError, match=r"needs a \[B, h, w, C\] feature map from layer 'a', got list"):
        reduce_features([nchw], FeatureLayer("a", "nhwc", (3, 4)))  # type: ignore[arg-type]

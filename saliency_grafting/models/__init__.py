"""Networks by name: the paper's (PreActResNet-18, WRN28-10, PyramidNet-200, ResNet-50), small CPU nets, timm."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from torch import nn

from saliency_grafting._validation import check_int
from saliency_grafting.models.preact_resnet import PreActResNet
from saliency_grafting.models.pyramidnet import PyramidNet
from saliency_grafting.models.small import ConvNetSmall
from saliency_grafting.models.wide_resnet import WideResNet

__all__ = ["MODELS", "ConvNetSmall", "PreActResNet", "PyramidNet", "WideResNet", "create_model"]


def _resnet50(num_classes: int, *, in_channels: int = 3, **kwargs: Any) -> nn.Module:
    from torchvision.models import resnet50

    model = resnet50(weights=None, num_classes=num_classes, **kwargs)
    if in_channels != 3:  # torchvision's stem is fixed at RGB: the same 7x7 stride-2 conv on other channels
        model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    return model


MODELS: dict[str, Callable[..., nn.Module]] = {
    "convnet_small": ConvNetSmall,
    "resnet_tiny": partial(PreActResNet, blocks=(1, 1, 1), widths=(16, 32, 64)),
    "resnet_small": partial(PreActResNet, blocks=(1, 1, 1), widths=(32, 64, 128)),
    "preactresnet18": PreActResNet,
    "wrn28_10": WideResNet,
    "pyramidnet200": PyramidNet,
    "resnet50": _resnet50,
}


def create_model(name: str, num_classes: int, *, in_channels: int = 3, **kwargs: Any) -> nn.Module:
    """Build a network by name (see ``MODELS``), or any timm model as ``"timm:<name>"`` (the ``timm`` extra), for
    inputs of ``in_channels`` channels (1 for spectrograms)."""
    in_channels = check_int(in_channels, "in_channels", low=1)
    if name.startswith("timm:"):
        try:
            import timm
        except ImportError as err:
            raise ImportError("timm models need the timm extra: pip install 'saliency_grafting[timm]'") from err
        return timm.create_model(
            name[len("timm:") :], pretrained=False, num_classes=num_classes, in_chans=in_channels, **kwargs
        )
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(sorted(MODELS))}, or timm:<name>")
    try:
        return MODELS[name](num_classes=num_classes, in_channels=in_channels, **kwargs)
    except TypeError as err:  # an unknown keyword in --model-arg
        raise ValueError(f"model {name!r}: {err}") from None

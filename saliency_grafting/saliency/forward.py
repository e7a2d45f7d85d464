"""Forward saliency: ``S = sum_c |A_c|`` of a CNN layer, kept by a hook from the forward pass the loop already runs."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["ForwardSaliency", "find_last_conv_stage"]


def _last_conv_name(model: nn.Module) -> str | None:
    last = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            last = name
    return last


def find_last_conv_stage(model: nn.Module) -> str:
    """Name of the module whose output is the last convolutional stage of ``model``.

    That is the top-level child holding the model's last ``nn.Conv2d`` (``layer4`` of a torchvision ResNet,
    ``features`` of a VGG or EfficientNet, ``stages`` of a timm ConvNeXt); single-child wrappers (DDP's
    ``module``, ``nn.Sequential(model)``) are looked through.
    """
    last = _last_conv_name(model)
    if last is None:
        raise ValueError(f"model has no nn.Conv2d layer to take forward saliency from: {type(model).__name__}")
    parts = last.split(".")
    depth = 1
    # Look through wrappers that have a single child until a level with several children.
    while depth < len(parts) and len(list(model.get_submodule(".".join(parts[: depth - 1])).children())) == 1:
        depth += 1
    return ".".join(parts[:depth])


class ForwardSaliency:
    """Keeps ``sum_c |A_c|`` (detached, float32, ``[B, h, w]``) of one layer's output on every forward pass.

    ``layer`` is a module name (``"layer4"``, see ``model.named_modules()``) or ``None`` for the last conv stage.
    Use it as a context manager or call ``remove()``; ``saliency`` holds the map of the latest forward pass.
    """

    def __init__(self, model: nn.Module, layer: str | None = None) -> None:
        self.layer = layer if layer is not None else find_last_conv_stage(model)
        try:
            module = model.get_submodule(self.layer)
        except AttributeError:
            names = [n for n, m in model.named_modules() if n and isinstance(m, (nn.Sequential, nn.Conv2d))]
            raise ValueError(f"layer {self.layer!r} is not a module of the model; e.g. one of {names[-8:]}") from None
        self._saliency: Tensor | None = None
        self._handle = module.register_forward_hook(self._keep)

    def _keep(self, module: nn.Module, inputs: object, output: object) -> None:
        features = output[0] if isinstance(output, (tuple, list)) else output
        if not isinstance(features, Tensor) or features.ndim != 4:
            shape = tuple(features.shape) if isinstance(features, Tensor) else type(features).__name__
            raise ValueError(
                f"forward saliency needs a [B, C, h, w] feature map from layer {self.layer!r}, got {shape}"
            )
        with torch.no_grad():
            self._saliency = features.detach().abs().sum(dim=1, dtype=torch.float32)  # S = sum_c |A_c|

    @property
    def saliency(self) -> Tensor:
        """The ``[B, h, w]`` map of the latest forward pass."""
        if self._saliency is None:
            raise RuntimeError(f"no forward pass through {self.layer!r} has run since the hook was attached")
        return self._saliency

    def remove(self) -> None:
        """Detach the hook and drop the kept map."""
        self._handle.remove()
        self._saliency = None

    def __enter__(self) -> ForwardSaliency:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

"""Reading forward saliency ``sum_c |A_c|`` out of a feature map in its layout: NCHW, NHWC or patch tokens."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

__all__ = ["LAYOUTS", "FeatureLayer", "reduce_features"]

Layout = Literal["nchw", "nhwc", "tokens"]
LAYOUTS: tuple[str, ...] = ("nchw", "nhwc", "tokens")


@dataclass(frozen=True)
class FeatureLayer:
    """Where and how forward saliency is read: a module name, the layout of its output and its map size."""

    name: str
    layout: Layout
    size: tuple[int, int]  # (h, w) on the pass that resolved it
    prefix_tokens: int = 0  # leading tokens that are not patches (class, distillation, register); tokens only


def reduce_features(features: Tensor, layer: FeatureLayer) -> Tensor:
    """``sum_c |A_c|`` of ``layer``'s output as a detached float32 ``[B, h, w]``, in the layout ``layer`` says."""
    ndim = 3 if layer.layout == "tokens" else 4
    if not isinstance(features, Tensor) or features.ndim != ndim:
        form = {"nchw": "[B, C, h, w]", "nhwc": "[B, h, w, C]", "tokens": "[B, tokens, C]"}[layer.layout]
        got = tuple(features.shape) if isinstance(features, Tensor) else type(features).__name__
        raise ValueError(f"forward saliency needs a {form} feature map from layer {layer.name!r}, got {got}")
    with torch.no_grad():
        x = features.detach()
        if layer.layout == "nchw":
            return x.abs().sum(dim=1, dtype=torch.float32)
        if layer.layout == "nhwc":
            return x.abs().sum(dim=-1, dtype=torch.float32)
        x = x[:, layer.prefix_tokens :]
        h, w = _token_grid(x.shape[1], layer)
        return x.abs().sum(dim=-1, dtype=torch.float32).view(x.shape[0], h, w)


def _token_grid(count: int, layer: FeatureLayer) -> tuple[int, int]:
    h, w = layer.size
    if count == h * w:
        return h, w
    side = math.isqrt(count)
    if side * side == count:  # another (square) input size than the resolving pass
        return side, side
    raise ValueError(
        f"layer {layer.name!r} gave {count} patch tokens (after {layer.prefix_tokens} prefix tokens), which is "
        f"neither the {h}x{w} grid of the first pass nor a square grid"
    )

"""The occlusion stress test (Table 6): zero the top-k % most salient regions of each test image, then evaluate."""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor, nn

from saliency_grafting.mixing import functional as MF
from saliency_grafting.saliency import FeatureLayer, ForwardSaliency
from saliency_grafting.saliency.forward import mode

__all__ = ["occlude_top_regions", "occluder", "occlusion_by_reference"]


def occlude_top_regions(images: Tensor, saliency: Tensor, fraction: float, grid: int) -> Tensor:
    """Zero (the dataset mean, in normalised space) the ``round(fraction * grid^2)`` most salient grid regions."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction!r}")
    batch, _, height, width = images.shape
    regions = MF.resize_saliency(saliency, grid)
    count = torch.full((batch,), round(fraction * grid * grid), device=images.device)
    removed = MF.top_k_regions(regions, count)
    return images * MF.upsample_regions(~removed, height, width, images.dtype)


def _ranked_by(net: nn.Module, fraction: float, grid: int, layer: str | None, *, eval_mode: bool):
    """Occlusion of the top ``fraction`` of regions by ``net``'s forward saliency; the feature layer is found on
    the first batch and reused, so later batches pay no probing pass."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction!r}")
    resolved: dict[str, FeatureLayer | str | None] = {"layer": layer}

    def transform(images: Tensor, labels: Tensor) -> Tensor:
        if fraction == 0:
            return images
        in_eval = mode(net, False) if eval_mode else contextlib.nullcontext()
        with in_eval, ForwardSaliency(net, resolved["layer"]) as hook:
            with torch.no_grad():
                net(images)
            saliency = hook.saliency
            resolved["layer"] = hook.feature_layer or resolved["layer"]
        return occlude_top_regions(images, saliency, fraction, grid)

    return transform


def occluder(model: nn.Module, fraction: float, grid: int = 8, layer: str | None = None):
    """A ``transform(images, labels)`` for ``evaluate``: occlusion by the model's own forward saliency.

    The saliency is the evaluated network's ``sum_c |A_c|`` at the layer ``ForwardSaliency`` chooses (the map SG
    trains with; class-agnostic, so it needs no label) on the clean image, resized to a ``grid x grid`` region grid.
    """
    return _ranked_by(model, fraction, grid, layer, eval_mode=False)


def occlusion_by_reference(reference: nn.Module, fraction: float, grid: int = 8, layer: str | None = None):
    """A ``transform(images, labels)`` for ``evaluate``: occlusion ranked by a fixed ``reference`` network's saliency.

    The same map as ``occluder`` (``sum_c |A_c|``, the reference in eval mode) but from one network for every
    evaluated model, so that all models lose the same regions of each image.
    """
    return _ranked_by(reference, fraction, grid, layer, eval_mode=True)

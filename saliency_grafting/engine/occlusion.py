"""The occlusion stress test (Table 6): zero the top-k % most salient regions of each test image, then evaluate."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from saliency_grafting.mixing import functional as MF
from saliency_grafting.saliency import ForwardSaliency

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


def occluder(model: nn.Module, fraction: float, grid: int = 8, layer: str | None = None):
    """A ``transform(images, labels)`` for ``evaluate``: occlusion by the model's own forward saliency.

    The saliency is the evaluated network's ``sum_c |A_c|`` at its last conv stage on the clean image (the map SG
    trains with; class-agnostic, so it needs no label), resized to a ``grid x grid`` region grid.
    """

    def transform(images: Tensor, labels: Tensor) -> Tensor:
        if fraction == 0:
            return images
        with ForwardSaliency(model, layer) as hook, torch.no_grad():
            model(images)
            saliency = hook.saliency
        return occlude_top_regions(images, saliency, fraction, grid)

    return transform


def occlusion_by_reference(reference: nn.Module, fraction: float, grid: int = 8, layer: str | None = None):
    """A ``transform(images, labels)`` for ``evaluate``: occlusion ranked by a fixed ``reference`` network's saliency.

    The same map as ``occluder`` (``sum_c |A_c|`` at the reference's last conv stage, in eval mode, in fp32) but from
    one network for every evaluated model, so that all models lose the same regions of each image.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction!r}")

    def transform(images: Tensor, labels: Tensor) -> Tensor:
        if fraction == 0:
            return images
        was_training = reference.training
        reference.eval()
        try:
            with ForwardSaliency(reference, layer) as hook, torch.no_grad():
                reference(images)
                saliency = hook.saliency
        finally:
            reference.train(was_training)
        return occlude_top_regions(images, saliency, fraction, grid)

    return transform

"""Cutout (DeVries & Taylor, 2017): zero a random square of each image; the label is unchanged."""

from __future__ import annotations

import torch
from torch import Tensor

from saliency_grafting.mixing import _checks as C
from saliency_grafting.mixing import functional as MF
from saliency_grafting.mixing.base import Masking, MixParams

__all__ = ["Cutout"]


class Cutout(Masking):
    """Zero a ``size x size`` square (default: half the shorter side) centred uniformly, clipped at the border.

    In the shared convention the second image is zeros: ``mixed = mask * images``, ``lam = 1``, ``perm = i``.
    Unlike the pair mixers, a batch of one sample is still cut out. Zero is the dataset mean after normalisation.
    """

    def __init__(
        self, *, num_classes: int, size: int | None = None, label_smoothing: float = 0.0, validate: bool = True
    ) -> None:
        super().__init__(num_classes=num_classes, label_smoothing=label_smoothing, validate=validate)
        self.size = None if size is None else C.check_int(size, "size", self, low=1)  # pixels; None: half the side

    def _sample(
        self, images: Tensor, saliency: Tensor | None, perm: Tensor, generator: torch.Generator | None
    ) -> MixParams:
        batch, _, height, width = images.shape
        side = self.size if self.size is not None else max(min(height, width) // 2, 1)
        centre = MF.sample_uniform((2, batch), generator, images.device)
        sides = torch.full((batch,), side, device=images.device)
        hole, _ = MF.box_mask((centre[0] * height).long(), (centre[1] * width).long(), sides, sides, height, width)
        return MixParams(
            perm=torch.arange(batch, device=images.device),
            mask=(~hole).to(images.dtype),
            lam=torch.ones(batch, device=images.device),
        )

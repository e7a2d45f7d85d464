"""Mixup (Zhang et al., 2018): a convex combination of two images and of their labels, lambda ~ Beta(alpha, alpha)."""

from __future__ import annotations

import torch
from torch import Tensor

from saliency_grafting.mixing import functional as MF
from saliency_grafting.mixing.base import Mixer, MixParams

__all__ = ["Mixup"]


class Mixup(Mixer):
    """``mixed[i] = lam[i] * images[i] + (1 - lam[i]) * images[perm[i]]`` with ``lam ~ Beta(alpha, alpha)``.

    ``per_sample=True`` draws one lambda per sample; ``False`` one per batch, as the original paper does.
    """

    def __init__(
        self,
        *,
        num_classes: int,
        alpha: float = 1.0,
        per_sample: bool = True,
        label_smoothing: float = 0.0,
        validate: bool = True,
    ) -> None:
        super().__init__(num_classes=num_classes, label_smoothing=label_smoothing, validate=validate)
        if not alpha > 0:
            raise ValueError(f"alpha must be > 0 (lambda ~ Beta(alpha, alpha)), got {alpha!r}")
        self.alpha = float(alpha)
        self.per_sample = bool(per_sample)

    def _sample(
        self, images: Tensor, saliency: Tensor | None, perm: Tensor, generator: torch.Generator | None
    ) -> MixParams:
        batch = images.shape[0]
        lam = MF.sample_beta(self.alpha, (batch,) if self.per_sample else (1,), generator).expand(batch)
        return MixParams(perm=perm, mask=None, lam=lam.to(images.device))

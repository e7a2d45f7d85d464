"""Mixup (Zhang et al., 2018): a convex combination of two images and of their labels, lambda ~ Beta(alpha, alpha)."""

from __future__ import annotations

import torch
from torch import Tensor

from saliency_grafting.mixing.base import BetaMixer, MixParams

__all__ = ["Mixup"]


class Mixup(BetaMixer):
    """``mixed[i] = lam[i] * images[i] + (1 - lam[i]) * images[perm[i]]`` with ``lam ~ Beta(alpha, alpha)``.

    ``per_sample=True`` draws one lambda per sample; ``False`` one per batch, as the original paper does.
    """

    def _sample(
        self, images: Tensor, saliency: Tensor | None, perm: Tensor, generator: torch.Generator | None
    ) -> MixParams:
        batch = images.shape[0]
        lam = self._draw_lambda(batch, generator, images.device).expand(batch)
        return MixParams(perm=perm, mask=None, lam=lam)

"""CutMix (Yun et al., 2019): paste a random box of another image; lambda = the area left of the first one."""

from __future__ import annotations

import torch
from torch import Tensor

from saliency_grafting.mixing import functional as MF
from saliency_grafting.mixing.base import BetaMixer, MixParams

__all__ = ["CutMix"]


class CutMix(BetaMixer):
    """Paste a box of area ``1 - lam`` (``lam ~ Beta(alpha, alpha)``) from ``images[perm[i]]`` onto ``images[i]``.

    The box centre is uniform over the image and the box is clipped at the border; ``lam`` is recomputed from the
    clipped box, so it is exactly the fraction of pixels kept from ``images[i]``. ``per_sample=False`` draws one
    box for the whole batch, as the official code does.
    """

    binary_mask = True

    def _sample(
        self, images: Tensor, saliency: Tensor | None, perm: Tensor, generator: torch.Generator | None
    ) -> MixParams:
        batch, _, height, width = images.shape
        lam = self._draw_lambda(batch, generator, images.device)
        draws = len(lam)
        cut_h, cut_w = MF.cut_size(lam, height, width)
        centre = MF.sample_uniform((2, draws), generator, images.device)
        centre_y, centre_x = (centre[0] * height).long(), (centre[1] * width).long()
        box, area = MF.box_mask(centre_y, centre_x, cut_h, cut_w, height, width)
        mask = (~box).to(images.dtype).expand(batch, 1, height, width)
        return MixParams(perm=perm, mask=mask, lam=(1.0 - area).expand(batch))

"""SaliencyMix (Uddin et al., ICLR 2021): a CutMix box centred on the most salient pixel of the pasted image."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from saliency_grafting.mixing import _checks as C
from saliency_grafting.mixing import functional as MF
from saliency_grafting.mixing.base import BetaMixer, MixParams, SaliencyKind
from saliency_grafting.saliency.static import static_saliency

__all__ = ["SaliencyMix"]


class SaliencyMix(BetaMixer):
    """Paste a box of area ``1 - lam`` around the saliency peak of ``images[perm[i]]`` onto ``images[i]``.

    ``lam ~ Beta(alpha, alpha)``; the box is clipped and ``lam`` recomputed from it. Saliency is static image
    saliency (``method``, computed here from the pixels) unless a ``[B, h, w]`` map is passed in.
    ``per_sample=False`` is the official code: one lambda and one box, around the peak of ``images[perm[0]]``,
    for the whole batch.
    """

    saliency_kind = SaliencyKind.IMAGE
    binary_mask = True

    def __init__(
        self,
        *,
        num_classes: int,
        alpha: float = 1.0,
        per_sample: bool = True,
        method: Literal["spectral_residual", "opencv_fine_grained"] = "spectral_residual",
        label_smoothing: float = 0.0,
        validate: bool = True,
    ) -> None:
        super().__init__(
            num_classes=num_classes,
            alpha=alpha,
            per_sample=per_sample,
            label_smoothing=label_smoothing,
            validate=validate,
        )
        self.method = C.check_choice(method, "method", self, ("spectral_residual", "opencv_fine_grained"))

    def _sample(
        self, images: Tensor, saliency: Tensor | None, perm: Tensor, generator: torch.Generator | None
    ) -> MixParams:
        batch, _, height, width = images.shape
        lam = self._draw_lambda(batch, generator, images.device)
        draws = len(lam)
        cut_h, cut_w = MF.cut_size(lam, height, width)
        donors = perm[:draws]
        maps = saliency.index_select(0, donors.to(saliency.device)) if saliency is not None else None
        if maps is None:
            maps = static_saliency(images.index_select(0, donors), self.method)  # type: ignore[arg-type]
        maps = maps.to(images.device)
        peak = maps.flatten(1).argmax(dim=1)
        rows, cols = maps.shape[-2:]
        # The peak cell's centre, in image pixels (the map may be coarser than the image).
        centre_y = ((peak // cols).float() + 0.5).mul(height / rows).long()
        centre_x = ((peak % cols).float() + 0.5).mul(width / cols).long()
        box, area = MF.box_mask(centre_y, centre_x, cut_h, cut_w, height, width)
        mask = (~box).to(images.dtype).expand(batch, 1, height, width)
        return MixParams(perm=perm, mask=mask, lam=(1.0 - area).expand(batch))

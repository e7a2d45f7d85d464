"""Attentive CutMix (Walawalkar et al., ICASSP 2020): paste the N most attended cells of a feature grid."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from saliency_grafting.mixing import _checks as C
from saliency_grafting.mixing import functional as MF
from saliency_grafting.mixing.base import Mixer, MixParams, SaliencyKind

__all__ = ["AttentiveCutMix"]


class AttentiveCutMix(Mixer):
    """Paste the ``top_n`` most salient cells of a ``grid x grid`` map of ``images[perm[i]]`` onto ``images[i]``.

    The attention map is the training network's forward saliency (``saliency=[B, h, w]``), or, with
    ``feature_model`` (a frozen network returning ``[B, C, h, w]`` features, e.g. a pretrained ResNet-50 trunk as
    in the paper), ``sum_c |A_c|`` of its features: one extra forward pass, made here. The label weight is the
    area: ``lam = 1 - pasted area``.
    """

    saliency_kind = SaliencyKind.FORWARD
    binary_mask = True

    def __init__(
        self,
        *,
        num_classes: int,
        top_n: int = 6,
        grid: int = 7,
        feature_model: nn.Module | None = None,
        label_smoothing: float = 0.0,
        validate: bool = True,
    ) -> None:
        super().__init__(num_classes=num_classes, label_smoothing=label_smoothing, validate=validate)
        self.grid = C.check_int(grid, "grid", self, low=1)
        self.top_n = C.check_int(top_n, "top_n", self, low=0, high=grid * grid)  # at most grid * grid cells
        if feature_model is not None and not isinstance(feature_model, nn.Module):
            C.fail(
                TypeError,
                self,
                "feature_model",
                "None or an nn.Module returning [B, C, h, w] features",
                type(feature_model).__name__,
            )
        self.feature_model = feature_model
        if feature_model is not None:
            feature_model.eval().requires_grad_(False)
            self.saliency_kind = SaliencyKind.NONE

    def _sample(
        self, images: Tensor, saliency: Tensor | None, perm: Tensor, generator: torch.Generator | None
    ) -> MixParams:
        batch, _, height, width = images.shape
        if saliency is None:
            if self.feature_model is None:
                raise ValueError("AttentiveCutMix needs saliency=[B, h, w] or a feature_model")
            with torch.no_grad():
                saliency = self.feature_model(images).abs().sum(dim=1, dtype=torch.float32)
        grid = min(self.grid, height, width)
        cells = MF.resize_saliency(saliency.to(images.device), grid).index_select(0, perm)  # the donors' maps
        count = torch.full((batch,), min(self.top_n, grid * grid), device=images.device)
        pasted = MF.top_k_regions(cells, count)
        mask = MF.upsample_regions(~pasted, height, width, images.dtype)
        return MixParams(perm=perm, mask=mask, lam=mask.flatten(1).float().mean(1))

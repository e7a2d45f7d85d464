"""Saliency Grafting (Park et al., AAAI 2022), Section 4: stochastic salient patches, calibrated labels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from saliency_grafting.mixing import _checks as C
from saliency_grafting.mixing import functional as MF
from saliency_grafting.mixing.base import Mixer, MixParams, SaliencyKind

__all__ = ["GraftingParams", "SaliencyGrafting", "calibrated_lambda", "default_grid_sizes", "importance"]

# Region grids drawn per batch ("we randomly select the up/down-sampling scale of saliency maps per each
# mini-batch", Section 4.3). The last conv stage is 4x4 to 8x8 for 32 px inputs and 7x7 for 224 px ones; the
# grids scale it by 1/2, 1 and 2, so a region is never smaller than 2 px (32 px) or 8 px (224 px).
_SMALL_GRIDS = (4, 8, 16)
_LARGE_GRIDS = (7, 14, 28)


def default_grid_sizes(height: int, width: int) -> tuple[int, ...]:
    """The grid sizes drawn from when ``grid_sizes`` is not given: (4, 8, 16) up to 64 px, else (7, 14, 28)."""
    return _SMALL_GRIDS if min(height, width) <= 64 else _LARGE_GRIDS


def importance(saliency: Tensor, region_mask: Tensor) -> Tensor:
    """``I(S, M) = ||S ⊙ M||_2 / ||S||_2`` per sample (Section 4.2); ``[B, g, g] x [B, g, g] -> [B]``.

    Where ``||S||_2 = 0`` there is no saliency to weigh by and the importance falls back to the area ``mean(M)``.
    The ratio is scale-free, so ``S`` is divided by its per-sample peak first: the float32 norm can neither overflow
    (``|S| >= 1e19``) nor underflow (``|S| <= 1e-22``).
    """
    s = saliency.flatten(1).float()
    s = s / s.abs().amax(dim=1, keepdim=True).clamp_min(torch.finfo(s.dtype).tiny)
    m = region_mask.flatten(1).float()
    total = s.norm(dim=1)
    kept = (s * m).norm(dim=1)
    return torch.where(total > 0, kept / total.clamp_min(torch.finfo(s.dtype).tiny), m.mean(dim=1))


def calibrated_lambda(source_saliency: Tensor, dest_saliency: Tensor, region_mask: Tensor) -> Tensor:
    """Eq. 5: ``lambda = I(S_i, M_i) / (I(S_i, M_i) + I(S_j, 1 - M_i))``, the label weight of the source ``x_i``.

    ``source_saliency`` is ``S_i``, ``dest_saliency`` is ``S_j`` (the image receiving the graft) and
    ``region_mask`` is ``M_i`` (1 where ``x_i`` is kept), all ``[B, g, g]`` on the same region grid. Where both
    importances are 0 (the graft misses all of ``S_i`` and covers all of ``S_j``) it falls back to the area.
    """
    if not source_saliency.shape == dest_saliency.shape == region_mask.shape or source_saliency.ndim != 3:
        raise ValueError(
            "source_saliency, dest_saliency and region_mask must share one shape [B, g, g], got "
            f"{tuple(source_saliency.shape)}, {tuple(dest_saliency.shape)}, {tuple(region_mask.shape)}"
        )
    keep = region_mask.float()
    i_src = importance(source_saliency, keep)  # I(S_i, M_i)
    i_dst = importance(dest_saliency, 1.0 - keep)  # I(S_j, 1 - M_i)
    total = i_src + i_dst
    return torch.where(total > 0, i_src / total.clamp_min(torch.finfo(total.dtype).tiny), keep.flatten(1).mean(1))


@dataclass(frozen=True)
class GraftingParams(MixParams):
    """``MixParams`` plus what Saliency Grafting drew on its region grid for this batch."""

    region_mask: Tensor  # float32 [B, g, g]: M_i = P ⊙ S''_i
    region_saliency: Tensor  # float32 [B, g, g]: S_i resized to the grid (before the softmax)
    thresholded: Tensor  # bool [B, g, g]: S''_i, the regions above the threshold (eq. 4)
    grid_size: int  # g, drawn per batch
    p_b: Tensor  # float32 []: the batch's Bernoulli probability p_B ~ Beta(alpha, alpha)


class SaliencyGrafting(Mixer):
    """Saliency Grafting: graft stochastically sampled salient regions of ``x_i`` onto ``x_j``.

    ``saliency`` is the forward saliency ``S = sum_c |A_c|`` of the training network's last conv stage, ``[B, h, w]``
    (see ``saliency_grafting.ForwardSaliency``). Per batch a grid size ``g`` is drawn from ``grid_sizes`` and
    ``p_B ~ Beta(alpha, alpha)``; per sample the map on the grid is normalised by a softmax at ``temperature``
    (eq. 3, after dividing by its maximum so that ``temperature`` does not depend on the network's feature scale),
    thresholded at ``threshold`` (eq. 4; ``"mean"`` is ``sigma_mean``) and each region above it is kept with
    probability ``p_B``. Labels are mixed by eq. 5 (``label_mixing="saliency"``) or by area (``"area"``).

    Ablations of Table 7: ``selection="deterministic"`` keeps the ``round(p_B * n_i)`` most salient of the ``n_i``
    regions above the threshold instead of a Bernoulli draw (the same expected count), ``label_mixing="area"``.
    """

    saliency_kind: SaliencyKind = SaliencyKind.FORWARD
    binary_mask = True
    default_objective = "clean+mixed"  # "the clean and the grafted batch" (Section 4.3)

    def __init__(
        self,
        *,
        num_classes: int,
        alpha: float = 1.0,
        temperature: float = 0.5,
        threshold: float | Literal["mean"] = "mean",
        grid_sizes: Sequence[int] | None = None,
        selection: Literal["stochastic", "deterministic"] = "stochastic",
        label_mixing: Literal["saliency", "area"] = "saliency",
        label_smoothing: float = 0.0,
        validate: bool = True,
    ) -> None:
        super().__init__(num_classes=num_classes, label_smoothing=label_smoothing, validate=validate)
        self.alpha = C.check_number(alpha, "alpha", self, low=0, low_open=True)  # p_B ~ Beta(alpha, alpha)
        self.temperature = C.check_number(temperature, "temperature", self, low=0, low_open=True)
        if isinstance(threshold, str):
            self.threshold: float | str = C.check_choice(threshold, "threshold", self, ("mean",))
        else:  # a number in [0, 1), or 'mean'
            try:
                self.threshold = C.check_number(threshold, "threshold", self, low=0, high=1, high_open=True)
            except (TypeError, ValueError) as err:
                raise type(err)(f"{err} (or 'mean')") from None
        self.grid_sizes = None if grid_sizes is None else C.check_int_sequence(grid_sizes, "grid_sizes", self, low=1)
        self.selection = C.check_choice(selection, "selection", self, ("stochastic", "deterministic"))
        self.label_mixing = C.check_choice(label_mixing, "label_mixing", self, ("saliency", "area"))

    def _sample(
        self, images: Tensor, saliency: Tensor | None, perm: Tensor, generator: torch.Generator | None
    ) -> GraftingParams:
        assert saliency is not None  # sample_params requires it for SaliencyKind.FORWARD
        batch, _, height, width = images.shape
        device = images.device
        sizes = self.grid_sizes or default_grid_sizes(height, width)
        # The batch's draws: the grid size and p_B ~ Beta(alpha, alpha); then the Bernoulli field P.
        pick = int(torch.randint(len(sizes), (), generator=generator, device=MF.draw_device(generator)))
        size = min(sizes[pick], height, width)
        p_b = MF.sample_beta(self.alpha, (), generator, device)
        bernoulli = MF.sample_uniform((batch, size, size), generator, device) < p_b

        s = MF.resize_saliency(saliency.to(device), size)  # S_i on the region grid, [B, g, g]
        scale = s.flatten(1).amax(1).clamp_min(torch.finfo(s.dtype).tiny).view(-1, 1, 1)
        # Eq. 3: S'_st = exp(S_st / T) / sum_hw exp(S_hw / T), with S divided by its maximum first.
        s_prime = torch.softmax((s / scale).flatten(1) / self.temperature, dim=1).view_as(s)
        # Eq. 4: S''_st = 1 if S'_st > sigma. sigma_mean = mean of S' = 1 / g^2. The relative tolerance keeps a
        # flat map (all S'_st equal up to rounding) from passing its own mean: it has no salient region.
        if isinstance(self.threshold, str):  # "mean"
            thresholded = s_prime > s_prime.mean(dim=(1, 2), keepdim=True) * (1 + 1e-5)
        else:
            thresholded = s_prime > self.threshold
        if self.selection == "stochastic":
            # M_i = P ⊙ S''_i with P ~ Bern(p_B) i.i.d. per region.
            region_mask = thresholded & bernoulli
        else:
            # Table 7's deterministic top-k: the round(p_B * n_i) most salient regions above the threshold.
            count = (p_b * thresholded.flatten(1).sum(1)).round().long()
            region_mask = MF.top_k_regions(s_prime, count) & thresholded
        region_mask = region_mask.float()

        mask = MF.upsample_regions(region_mask, height, width, images.dtype)
        if self.label_mixing == "saliency":
            # Eq. 5 with S_j = S_perm(i): the destination's saliency on the same grid.
            lam = calibrated_lambda(s, s.index_select(0, perm), region_mask)
        else:
            lam = mask.flatten(1).float().mean(1)  # the grafted area, in pixels
        return GraftingParams(
            perm=perm,
            mask=mask,
            lam=lam,
            region_mask=region_mask,
            region_saliency=s,
            thresholded=thresholded,
            grid_size=size,
            p_b=p_b,
        )

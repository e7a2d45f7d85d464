"""Small pure tensor ops shared by the mixers: random draws, targets, boxes and region-grid masks."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from saliency_grafting.devices import draw_device, to_device

__all__ = [
    "box_mask",
    "cut_size",
    "draw_device",
    "keep_or_zero",
    "mix_images",
    "mix_targets",
    "random_permutation",
    "resize_saliency",
    "sample_beta",
    "sample_uniform",
    "select_images",
    "smooth_targets",
    "to_device",
    "to_targets",
    "top_k_regions",
    "upsample_regions",
]


def sample_uniform(
    shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device | None = None
) -> Tensor:
    """U[0, 1) float32 samples of ``shape`` drawn from ``generator``, delivered on ``device``."""
    return to_device(torch.rand(shape, generator=generator, device=draw_device(generator)), device)


def sample_beta(
    alpha: float, shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device | None = None
) -> Tensor:
    """Beta(alpha, alpha) float32 samples of ``shape``, drawn from ``generator`` as a ratio of two gammas."""
    concentration = torch.full((2, *shape), float(alpha), device=draw_device(generator))
    gammas = torch._standard_gamma(concentration, generator=generator)
    total = gammas[0] + gammas[1]
    # For tiny alpha both gammas can underflow to 0; the limit of Beta(a, a) as a -> 0 is a fair coin on {0, 1}.
    draws = torch.where(total > 0, gammas[0] / total.clamp_min(torch.finfo(total.dtype).tiny), (gammas[1] == 0).float())
    return to_device(draws, device)


def random_permutation(batch_size: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """A uniformly random permutation of ``range(batch_size)`` on ``device`` (the partner index j of each i)."""
    return to_device(torch.randperm(batch_size, generator=generator, device=draw_device(generator)), device)


def to_targets(labels: Tensor, num_classes: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """Integer labels ``[B]`` as one-hot rows ``[B, K]``; soft labels ``[B, K]`` are returned as they are."""
    if labels.ndim == 2:
        return labels if labels.is_floating_point() else labels.to(dtype)
    return F.one_hot(labels.long(), num_classes).to(dtype)


def mix_targets(targets: Tensor, perm: Tensor, lam: Tensor) -> Tensor:
    """``lam[i] * targets[i] + (1 - lam[i]) * targets[perm[i]]``; exact when ``perm[i] == i``."""
    partner = targets.index_select(0, perm)
    return torch.lerp(partner, targets, lam.to(targets.dtype).unsqueeze(1))


def smooth_targets(targets: Tensor, smoothing: float) -> Tensor:
    """Label smoothing: ``(1 - eps) * targets + eps / K``; a no-op for ``eps == 0``."""
    if smoothing == 0:
        return targets
    return targets * (1.0 - smoothing) + smoothing / targets.shape[1]


def mix_images(images: Tensor, perm: Tensor, weight: Tensor) -> Tensor:
    """``weight * images + (1 - weight) * images[perm]`` with ``weight`` broadcastable to ``images``.

    ``torch.lerp`` returns either end exactly at weight 0 and 1, so a binary mask copies pixels bit for bit.
    The partner batch is gathered once and overwritten in place: one allocation, no temporaries (out of place when
    autograd needs the graph, e.g. for hidden states in Manifold Mixup).
    """
    out = images.index_select(0, perm)
    if images.requires_grad and torch.is_grad_enabled():
        return torch.lerp(out, images, weight.to(images.dtype))
    return torch.lerp(out, images, weight.to(images.dtype), out=out)


def _bits_dtype(tensor: Tensor) -> torch.dtype:
    """The integer dtype of the same size, to handle a float tensor's raw bits."""
    return {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[tensor.element_size()]


def select_images(images: Tensor, perm: Tensor, mask: Tensor) -> Tensor:
    """``images[i]`` where ``mask`` is nonzero, else ``images[perm[i]]``, with ``mask`` broadcastable to ``images``.

    A binary mask selects: every pixel is copied bit for bit from exactly one image, so a NaN or inf in one image
    never reaches a pixel taken from the other (``lerp`` turns ``inf * 0`` into NaN). For finite images it equals
    ``mix_images`` with the same 0/1 mask, bit for bit (up to the sign of a zero, which lerp may drop). The partner
    batch is gathered once and the kept pixels are selected into it in place: one pass over the image after the
    gather, as ``lerp`` takes (out of place when autograd needs the graph).
    """
    keep = mask if mask.dtype == torch.bool else mask != 0
    out = images.index_select(0, perm)
    if images.requires_grad and torch.is_grad_enabled():
        return torch.where(keep, images, out)
    return torch.where(keep, images, out, out=out)


def keep_or_zero(images: Tensor, mask: Tensor) -> Tensor:
    """``images`` where ``mask`` is nonzero, else a zero with the pixel's sign (Cutout's hole).

    Bit for bit ``images * mask`` for finite pixels, but a NaN or inf in the hole becomes a zero too (``inf * 0``
    is NaN). One integer pass on the raw bits (``torch.where`` with autograd).
    """
    keep = mask if mask.dtype == torch.bool else mask != 0
    if images.requires_grad and torch.is_grad_enabled():
        return torch.where(keep, images, torch.zeros((), dtype=images.dtype, device=images.device).copysign(images))
    ints = _bits_dtype(images)
    sign = torch.iinfo(ints).min
    bits = keep.to(ints).mul_(-1 - sign).bitwise_or_(sign)  # every bit where kept, only the sign bit in the hole
    return torch.bitwise_and(images.view(ints), bits).view(images.dtype)


def box_mask(
    centre_y: Tensor, centre_x: Tensor, cut_h: Tensor, cut_w: Tensor, height: int, width: int
) -> tuple[Tensor, Tensor]:
    """Boxes of size ``cut_h x cut_w`` (in pixels) centred at ``(centre_y, centre_x)``, clipped to the image.

    All arguments are ``[B]`` tensors. Returns ``(inside, area)``: ``inside`` is a bool ``[B, 1, H, W]`` mask
    that is True inside each clipped box and ``area`` the clipped box area as a fraction of the image ``[B]``.
    """
    y1 = (centre_y - cut_h // 2).clamp(0, height)
    y2 = (centre_y + cut_h - cut_h // 2).clamp(0, height)
    x1 = (centre_x - cut_w // 2).clamp(0, width)
    x2 = (centre_x + cut_w - cut_w // 2).clamp(0, width)
    rows = torch.arange(height, device=centre_y.device)
    cols = torch.arange(width, device=centre_y.device)
    in_rows = (rows >= y1[:, None]) & (rows < y2[:, None])  # [B, H]
    in_cols = (cols >= x1[:, None]) & (cols < x2[:, None])  # [B, W]
    inside = (in_rows[:, :, None] & in_cols[:, None, :]).unsqueeze(1)
    area = ((y2 - y1) * (x2 - x1)).float() / (height * width)
    return inside, area


def cut_size(lam: Tensor, height: int, width: int) -> tuple[Tensor, Tensor]:
    """CutMix's box side lengths for a pasted area of ``1 - lam``: ``(H * sqrt(1 - lam), W * sqrt(1 - lam))``."""
    ratio = torch.sqrt(1.0 - lam)
    return (ratio * height).long(), (ratio * width).long()


def resize_saliency(saliency: Tensor, size: int) -> Tensor:
    """A saliency map ``[B, h, w]`` on a ``size x size`` region grid (float32).

    Down-sampling averages the cells a region covers (area interpolation); up-sampling is bilinear.
    """
    maps = saliency.float().unsqueeze(1)
    if size <= min(saliency.shape[-2:]):
        return F.adaptive_avg_pool2d(maps, size).squeeze(1)
    return F.interpolate(maps, size=(size, size), mode="bilinear", align_corners=False).squeeze(1)


def upsample_regions(regions: Tensor, height: int, width: int, dtype: torch.dtype) -> Tensor:
    """A region-grid mask ``[B, g, g]`` as a pixel mask ``[B, 1, H, W]`` of ``dtype`` (nearest neighbour).

    When the grid divides the image every region is a block of equal size (a fast repeat); otherwise nearest-exact
    interpolation spreads the remainder pixels over the regions.
    """
    rows, cols = regions.shape[-2:]
    regions = regions.to(dtype)
    if height % rows == 0 and width % cols == 0:
        return regions.repeat_interleave(height // rows, 1).repeat_interleave(width // cols, 2).unsqueeze(1)
    return F.interpolate(regions.unsqueeze(1), size=(height, width), mode="nearest-exact")


def top_k_regions(scores: Tensor, k: Tensor) -> Tensor:
    """Bool mask ``[B, ...]`` of the ``k[i]`` highest-scoring regions of each sample (ties broken by index)."""
    flat = scores.flatten(1)
    order = flat.argsort(dim=1, descending=True, stable=True)
    ranks = torch.empty_like(order).scatter_(1, order, torch.arange(flat.shape[1], device=flat.device).expand_as(order))
    return (ranks < k.unsqueeze(1)).view_as(scores)

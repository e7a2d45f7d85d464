"""A built-in, seeded dataset: ten shapes on cluttered colour backgrounds, where saliency matters. Never evidence."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["SHAPES", "make_synthetic"]

SHAPES = (
    "disk",
    "square",
    "triangle",
    "ring",
    "plus",
    "cross",
    "frame",
    "diamond",
    "bars",
    "half_disk",
)


def _shape_masks(u: Tensor, v: Tensor) -> Tensor:
    """Inside-tests of every class at object coordinates ``(u, v)`` (the object spans [-1, 1]): ``[10, ...]``."""
    r = torch.sqrt(u * u + v * v)
    box = torch.maximum(u.abs(), v.abs())
    return torch.stack(
        [
            r < 1.0,
            box < 0.8,
            (v > -0.8) & (v < 0.8) & (u.abs() < 0.5 * (v + 0.8)),
            (r > 0.55) & (r < 1.0),
            ((u.abs() < 0.3) & (v.abs() < 0.9)) | ((v.abs() < 0.3) & (u.abs() < 0.9)),
            (((u - v).abs() < 0.35) | ((u + v).abs() < 0.35)) & (box < 0.8),
            (box > 0.55) & (box < 0.85),
            u.abs() + v.abs() < 1.0,
            (((v - 0.45).abs() < 0.2) | ((v + 0.45).abs() < 0.2)) & (u.abs() < 0.9),
            (r < 1.0) & (v > 0.0),
        ]
    )


def make_synthetic(num: int, *, size: int = 32, seed: int = 0, clutter: int = 6) -> tuple[Tensor, Tensor]:
    """``num`` uint8 images ``[num, 3, size, size]`` and balanced int64 labels, fully determined by ``seed``.

    Each image is one object of its class's shape (random colour, position and size 35-60 % of the side) on a
    smooth random colour background with ``clutter`` small distractor squares and pixel noise.
    """
    if num < 1 or size < 8:
        raise ValueError(f"num must be >= 1 and size >= 8, got num={num}, size={size}")
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(num) % len(SHAPES)
    labels = labels[torch.randperm(num, generator=g)]
    coarse = torch.rand(num, 3, 4, 4, generator=g)
    images = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1) * 0.7
    ys, xs = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    # Distractors: small squares of random colours.
    for _ in range(clutter):
        cy, cx = (torch.rand(2, num, 1, 1, generator=g) * size).unbind(0)
        half = 1 + torch.rand(num, 1, 1, generator=g) * size / 16
        inside = ((ys - cy).abs() < half) & ((xs - cx).abs() < half)
        colour = torch.rand(num, 3, 1, 1, generator=g)
        images = torch.where(inside.unsqueeze(1), colour, images)
    # The object.
    radius = size * (0.175 + 0.125 * torch.rand(num, 1, 1, generator=g))
    centre = radius + torch.rand(2, num, 1, 1, generator=g) * (size - 2 * radius)
    u, v = (xs - centre[1]) / radius, (ys - centre[0]) / radius
    inside = _shape_masks(u, v)[labels, torch.arange(num)]
    colour = 0.2 + 0.8 * torch.rand(num, 3, 1, 1, generator=g)
    images = torch.where(inside.unsqueeze(1), colour, images)
    images = images + 0.04 * torch.randn(images.shape, generator=g)
    return (images.clamp(0, 1) * 255).round().to(torch.uint8), labels

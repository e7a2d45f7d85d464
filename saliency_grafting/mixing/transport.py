"""PuzzleMix's transport (Kim, Choo & Song, ICML 2020, Section 4.2): salient blocks of each image move into the
region its mask keeps, on a grid that refines the mask's."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from saliency_grafting._validation import check_int, check_number, fail

__all__ = ["transport_blocks", "transport_grid", "transport_plan"]


def _block_distances(n: int, device: torch.device) -> Tensor:
    """Squared distance between the block positions of an ``n x n`` grid, divided by ``(n - 1)^2``: ``[n^2, n^2]``."""
    side = torch.arange(n, device=device, dtype=torch.float32)
    pos = torch.stack(torch.meshgrid(side, side, indexing="ij"), -1).view(-1, 2)
    return torch.cdist(pos, pos) ** 2 / max(n - 1, 1) ** 2


def transport_plan(mask: Tensor, saliency: Tensor, eps: float) -> Tensor:
    """PuzzleMix's greedy transport: move salient blocks into the region ``mask > 0`` keeps, ``[B, N, N]``.

    Cost ``eps * C[i, j] - saliency[i] * z[j]``; ``n`` rounds of: every block i claims its cheapest destination,
    each destination goes to the first of its cheapest claimants (as the official argmin over ``plan * cost`` does:
    unclaimed entries count as 0, so a destination nobody claims below 0 stays empty), and the losers pay 1 more
    for the destination they lost. Claims are kept as indices, so a round costs one argmin over the cost matrix.
    """
    batch, n = mask.shape[0], mask.shape[-1]
    size = n * n
    z = (mask > 0).float().view(batch, 1, size)
    cost = eps * _block_distances(n, mask.device) - saliency.reshape(batch, size, 1) * z
    rows = torch.arange(size, device=cost.device).expand(batch, size)
    wins = torch.zeros(batch, size, dtype=torch.bool, device=cost.device)
    choice = rows
    for _ in range(n):
        choice = cost.argmin(-1)  # [B, N]: the destination each block claims
        claim = cost.gather(-1, choice.unsqueeze(-1)).squeeze(-1)
        best = torch.full_like(claim, torch.inf).scatter_reduce(1, choice, claim, "amin")  # per destination
        first_best = torch.full_like(choice, size).scatter_reduce(
            1, choice, torch.where(claim == best.gather(1, choice), rows, size), "amin"
        )
        # The first block that does not claim destination j (the dense argmin's zeros); size if every block does.
        differs = choice != choice[:, :1]
        first_other = torch.where(differs.any(1), differs.int().argmax(1), size)
        first_free = torch.zeros_like(choice).scatter_(1, choice[:, :1], first_other.unsqueeze(1))
        claimed = first_best < size
        keeps = claimed & ((best < 0) | (first_free == size) | ((best == 0) & (first_best < first_free)))
        wins = keeps.gather(1, choice) & (first_best.gather(1, choice) == rows)
        cost.scatter_add_(-1, choice.unsqueeze(-1), (~wins).to(cost.dtype).unsqueeze(-1))  # cost is this call's own
    return torch.zeros_like(cost).scatter_(-1, choice.unsqueeze(-1), wins.to(cost.dtype).unsqueeze(-1))


def transport_blocks(images: Tensor, plan: Tensor, n: int) -> Tensor:
    """Move the ``n x n`` blocks of ``images`` by ``plan``: output block j = sum_i plan[i, j] * block i."""
    batch, channels, height, width = images.shape
    bh, bw = height // n, width // n
    blocks = images.reshape(batch, channels, n, bh, n, bw).permute(0, 2, 4, 1, 3, 5).reshape(batch, n * n, -1)
    moved = (plan.transpose(-2, -1).to(images.dtype) @ blocks).to(images.dtype)  # autocast may lower the matmul
    return moved.view(batch, n, n, channels, bh, bw).permute(0, 3, 1, 4, 2, 5).reshape(batch, channels, height, width)


def transport_grid(side: int, n: int, size: float | None) -> int:
    """Blocks per side of the transport grid: a refinement of the ``n``-block mask grid that divides ``side``, with
    blocks nearest to ``size`` pixels by ratio (ties to the coarser grid, as the plan's cost grows with the fourth
    power of the count); ``None``: the mask's grid. 32 px and 4 px give 8 (the official CIFAR setting); 28 px gives
    4 or 7 blocks of 7 or 4 px, not the 1-2 px blocks a pixel-exact 4 px would force (a 784 x 784 plan per image)."""
    side = check_int(side, "side", "transport_grid", low=1)
    n = check_int(n, "n", "transport_grid", low=1, high=side)
    if side % n:
        fail(ValueError, "transport_grid", "n", f"a divisor of side {side}", n)
    if size is None:
        return n
    size = check_number(size, "size", "transport_grid", low=0, low_open=True)
    counts = [count for count in range(n, side + 1, n) if side % count == 0]
    return min(counts, key=lambda count: (abs(math.log(side / count / size)), count))

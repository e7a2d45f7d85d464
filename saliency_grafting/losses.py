"""Losses for soft targets: the cross-entropy every mixer's soft labels are trained with."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

__all__ = ["soft_target_cross_entropy"]


def soft_target_cross_entropy(
    logits: Tensor, targets: Tensor, reduction: Literal["mean", "sum", "none"] = "mean"
) -> Tensor:
    """``-sum_k targets_k * log_softmax(logits)_k`` per sample ``[B, K] x [B, K]``, computed in float32."""
    if logits.shape != targets.shape or logits.ndim != 2:
        raise ValueError(
            f"logits and targets must share one shape [B, K], got {tuple(logits.shape)} and {tuple(targets.shape)}"
        )
    loss = -(targets.float() * torch.log_softmax(logits.float(), dim=1)).sum(dim=1)
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")

"""Backward saliency for comparison with the forward one: input gradients (PuzzleMix) and Grad-CAM."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from saliency_grafting.saliency.forward import find_last_conv_stage

__all__ = ["grad_cam", "input_gradient_saliency"]


def input_gradient_saliency(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
    *,
    return_gradient: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """``sqrt(mean_c (dL/dx)^2)`` per pixel, ``[B, H, W]``, from one extra forward and backward pass.

    ``L`` defaults to the cross-entropy *summed* over the batch, so each sample's gradient is that of its own
    loss, whatever the batch size (a mean would shrink it by ``1/B`` and let fp16 underflow). The model's
    parameter gradients are left untouched (``torch.autograd.grad`` w.r.t. the input only); with
    ``return_gradient`` the raw gradient ``[B, C, H, W]`` comes too (PuzzleMix's adversarial noise uses its sign).
    """
    inputs = images.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(inputs)
        loss = (
            loss_fn(logits, labels) if loss_fn is not None else F.cross_entropy(logits.float(), labels, reduction="sum")
        )
        (grad,) = torch.autograd.grad(loss, inputs)
    saliency = grad.float().pow(2).mean(dim=1).sqrt()
    return (saliency, grad.detach()) if return_gradient else saliency


def grad_cam(model: nn.Module, images: Tensor, labels: Tensor | None = None, layer: str | None = None) -> Tensor:
    """Grad-CAM (Selvaraju et al., 2017) at ``layer`` (default: the last conv stage), ``[B, h, w]``.

    ``relu(sum_c w_c A_c)`` with ``w_c`` the spatial mean of ``d logit_y / d A_c``; ``y`` is ``labels`` or, when
    ``None``, the predicted class.
    """
    module = model.get_submodule(layer if layer is not None else find_last_conv_stage(model))
    kept: list[Tensor] = []
    handle = module.register_forward_hook(lambda m, i, out: kept.append(out))
    try:
        with torch.enable_grad():
            logits = model(images.detach())
            features = kept[-1]
            target = labels if labels is not None else logits.argmax(dim=1)
            score = logits.gather(1, target.view(-1, 1)).sum()
            (grad,) = torch.autograd.grad(score, features)
    finally:
        handle.remove()
    weights = grad.float().mean(dim=(2, 3), keepdim=True)
    return F.relu((weights * features.detach().float()).sum(dim=1))

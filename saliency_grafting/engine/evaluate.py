"""Evaluation: top-1 / top-5 error and loss over a loader, summed across ranks when distributed."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from saliency_grafting.engine.progress import progress as track

__all__ = ["evaluate"]


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: Iterable[tuple[Tensor, Tensor]],
    *,
    autocast: Callable[[], contextlib.AbstractContextManager] | None = None,
    transform: Callable[[Tensor, Tensor], Tensor] | None = None,
    progress: bool = False,
    desc: str = "evaluating",
    lines: bool = True,
) -> dict[str, float]:
    """``{"top1_error", "top5_error", "loss", "count"}`` (errors in %); ``transform(images, labels)`` edits inputs.

    ``progress``: a bar of the batches on a terminal; elsewhere a start and an end line on stderr (unless ``lines`` is
    false, as between training epochs, whose own line reports the test error).
    """
    was_training = model.training
    model.eval()
    totals: Tensor | None = None
    for images, labels in track(batches, desc=desc, enabled=progress, unit="batches", lines=lines):
        if transform is not None:
            images = transform(images, labels)
        with autocast() if autocast is not None else torch.autocast(images.device.type, enabled=False):
            logits = model(images).float()
        k = min(5, logits.shape[1])
        top = logits.topk(k, dim=1).indices
        hits = top == labels[:, None]
        batch = torch.stack(
            [
                hits[:, 0].sum().float(),
                hits.any(dim=1).sum().float(),
                F.cross_entropy(logits, labels, reduction="sum"),
                torch.tensor(float(len(labels)), device=logits.device),
            ]
        )
        totals = batch if totals is None else totals + batch
    model.train(was_training)
    if totals is None:
        raise ValueError("evaluate got no batches")
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(totals)
    top1, top5, loss, count = totals.tolist()
    return {
        "top1_error": 100.0 * (1 - top1 / count),
        "top5_error": 100.0 * (1 - top5 / count),
        "loss": loss / count,
        "count": int(count),
    }

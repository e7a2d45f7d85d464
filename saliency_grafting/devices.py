"""Devices and precision, in one place for every layer: where draws are made and moved, which device a run uses,
and the autocast dtype of each ``amp`` setting."""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor

__all__ = ["AMP_DTYPES", "autocast", "draw_device", "resolve_device", "to_device"]

# The ``amp`` setting of a config -> the autocast dtype (None: full precision).
AMP_DTYPES: dict[str, torch.dtype | None] = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def draw_device(generator: torch.Generator | None) -> torch.device:
    """The device random numbers are drawn on: the generator's own (CPU for the default generator).

    Drawing on the generator's device and moving the small result to the batch's device (``to_device``: pinned
    memory, a non-blocking copy) keeps seeded runs identical on every device without blocking the host.
    """
    return generator.device if generator is not None else torch.device("cpu")


def to_device(tensor: Tensor, device: torch.device | None) -> Tensor:
    """Move a small drawn tensor to ``device`` without blocking the host (pinned memory, non-blocking copy)."""
    if device is None or tensor.device == device:
        return tensor
    if tensor.device.type == "cpu" and device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """The device of a config's ``device`` (``auto``: this process's GPU under torchrun, else the CPU); a CUDA
    device becomes the current one."""
    if name == "auto":
        name = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


def autocast(device: torch.device, amp: str) -> contextlib.AbstractContextManager:
    """The autocast context of the ``amp`` setting on ``device`` (disabled for ``none``)."""
    dtype = AMP_DTYPES[amp]
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)

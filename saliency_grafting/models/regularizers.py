"""Model regularisers: ShakeDrop on residual branches and DropBlock after the last two stages."""

from __future__ import annotations

import re
from typing import Any

import torch
from torch import Tensor, nn
from torchvision.ops import DropBlock2d

__all__ = ["REGULARIZERS", "ShakeDrop", "add_dropblock", "add_shakedrop", "apply_regularizer"]


class _ShakeDropFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, gate: Tensor, alpha: Tensor) -> Tensor:
        ctx.save_for_backward(gate)
        return x * (gate + alpha - gate * alpha)  # b + alpha - b * alpha

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        (gate,) = ctx.saved_tensors
        beta = torch.rand((grad.shape[0], *[1] * (grad.ndim - 1)), device=grad.device, dtype=grad.dtype)
        return grad * (gate + beta - gate * beta), None, None


class ShakeDrop(nn.Module):
    """ShakeDrop (Yamada et al., 2019) on a residual branch with drop probability ``p``.

    Training: forward ``(b + alpha - b alpha) F(x)`` with ``b ~ Bernoulli(1 - p)`` per batch and ``alpha ~ U[-1, 1]``
    per sample; backward ``(b + beta - b beta)`` with ``beta ~ U[0, 1]`` per sample. Evaluation: ``(1 - p) F(x)``.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"ShakeDrop p must be in [0, 1], got {p!r}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return x * (1 - self.p)
        gate = torch.bernoulli(torch.full((1,) * x.ndim, 1 - self.p, device=x.device, dtype=x.dtype))
        alpha = torch.empty((x.shape[0], *[1] * (x.ndim - 1)), device=x.device, dtype=x.dtype).uniform_(-1, 1)
        return _ShakeDropFunction.apply(x, gate, alpha)

    def extra_repr(self) -> str:
        return f"p={self.p:.4f}"


def add_shakedrop(model: nn.Module, p_last: float = 0.5) -> nn.Module:
    """Put ``ShakeDrop(p_l = p_last * l / L)`` on the residual branch of each of the ``L`` blocks (linear rule)."""
    blocks = [m for m in model.modules() if isinstance(getattr(m, "regulariser", None), nn.Identity)]
    if not blocks:
        raise ValueError(f"{type(model).__name__} has no residual blocks with a 'regulariser' slot for ShakeDrop")
    for index, block in enumerate(blocks, start=1):
        block.regulariser = ShakeDrop(p_last * index / len(blocks))
    return model


def _stage_names(model: nn.Module) -> list[str]:
    pattern = re.compile(r"^(module\.)?(layer|block|stage)\d+$")
    return [name for name, _ in model.named_modules() if pattern.match(name)]


def add_dropblock(model: nn.Module, p: float = 0.1, block_size: int = 3) -> nn.Module:
    """Append ``DropBlock2d(p, block_size)`` (torchvision) to the outputs of the model's last two stages."""
    stages = _stage_names(model)
    if len(stages) < 2:
        raise ValueError(f"{type(model).__name__} has no stages named layerN / blockN / stageN for DropBlock")
    for name in stages[-2:]:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        setattr(parent, child, nn.Sequential(getattr(parent, child), DropBlock2d(p, block_size)))
    return model


REGULARIZERS = {"none": lambda model, **kw: model, "shakedrop": add_shakedrop, "dropblock": add_dropblock}


def apply_regularizer(model: nn.Module, name: str, **kwargs: Any) -> nn.Module:
    """Add the regulariser ``name`` (``none``, ``shakedrop``, ``dropblock``) to ``model`` in place."""
    if name not in REGULARIZERS:
        raise ValueError(f"unknown regularizer {name!r}; valid names: {', '.join(REGULARIZERS)}")
    try:
        return REGULARIZERS[name](model, **kwargs)
    except TypeError as err:
        raise ValueError(f"regularizer {name!r}: {err}") from None

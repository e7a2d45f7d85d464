"""CIFAR-10/100 in torchvision's pickled format, loaded as uint8 tensors."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from saliency_grafting.data.folders import DataError

__all__ = ["load_cifar"]


def load_cifar(name: str, root: Path, *, download: bool) -> tuple[Tensor, Tensor, Tensor, Tensor, list[str]]:
    """``(train_x, train_y, test_x, test_y, classes)`` of ``cifar10`` or ``cifar100`` under ``root``."""
    from torchvision.datasets import CIFAR10, CIFAR100

    cls = CIFAR10 if name == "cifar10" else CIFAR100
    try:
        train = cls(str(root), train=True, download=download)
        test = cls(str(root), train=False, download=download)
    except RuntimeError as err:  # torchvision: "Dataset not found or corrupted."
        raise DataError(
            f"{name} not found under {root} ({err}); pass --download when online, or point --data-dir at the "
            f"folder holding {cls.base_folder}/"
        ) from None
    except OSError as err:
        raise DataError(f"cannot download {name} to {root}: {err}; this machine may be offline") from None

    def tensors(split: CIFAR10) -> tuple[Tensor, Tensor]:
        return torch.from_numpy(split.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(split.targets)

    return *tensors(train), *tensors(test), list(train.classes)

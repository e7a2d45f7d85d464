"""CIFAR-10 and CIFAR-100 in torchvision's pickled format (``--download`` fetches them when online)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch

from saliency_grafting.data.base import Dataset
from saliency_grafting.data.cifar import load_cifar
from saliency_grafting.data.registry import DatasetSource, register_dataset

__all__ = ["Cifar10", "Cifar100"]


class _Cifar(DatasetSource):
    options: ClassVar[dict[str, Any]] = {"download": False}
    stats: ClassVar[tuple[tuple[float, ...], tuple[float, ...]]]

    def load(self, root: Path | None, *, image_size: int | None, seed: int, progress: bool, **options: Any) -> Dataset:
        root = self.folder(root)
        train_x, train_y, test_x, test_y, classes = load_cifar(self.name, root, download=options["download"])
        mean, std = map(torch.tensor, self.stats)
        return Dataset(
            self.name, classes, mean, std, 32, train_x, train_y, test_x, test_y, fingerprint=self.fingerprint(root)
        )


@register_dataset
class Cifar10(_Cifar):
    name = "cifar10"
    description = "CIFAR-10, torchvision's pickled batches (10 classes, 32 px)"
    stats = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))


@register_dataset
class Cifar100(_Cifar):
    name = "cifar100"
    description = "CIFAR-100, torchvision's pickled batches (100 classes, 32 px)"
    stats = ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))

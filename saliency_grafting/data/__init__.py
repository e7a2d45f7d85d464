"""Datasets by name (cifar10, cifar100, imagefolder, synthetic), per-class subsets, and their batch loaders."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from saliency_grafting.data.cifar import load_cifar
from saliency_grafting.data.folders import DataError, decode_folder, find_split, list_folder
from saliency_grafting.data.loader import TensorLoader, normalize
from saliency_grafting.data.stream import StreamLoader
from saliency_grafting.data.synthetic import SHAPES, make_synthetic

__all__ = [
    "DATASETS",
    "DataError",
    "Dataset",
    "StreamLoader",
    "TensorLoader",
    "class_balanced_subset",
    "load_dataset",
    "make_synthetic",
    "normalize",
    "subset",
    "validation_split",
]

DATASETS = ("cifar10", "cifar100", "imagefolder", "synthetic")
VALIDATION_SEED = 12345  # the validation split's draw, fixed: independent of the run seed
_STATS = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


@dataclass
class Dataset:
    """A train and a test split: uint8 tensors when resident, file lists when streamed."""

    name: str
    classes: list[str]
    mean: Tensor
    std: Tensor
    image_size: int
    train_images: Tensor | None = None  # uint8 [N, 3, H, W]
    train_labels: Tensor | None = None
    test_images: Tensor | None = None
    test_labels: Tensor | None = None
    train_files: tuple[list[Path], list[int]] | None = field(default=None, repr=False)
    test_files: tuple[list[Path], list[int]] | None = field(default=None, repr=False)
    evaluation: str = "test"  # what the test split holds: "test", or "validation" (held-out training images)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def resident(self) -> bool:
        return self.train_images is not None

    @property
    def num_train(self) -> int:
        return len(self.train_labels) if self.train_labels is not None else len(self.train_files[1])


def class_balanced_subset(labels: Tensor, per_class: int, seed: int) -> Tensor:
    """Sorted indices of ``per_class`` samples of every class, drawn without replacement from a seeded generator."""
    g = torch.Generator().manual_seed(seed)
    picked = []
    for cls in labels.unique().tolist():
        members = (labels == cls).nonzero().flatten()
        if len(members) < per_class:
            raise DataError(f"--per-class {per_class}: class {cls} has only {len(members)} training samples")
        picked.append(members[torch.randperm(len(members), generator=g)[:per_class]])
    return torch.cat(picked).sort().values


def _positive(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a positive int, got {value!r}")
    if value < 1:
        raise DataError(f"{name} must be a positive int, got {value}")
    return value


def validation_split(labels: Tensor, train: Tensor, val_per_class: int, seed: int = VALIDATION_SEED) -> Tensor:
    """Sorted indices of ``val_per_class`` samples of every class that the training indices ``train`` do not use.

    Each class's samples are put in one fixed order drawn from ``seed`` (not the run's seed); the validation set is
    the first ``val_per_class`` of them outside ``train``, so runs whose subsets differ share most of it.
    """
    val_per_class = _positive("--val-per-class", val_per_class)
    g = torch.Generator().manual_seed(seed)
    used = torch.zeros(len(labels), dtype=torch.bool)
    used[train] = True
    picked = []
    for cls in labels.unique().tolist():
        members = (labels == cls).nonzero().flatten()
        order = members[torch.randperm(len(members), generator=g)]
        free = order[~used[order]]
        if len(free) < val_per_class:
            raise DataError(
                f"--val-per-class {val_per_class}: class {cls} has only {len(free)} unused training samples"
            )
        picked.append(free[:val_per_class])
    return torch.cat(picked).sort().values


def subset(data: Dataset, per_class: int, seed: int, val_per_class: int | None = None) -> Dataset:
    """``data`` with a seeded class-balanced training subset; with ``val_per_class``, the test split is replaced by
    a validation split of training images the subset does not use (see ``validation_split``)."""
    per_class = _positive("--per-class", per_class)
    resident = data.resident
    labels = data.train_labels if resident else torch.tensor(data.train_files[1])
    keep = class_balanced_subset(labels, per_class, seed)
    held = None if val_per_class is None else validation_split(labels, keep, val_per_class)
    if resident:
        out = dataclasses.replace(data, train_images=data.train_images[keep], train_labels=data.train_labels[keep])
        if held is not None:
            out.test_images, out.test_labels = data.train_images[held], data.train_labels[held]
    else:
        paths, names = data.train_files
        out = dataclasses.replace(
            data, train_files=([paths[i] for i in keep.tolist()], [names[i] for i in keep.tolist()])
        )
        if held is not None:
            out.test_files = ([paths[i] for i in held.tolist()], [names[i] for i in held.tolist()])
    if held is not None:
        out.evaluation = "validation"
    return out


def _stats(images: Tensor) -> tuple[Tensor, Tensor]:
    """Per-channel mean and std of (an evenly strided sample of at most ~10k of) the train images."""
    x = images[:: max(1, len(images) // 10_000)].float().div(255)
    return x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3))


def load_dataset(
    name: str,
    data_dir: str | Path | None = None,
    *,
    download: bool = False,
    per_class: int | None = None,
    seed: int = 0,
    image_size: int | None = None,
    max_resident_gib: float = 4.0,
    synthetic_size: tuple[int, int] = (5000, 1000),
    val_per_class: int | None = None,
    progress: bool = False,
) -> Dataset:
    """Load ``name`` (one of ``DATASETS``); ``per_class`` keeps a seeded class-balanced subset of the train split.

    ``val_per_class`` (needs ``per_class``) evaluates on that many unused training images per class instead of the
    test split, drawn independently of ``seed`` (``validation_split``): the split to tune on.
    """
    if val_per_class is not None and per_class is None:
        raise DataError("--val-per-class needs --per-class: the validation images are those the subset leaves out")
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}")
    if name == "synthetic":
        size = image_size or 32
        train_x, train_y = make_synthetic(synthetic_size[0], size=size, seed=seed)
        test_x, test_y = make_synthetic(synthetic_size[1], size=size, seed=seed + 1_000_003)
        data = Dataset(name, list(SHAPES), *_stats(train_x), size, train_x, train_y, test_x, test_y)
    else:
        if data_dir is None:
            raise DataError(f"--data-dir is required for dataset {name!r}")
        root = Path(data_dir).expanduser()
        if not root.is_dir() and not (name.startswith("cifar") and download):
            raise DataError(f"--data-dir {root} is not a directory")
        if name.startswith("cifar"):
            train_x, train_y, test_x, test_y, classes = load_cifar(name, root, download=download)
            data = Dataset(name, classes, *map(torch.tensor, _STATS[name]), 32, train_x, train_y, test_x, test_y)
        else:
            data = _load_folder(root, image_size, max_resident_gib, progress=progress)
    if per_class is not None:
        data = subset(data, per_class, seed, val_per_class)
    return data


def _load_folder(root: Path, image_size: int | None, max_resident_gib: float, *, progress: bool = False) -> Dataset:
    train_paths, train_labels, classes = list_folder(find_split(root, ("train",)))
    test_paths, test_labels, _ = list_folder(find_split(root, ("test", "val")), classes)
    probe = decode_folder(train_paths[:1], image_size)
    size = image_size or probe.shape[-1]
    estimate = probe.numel() * (len(train_paths) + len(test_paths)) / 2**30
    if estimate > max_resident_gib:
        mean, std = map(torch.tensor, _STATS["imagenet"])
        return Dataset("imagefolder", classes, mean, std, size,
                       train_files=(train_paths, train_labels), test_files=(test_paths, test_labels))  # fmt: skip
    train_x = decode_folder(train_paths, image_size, progress=progress, desc=f"decoding {root.name}/train")
    test_x = decode_folder(test_paths, image_size, progress=progress, desc=f"decoding {root.name}/test")
    return Dataset("imagefolder", classes, *_stats(train_x), size, train_x, torch.tensor(train_labels), test_x,
                   torch.tensor(test_labels))  # fmt: skip

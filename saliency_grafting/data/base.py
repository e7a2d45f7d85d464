"""A loaded dataset (uint8 tensors, or file lists when streamed), its augmentation policy, and per-class subsets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch
from torch import Tensor

from saliency_grafting._validation import check_int
from saliency_grafting.data.folders import DataError

__all__ = [
    "VALIDATION_SEED",
    "Augment",
    "Dataset",
    "channel_stats",
    "class_balanced_subset",
    "subset",
    "validation_split",
]

VALIDATION_SEED = 12345  # the validation split's draw, fixed: independent of the run seed


@dataclass(frozen=True, kw_only=True)
class Augment:
    """The training augmentation a dataset's images admit: a random crop of a reflect-padded image, and flips.

    ``pad_fraction``: the padding as a fraction of the image side (1/8: 4 px at 32 px, 8 px at 64 px), at least one
    pixel; 0 turns the crop off. ``flip``: horizontal flips (wrong for time-frequency maps, where they reverse time).
    """

    pad_fraction: float = 1 / 8
    flip: bool = True

    def pad(self, size: int) -> int:
        return max(int(size * self.pad_fraction), 1) if self.pad_fraction > 0 else 0


@dataclass
class Dataset:
    """A train and a test split: uint8 tensors ``[N, C, H, W]`` when resident, file lists when streamed.

    ``augment`` is the training augmentation the data admits (None: none). ``train_boxes`` / ``test_boxes``: one
    object box per image, ``[N, 4]`` float ``(x0, y0, x1, y1)`` in pixels with inclusive corners, where the dataset
    has them. ``fingerprint`` identifies the data read (see ``registry.fingerprint``); ``None`` for generated data.
    """

    name: str
    classes: list[str]
    mean: Tensor
    std: Tensor
    image_size: int
    train_images: Tensor | None = None
    train_labels: Tensor | None = None
    test_images: Tensor | None = None
    test_labels: Tensor | None = None
    train_files: tuple[list[Path], list[int]] | None = field(default=None, repr=False)
    test_files: tuple[list[Path], list[int]] | None = field(default=None, repr=False)
    evaluation: str = "test"  # what the test split holds: "test", or "validation" (held-out training images)
    augment: Augment | None = field(default_factory=Augment)
    train_boxes: Tensor | None = field(default=None, repr=False)
    test_boxes: Tensor | None = field(default=None, repr=False)
    fingerprint: str | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def resident(self) -> bool:
        return self.train_images is not None

    @property
    def channels(self) -> int:
        return self.train_images.shape[1] if self.train_images is not None else len(self.mean)

    @property
    def num_train(self) -> int:
        return len(self.labels("train"))

    @property
    def num_test(self) -> int:
        return len(self.labels("test"))

    def tensors(self, split: str) -> tuple[Tensor, Tensor]:
        """``(images, labels)`` of a resident split (``"train"`` or ``"test"``)."""
        images, labels = getattr(self, f"{split}_images"), getattr(self, f"{split}_labels")
        if images is None or labels is None:
            raise ValueError(f"dataset {self.name!r} is streamed from files: it holds no {split} tensors")
        return images, labels

    def files(self, split: str) -> tuple[list[Path], list[int]]:
        """``(paths, labels)`` of a streamed split (``"train"`` or ``"test"``)."""
        found = getattr(self, f"{split}_files")
        if found is None:
            raise ValueError(f"dataset {self.name!r} is held in memory: it has no {split} file list")
        return found

    def labels(self, split: str) -> Tensor:
        """The labels of a split, resident or streamed."""
        return self.tensors(split)[1] if self.resident else torch.tensor(self.files(split)[1])


def channel_stats(images: Tensor) -> tuple[Tensor, Tensor]:
    """Per-channel mean and std of (an evenly strided sample of at most ~10k of) uint8 images ``[N, C, H, W]``."""
    x = images[:: max(1, len(images) // 10_000)].float().div(255)
    return x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3))


def _positive(name: str, value: object) -> int:
    return check_int(value, name, low=1, error=partial(DataError, field=name))


def class_balanced_subset(labels: Tensor, per_class: int, seed: int) -> Tensor:
    """Sorted indices of ``per_class`` samples of every class, drawn without replacement from a seeded generator."""
    g = torch.Generator().manual_seed(seed)
    picked = []
    for cls in labels.unique().tolist():
        members = (labels == cls).nonzero().flatten()
        if len(members) < per_class:
            raise DataError(
                f"per_class {per_class}: class {cls} has only {len(members)} training samples", field="per_class"
            )
        picked.append(members[torch.randperm(len(members), generator=g)[:per_class]])
    return torch.cat(picked).sort().values


def validation_split(labels: Tensor, train: Tensor, val_per_class: int, seed: int = VALIDATION_SEED) -> Tensor:
    """Sorted indices of ``val_per_class`` samples of every class that the training indices ``train`` do not use.

    Each class's samples are put in one fixed order drawn from ``seed`` (not the run's seed); the validation set is
    the first ``val_per_class`` of them outside ``train``, so runs whose subsets differ share most of it.
    """
    val_per_class = _positive("val_per_class", val_per_class)
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
                f"val_per_class {val_per_class}: class {cls} has only {len(free)} unused training samples",
                field="val_per_class",
            )
        picked.append(free[:val_per_class])
    return torch.cat(picked).sort().values


def _pick(files: tuple[list[Path], list[int]], index: Tensor) -> tuple[list[Path], list[int]]:
    paths, labels = files
    return [paths[i] for i in index.tolist()], [labels[i] for i in index.tolist()]


def subset(data: Dataset, per_class: int, seed: int, val_per_class: int | None = None) -> Dataset:
    """``data`` with a seeded class-balanced training subset; with ``val_per_class``, the test split is replaced by
    a validation split of training images the subset does not use (see ``validation_split``). Boxes follow their
    images."""
    per_class = _positive("per_class", per_class)
    labels = data.labels("train")
    keep = class_balanced_subset(labels, per_class, seed)
    held = None if val_per_class is None else validation_split(labels, keep, val_per_class)
    boxes = data.train_boxes
    if data.resident:
        images, labels = data.tensors("train")
        out = dataclasses.replace(data, train_images=images[keep], train_labels=labels[keep])
        if held is not None:
            out.test_images, out.test_labels = images[held], labels[held]
    else:
        out = dataclasses.replace(data, train_files=_pick(data.files("train"), keep))
        if held is not None:
            out.test_files = _pick(data.files("train"), held)
    out.train_boxes = None if boxes is None else boxes[keep]
    if held is not None:
        out.evaluation = "validation"
        out.test_boxes = None if boxes is None else boxes[held]
    return out

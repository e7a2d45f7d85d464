"""Any folder of images in ImageFolder layout: ``train/<class>/*`` and ``test/<class>/*`` (or ``val/``)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, ClassVar

import torch

from saliency_grafting.data.base import Dataset, channel_stats
from saliency_grafting.data.folders import decode_folder, find_split, list_folder
from saliency_grafting.data.registry import DatasetSource, register_dataset

__all__ = ["IMAGENET_STATS", "ImageFolder", "folder_fingerprint"]

IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
_TEST_SPLITS = ("test", "val")


def folder_fingerprint(root: Path, splits: dict[str, list[Path]]) -> str:
    """sha256 (16 hex digits) of each split's file paths relative to ``root`` and their sizes, in order."""
    digest = hashlib.sha256()
    for split, paths in splits.items():
        digest.update(f"[{split}]\n".encode())
        for path in paths:
            digest.update(f"{path.relative_to(root).as_posix()}\t{path.stat().st_size}\n".encode())
    return digest.hexdigest()[:16]


@register_dataset
class ImageFolder(DatasetSource):
    name = "imagefolder"
    description = "your own images: DIR/train/<class>/* and DIR/test/<class>/* (or val/), RGB"
    options: ClassVar[dict[str, Any]] = {"max_resident_gib": 4.0}

    def listing(self, root: Path) -> tuple[list[Path], list[int], list[Path], list[int], list[str]]:
        train_paths, train_labels, classes = list_folder(find_split(root, ("train",)))
        test_paths, test_labels, _ = list_folder(find_split(root, _TEST_SPLITS), classes)
        return train_paths, train_labels, test_paths, test_labels, classes

    def fingerprint(self, root: Path | None) -> str | None:
        if root is None:
            return None
        train_paths, _, test_paths, _, _ = self.listing(root)
        return folder_fingerprint(root, {"train": train_paths, "test": test_paths})

    def load(self, root: Path | None, *, image_size: int | None, seed: int, progress: bool, **options: Any) -> Dataset:
        train_paths, train_labels, test_paths, test_labels, classes = self.listing(root)
        fingerprint = folder_fingerprint(root, {"train": train_paths, "test": test_paths})
        probe = decode_folder(train_paths[:1], image_size)
        size = image_size or probe.shape[-1]
        if probe.numel() * (len(train_paths) + len(test_paths)) / 2**30 > options["max_resident_gib"]:
            mean, std = map(torch.tensor, IMAGENET_STATS)
            return Dataset(self.name, classes, mean, std, size, train_files=(train_paths, train_labels),
                           test_files=(test_paths, test_labels), fingerprint=fingerprint)  # fmt: skip
        train_x = decode_folder(train_paths, image_size, progress=progress, desc=f"decoding {root.name}/train")
        test_x = decode_folder(test_paths, image_size, progress=progress, desc=f"decoding {root.name}/test")
        return Dataset(self.name, classes, *channel_stats(train_x), size, train_x, torch.tensor(train_labels), test_x,
                       torch.tensor(test_labels), fingerprint=fingerprint)  # fmt: skip

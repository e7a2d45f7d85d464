"""Any folder of images in ImageFolder layout: ``train/<class>/*`` and ``test/<class>/*`` (or ``val/``).

Options: ``grey`` reads one-channel images (scans, digits); ``test_per_class`` holds that many training images per
class out as the test split when the folder has none (a fixed draw, the same for every run); ``max_resident_gib``:
above it the images are streamed from the files instead of held in memory.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, ClassVar

import torch

from saliency_grafting.data.base import VALIDATION_SEED, Dataset, channel_stats, class_balanced_subset
from saliency_grafting.data.folders import DataError, decode_folder, find_split, list_folder
from saliency_grafting.data.registry import DatasetSource, register_dataset

__all__ = ["IMAGENET_STATS", "ImageFolder", "folder_fingerprint"]

IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
_TEST_SPLITS = ("test", "val")
TEST_SEED = VALIDATION_SEED + 1  # the draw of a test split held out of train/, fixed: independent of the run


def folder_fingerprint(root: Path, splits: dict[str, list[Path]]) -> str:
    """sha256 (16 hex digits) of each split's file paths relative to ``root`` and their sizes, in order."""
    digest = hashlib.sha256()
    for split, paths in splits.items():
        digest.update(f"[{split}]\n".encode())
        for path in paths:
            digest.update(f"{path.relative_to(root).as_posix()}\t{path.stat().st_size}\n".encode())
    return digest.hexdigest()[:16]


Listing = tuple[list[Path], list[int], list[Path], list[int], list[str]]


@register_dataset
class ImageFolder(DatasetSource):
    name = "imagefolder"
    description = "your own images: DIR/train/<class>/* and DIR/test/<class>/* (or val/)"
    options: ClassVar[dict[str, Any]] = {"max_resident_gib": 4.0, "grey": False, "test_per_class": None}

    def listing(self, root: Path, test_per_class: int | None = None) -> Listing:
        """Training and test files and labels, and the classes; the test split held out of train/ if asked."""
        train_paths, train_labels, classes = list_folder(find_split(root, ("train",)))
        if not any((root / name).is_dir() for name in _TEST_SPLITS) and test_per_class is not None:
            held = set(class_balanced_subset(torch.tensor(train_labels), test_per_class, TEST_SEED).tolist())
            test = [(p, y) for i, (p, y) in enumerate(zip(train_paths, train_labels, strict=True)) if i in held]
            train = [(p, y) for i, (p, y) in enumerate(zip(train_paths, train_labels, strict=True)) if i not in held]
            return [p for p, _ in train], [y for _, y in train], [p for p, _ in test], [y for _, y in test], classes
        if test_per_class is not None:
            raise DataError(
                f"test_per_class: {root} has a test split already; leave the option out", field="dataset_args"
            )
        test_paths, test_labels, _ = list_folder(find_split(root, _TEST_SPLITS), classes)
        return train_paths, train_labels, test_paths, test_labels, classes

    def fingerprint(self, root: Path | None) -> str | None:
        if root is None:
            return None
        train_paths, _, classes = list_folder(find_split(root, ("train",)))
        tests = [root / name for name in _TEST_SPLITS if (root / name).is_dir()]
        test_paths = list_folder(tests[0], classes)[0] if tests else []
        return folder_fingerprint(root, {"train": train_paths, "test": test_paths})

    def load(self, root: Path | None, *, image_size: int | None, seed: int, progress: bool, **options: Any) -> Dataset:
        root = self.folder(root)
        train_paths, train_labels, test_paths, test_labels, classes = self.listing(root, options["test_per_class"])
        fingerprint = self.fingerprint(root)
        mode = "L" if options["grey"] else "RGB"
        probe = decode_folder(train_paths[:1], image_size, mode=mode)
        size = image_size or probe.shape[-1]
        if probe.numel() * (len(train_paths) + len(test_paths)) / 2**30 > options["max_resident_gib"]:
            if options["grey"]:
                raise DataError(
                    "grey: streamed image folders are read as RGB; lower the data or raise max_resident_gib",
                    field="dataset_args",
                )
            mean, std = map(torch.tensor, IMAGENET_STATS)
            return Dataset(
                self.name,
                classes,
                mean,
                std,
                size,
                train_files=(train_paths, train_labels),
                test_files=(test_paths, test_labels),
                fingerprint=fingerprint,
            )
        train_x = decode_folder(
            train_paths, image_size, progress=progress, desc=f"decoding {root.name}/train", mode=mode
        )
        test_x = decode_folder(test_paths, image_size, progress=progress, desc=f"decoding {root.name}/test", mode=mode)
        held = "test" if test_paths and train_paths[0].parent.parent != test_paths[0].parent.parent else "held-out test"
        return Dataset(
            self.name,
            classes,
            *channel_stats(train_x),
            size,
            train_x,
            torch.tensor(train_labels),
            test_x,
            torch.tensor(test_labels),
            fingerprint=fingerprint,
            evaluation=held,
        )

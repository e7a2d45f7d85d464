"""Tiny-ImageNet-200 (64 px, 200 classes) with one object box per image, the validation split as the test set.

The folder as ``../shared/data/tiny-imagenet-200-250.tar.gz`` unpacks: ``train/<wnid>/*.JPEG``, ``val/<wnid>/*.JPEG``
and ``train_boxes.tsv`` / ``val_boxes.tsv`` (path, wnid, x0, y0, x1, y1: pixels, inclusive corners). ``classes``
keeps N of the 200 (the first N in sorted order, or N drawn with ``class_seed``); boxes scale with ``image_size``.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor

from saliency_grafting._validation import check_int
from saliency_grafting.data.base import Dataset, channel_stats
from saliency_grafting.data.folders import DataError, decode_folder, list_folder
from saliency_grafting.data.registry import DatasetSource, register_dataset
from saliency_grafting.data.sources.imagefolder import folder_fingerprint

__all__ = ["TinyImageNet", "read_boxes", "scale_boxes"]

_SIDE = 64  # the images' side in the archive: boxes are given in its pixels
_BOX_FILES = {"train": "train_boxes.tsv", "val": "val_boxes.tsv"}


def read_boxes(path: Path) -> dict[str, tuple[int, int, int, int]]:
    """``{relative image path: (x0, y0, x1, y1)}`` from a box TSV; a ``DataError`` naming the file and line."""
    if not path.is_file():
        raise DataError(f"box file {path} is missing: tinyimagenet needs {' and '.join(_BOX_FILES.values())}")
    boxes = {}
    with path.open(newline="") as handle:
        rows = csv.reader(handle, delimiter="\t")
        header = next(rows, None)
        if header is None or header[:1] != ["path"] or len(header) != 6:
            raise DataError(f"box file {path}: expected the header 'path wnid x0 y0 x1 y1' (tab-separated)")
        for line, row in enumerate(rows, start=2):
            try:
                x0, y0, x1, y1 = (int(v) for v in row[2:])
                if len(row) != 6 or not (0 <= x0 <= x1 < _SIDE and 0 <= y0 <= y1 < _SIDE):
                    raise ValueError
            except ValueError:
                raise DataError(
                    f"box file {path}, line {line}: expected path, wnid and four pixel corners "
                    f"0 <= x0 <= x1 < {_SIDE}, 0 <= y0 <= y1 < {_SIDE}, got {row}"
                ) from None
            boxes[row[0]] = (x0, y0, x1, y1)
    return boxes


def scale_boxes(boxes: Tensor, size: int) -> Tensor:
    """Inclusive pixel boxes of a ``_SIDE`` image, as inclusive boxes of the image resized to ``size``."""
    factor = size / _SIDE
    start, end = boxes[:, :2] * factor, (boxes[:, 2:] + 1) * factor - 1
    return torch.cat([start, end], dim=1)


@register_dataset
class TinyImageNet(DatasetSource):
    name = "tinyimagenet"
    description = "Tiny-ImageNet-200 with object boxes (64 px; val/ is the test split)"
    has_boxes = True
    options: ClassVar[dict[str, Any]] = {"classes": None, "class_seed": None}

    def fingerprint(self, root: Path | None) -> str | None:
        if root is None:
            return None
        train, _, classes = list_folder(root / "train")
        val, _, _ = list_folder(root / "val", classes)
        boxes = [root / name for name in _BOX_FILES.values() if (root / name).is_file()]
        return folder_fingerprint(root, {"train": train, "test": val, "boxes": boxes})

    def _classes(self, root: Path, count: int | None, seed: int | None) -> list[str]:
        every = sorted(d.name for d in (root / "train").iterdir() if d.is_dir())
        if count is None:
            return every
        count = check_int(
            count, "classes", "tinyimagenet option", low=1, high=len(every), error=DataError, type_error=DataError
        )
        if seed is None:
            return every[:count]
        order = torch.randperm(len(every), generator=torch.Generator().manual_seed(seed))
        return sorted(every[i] for i in order[:count].tolist())

    def load(self, root: Path | None, *, image_size: int | None, seed: int, progress: bool, **options: Any) -> Dataset:
        root = self.folder(root)
        for split in _BOX_FILES:
            if not (root / split).is_dir():
                raise DataError(f"{root} has no {split}/ folder: expected the unpacked tiny-imagenet-200 folder")
        classes = self._classes(root, options["classes"], options["class_seed"])
        splits = {}
        for split, box_file in _BOX_FILES.items():
            paths, labels, _ = list_folder(root / split, classes)
            table = read_boxes(root / box_file)
            missing = [p for p in paths if p.relative_to(root).as_posix() not in table]
            if missing:
                raise DataError(f"box file {root / box_file} has no box for {missing[0]} ({len(missing)} images)")
            boxes = torch.tensor([table[p.relative_to(root).as_posix()] for p in paths], dtype=torch.float32)
            images = decode_folder(paths, image_size, progress=progress, desc=f"decoding tinyimagenet/{split}")
            size = images.shape[-1]
            splits[split] = (images, torch.tensor(labels), scale_boxes(boxes, size) if size != _SIDE else boxes)
        (train_x, train_y, train_b), (test_x, test_y, test_b) = splits["train"], splits["val"]
        return Dataset(
            self.name,
            classes,
            *channel_stats(train_x),
            train_x.shape[-1],
            train_x,
            train_y,
            test_x,
            test_y,
            train_boxes=train_b,
            test_boxes=test_b,
            fingerprint=self.fingerprint(root),
        )

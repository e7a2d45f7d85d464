"""Image folders (``train/<class>/*``, ``test/`` or ``val/``) decoded once into uint8 tensors, or streamed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

__all__ = ["IMAGE_SUFFIXES", "DataError", "decode_folder", "find_split", "list_folder", "read_rgb"]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".JPEG", ".JPG", ".PNG"}


class DataError(ValueError):
    """A data directory or file that cannot be used; the message names the path."""


def read_rgb(path: Path) -> Tensor:
    """One image file as RGB uint8 ``[3, H, W]``; a ``DataError`` naming the file if it cannot be decoded."""
    try:
        with Image.open(path) as image:
            pixels = np.array(image.convert("RGB"))
    except (OSError, UnidentifiedImageError, ValueError) as err:
        raise DataError(f"cannot decode image {path}: {err}") from None
    return torch.from_numpy(pixels).permute(2, 0, 1)


def find_split(root: Path, names: tuple[str, ...]) -> Path:
    """The first of ``root / name`` that is a directory, or a ``DataError`` naming what was looked for."""
    for name in names:
        if (root / name).is_dir():
            return root / name
    raise DataError(f"{root} has no {' or '.join(n + '/' for n in names)} directory of class folders")


def list_folder(split: Path, classes: list[str] | None = None) -> tuple[list[Path], list[int], list[str]]:
    """Image paths, their class indices and the sorted class names of ``split/<class>/*``."""
    if classes is None:
        classes = sorted(d.name for d in split.iterdir() if d.is_dir())
    if not classes:
        raise DataError(f"{split} has no class folders")
    paths, labels = [], []
    for index, name in enumerate(classes):
        folder = split / name
        if not folder.is_dir():
            raise DataError(f"{folder} is missing: {split.parent} must have the same class folders in every split")
        files = sorted(p for p in folder.iterdir() if p.suffix in IMAGE_SUFFIXES)
        paths += files
        labels += [index] * len(files)
    if not paths:
        raise DataError(f"{split} has class folders but no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return paths, labels, classes


def decode_folder(paths: list[Path], size: int | None = None) -> Tensor:
    """Decode every image to RGB uint8 ``[N, 3, H, W]`` (all one size, or resized to ``size``)."""
    images = []
    for path in paths:
        image = read_rgb(path)
        if size is not None and image.shape[-2:] != (size, size):
            image = (
                torch.nn.functional.interpolate(
                    image[None].float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False
                )[0]
                .round()
                .clamp(0, 255)
                .to(torch.uint8)
            )
        images.append(image)
    shapes = {tuple(im.shape) for im in images}
    if len(shapes) > 1:
        raise DataError(f"images under {paths[0].parent.parent} differ in size {sorted(shapes)[:3]}: pass --image-size")
    return torch.stack(images)

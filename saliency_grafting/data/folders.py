"""Image folders (``train/<class>/*``, ``test/`` or ``val/``) decoded once into uint8 tensors, or streamed."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from saliency_grafting.progress import progress as track

__all__ = ["IMAGE_SUFFIXES", "DataError", "decode_folder", "find_split", "list_folder", "read_rgb"]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".JPEG", ".JPG", ".PNG"}


class DataError(ValueError):
    """A data directory, file or data option that cannot be used; the message names the path or option.

    ``field``: the ``TrainConfig`` field at fault, when one is (the command line names its flag).
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def read_rgb(path: Path, mode: str = "RGB") -> Tensor:
    """One image file as uint8 ``[3, H, W]`` (``mode="L"``: grey, ``[1, H, W]``); a ``DataError`` naming the file
    if it cannot be decoded.

    An image of more than ``PIL.Image.MAX_IMAGE_PIXELS`` pixels (a decompression bomb) is refused before decoding.
    """
    limit = Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # refused below, with the file named
            with Image.open(path) as image:
                if limit is not None and image.width * image.height > limit:
                    raise DataError(
                        f"image {path} has {image.width}x{image.height} pixels, over the {limit} limit "
                        "(a decompression bomb?); remove it or raise PIL.Image.MAX_IMAGE_PIXELS"
                    )
                pixels = np.array(image.convert(mode))
    except DataError:
        raise
    except Image.DecompressionBombError as err:
        raise DataError(f"image {path} is too large to decode (a decompression bomb?): {err}") from None
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as err:
        raise DataError(f"cannot decode image {path}: {err}") from None
    return torch.from_numpy(pixels).reshape(*pixels.shape[:2], -1).permute(2, 0, 1)


def find_split(root: Path, names: tuple[str, ...]) -> Path:
    """The first of ``root / name`` that is a directory, or a ``DataError`` naming what was looked for."""
    for name in names:
        if (root / name).is_dir():
            return root / name
    hint = " (or hold training images out as the test split: --dataset-arg test_per_class=K)" if "test" in names else ""
    raise DataError(f"{root} has no {' or '.join(n + '/' for n in names)} directory of class folders{hint}")


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
        if not files:  # refused: a class without images would be trained on as if it existed
            raise DataError(
                f"class folder {folder} has no images ({', '.join(sorted(IMAGE_SUFFIXES))}); remove it "
                "or add its images"
            )
        paths += files
        labels += [index] * len(files)
    if not paths:
        raise DataError(f"{split} has class folders but no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return paths, labels, classes


def decode_folder(
    paths: list[Path], size: int | None = None, *, progress: bool = False, desc: str = "", mode: str = "RGB"
) -> Tensor:
    """Decode every image to uint8 ``[N, 3, H, W]`` (``mode="L"``: ``[N, 1, H, W]``), all one size or resized to
    ``size``.

    ``progress``: a bar on a terminal, a start and an end line on stderr otherwise.
    """
    images = []
    for path in track(paths, desc=desc or "decoding images", enabled=progress, unit="images", lines=True):
        image = read_rgb(path, mode)
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

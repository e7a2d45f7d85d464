"""Datasets as registered objects: each declares its name, channels, augmentation, options, loading and identity.

A new dataset is one file under ``data/sources/`` holding one ``DatasetSource`` subclass decorated with
``@register_dataset``, plus its import line in ``data/sources/__init__.py``. ``load_dataset(name, root, ...)``
and every command-line tool then know it by name.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from saliency_grafting.data.base import Augment, Dataset, subset
from saliency_grafting.data.folders import DataError

if TYPE_CHECKING:
    from saliency_grafting.config import TrainConfig

__all__ = [
    "DATASETS",
    "DatasetSource",
    "check_fingerprint",
    "fingerprint_files",
    "get_source",
    "load_config_data",
    "load_dataset",
    "register_dataset",
]


class DatasetSource:
    """How one dataset is read: override ``load`` (and ``fingerprint`` when its files are not a plain tree).

    ``options``: the keyword options ``load`` takes (``dataset_args`` in a config), each with its default; an option
    not listed is refused by name. ``needs_root``: whether a data directory is required. ``modality``: ``"image"`` or
    ``"audio"`` (spectrogram images); ``has_boxes``: its splits carry one object box per image (localization).
    """

    name: ClassVar[str]
    channels: ClassVar[int] = 3
    augment: ClassVar[Augment | None] = Augment()
    needs_root: ClassVar[bool] = True
    modality: ClassVar[str] = "image"
    has_boxes: ClassVar[bool] = False
    options: ClassVar[Mapping[str, Any]] = {}
    description: ClassVar[str] = ""

    def load(self, root: Path | None, *, image_size: int | None, seed: int, progress: bool, **options: Any) -> Dataset:
        raise NotImplementedError

    def folder(self, root: Path | None) -> Path:
        """``root``, which this dataset needs (``load_dataset`` checks it is given)."""
        if root is None:
            raise DataError(f"dataset {self.name!r} needs a data directory", field="data_dir")
        return root

    def fingerprint(self, root: Path | None) -> str | None:
        """A short hash of what ``root`` holds (every file's relative path and size): the data's identity."""
        return None if root is None else fingerprint_files(root)

    def check_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """The options with their defaults filled in; a ``DataError`` naming an option this dataset does not take."""
        if unknown := sorted(set(options) - set(self.options)):
            known = ", ".join(self.options) or "none"
            raise DataError(
                f"dataset {self.name!r} takes no option {unknown[0]!r}; its options: {known}", field="dataset_args"
            )
        return {**self.options, **options}


DATASETS: dict[str, DatasetSource] = {}


def register_dataset(cls: type[DatasetSource]) -> type[DatasetSource]:
    """Class decorator: add one instance of ``cls`` to ``DATASETS`` under ``cls.name`` (each name once)."""
    if not (isinstance(cls, type) and issubclass(cls, DatasetSource)):
        raise TypeError(f"register_dataset takes a DatasetSource subclass, got {cls!r}")
    if cls.name in DATASETS:
        raise ValueError(f"dataset {cls.name!r} is already registered")
    DATASETS[cls.name] = cls()
    return cls


def get_source(name: str) -> DatasetSource:
    """The registered dataset ``name``; a ``DataError`` listing the valid names otherwise."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}", field="dataset")
    return DATASETS[name]


def fingerprint_files(root: Path, keep: Callable[[Path], bool] = lambda _: True) -> str:
    """sha256 (16 hex digits) of every file's path relative to ``root`` and its size, in sorted order.

    Cheap (no file is read: one ``stat`` each) and it changes when a file is added, removed, renamed or re-encoded.
    ``keep``: which files count.
    """
    root = Path(root).expanduser()
    digest = hashlib.sha256()
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = Path(folder) / name
            if keep(path):
                digest.update(f"{path.relative_to(root).as_posix()}\t{path.stat().st_size}\n".encode())
    return digest.hexdigest()[:16]


def load_dataset(
    name: str,
    data_dir: str | Path | None = None,
    *,
    per_class: int | None = None,
    seed: int = 0,
    image_size: int | None = None,
    val_per_class: int | None = None,
    progress: bool = False,
    **options: Any,
) -> Dataset:
    """Load the registered dataset ``name`` (see ``DATASETS``) from ``data_dir``.

    ``per_class`` keeps a seeded class-balanced subset of the train split; ``val_per_class`` (needs ``per_class``)
    evaluates on that many unused training images per class instead of the test split, drawn independently of
    ``seed`` (``validation_split``): the split to tune on. ``options`` are the dataset's own (``DatasetSource.options``,
    e.g. ``classes`` of ``tinyimagenet``).
    """
    if val_per_class is not None and per_class is None:
        raise DataError(
            "val_per_class needs per_class: the validation images are those the subset leaves out",
            field="val_per_class",
        )
    source = get_source(name)
    options = source.check_options(options)
    root = None
    if source.needs_root:
        if data_dir is None:
            raise DataError(f"dataset {name!r} needs a data directory", field="data_dir")
        root = Path(data_dir).expanduser()
        if not root.is_dir() and not options.get("download", False):
            raise DataError(f"data directory {root} is not a directory", field="data_dir")
    data = source.load(root, image_size=image_size, seed=seed, progress=progress, **options)
    if per_class is not None:
        data = subset(data, per_class, seed, val_per_class)
    return data


def check_fingerprint(data: Dataset, expected: str | None, where: str | Path | None = None) -> None:
    """A ``DataError`` when ``expected`` is set and ``data`` is not the data it identifies."""
    if expected is not None and data.fingerprint != expected:
        raise DataError(
            f"data directory {where} is not the data this run is defined on: its {data.name} fingerprint is "
            f"{data.fingerprint}, expected {expected} (another dataset, or files added, removed or re-encoded)"
        )


def config_options(config: TrainConfig) -> dict[str, Any]:
    """The dataset options of ``config``: its ``dataset_args``, and ``download`` where it is asked for."""
    return {**config.dataset_args, **({"download": True} if config.download else {})}


def load_config_data(config: TrainConfig, *, progress: bool = False) -> Dataset:
    """The data of a run's ``config`` (subset and validation split included), checked against its fingerprint."""
    data = load_dataset(
        config.dataset,
        config.data_dir,
        per_class=config.per_class,
        seed=config.seed,
        image_size=config.image_size,
        val_per_class=config.val_per_class,
        progress=progress,
        **config_options(config),
    )
    check_fingerprint(data, config.data_fingerprint, config.data_dir)
    return data

"""Datasets by name (``DATASETS``: cifar10, cifar100, imagefolder, synthetic, tinyimagenet, fsdd), per-class
subsets, and their batch loaders. A dataset is one file under ``data/sources/`` (see ``registry``)."""

from saliency_grafting.data import sources  # noqa: F401  (registers every dataset)
from saliency_grafting.data.base import (
    VALIDATION_SEED,
    Augment,
    Dataset,
    channel_stats,
    class_balanced_subset,
    subset,
    validation_split,
)
from saliency_grafting.data.folders import DataError
from saliency_grafting.data.loader import TensorLoader, make_loaders, normalize
from saliency_grafting.data.registry import DATASETS, DatasetSource, get_source, load_dataset, register_dataset
from saliency_grafting.data.stream import StreamLoader
from saliency_grafting.data.synthetic import make_synthetic

__all__ = [
    "DATASETS",
    "VALIDATION_SEED",
    "Augment",
    "DataError",
    "Dataset",
    "DatasetSource",
    "StreamLoader",
    "TensorLoader",
    "channel_stats",
    "class_balanced_subset",
    "get_source",
    "load_dataset",
    "make_loaders",
    "make_synthetic",
    "normalize",
    "register_dataset",
    "subset",
    "validation_split",
]

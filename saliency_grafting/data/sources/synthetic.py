"""The built-in generated dataset: ten shapes on cluttered backgrounds (``data/synthetic.py``). Never evidence."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from saliency_grafting.data.base import Dataset, channel_stats
from saliency_grafting.data.registry import DatasetSource, register_dataset
from saliency_grafting.data.synthetic import SHAPES, make_synthetic

__all__ = ["Synthetic"]


@register_dataset
class Synthetic(DatasetSource):
    name = "synthetic"
    description = "ten generated shapes on cluttered colour backgrounds, seeded (no files)"
    needs_root = False
    options: ClassVar[dict[str, Any]] = {"synthetic_size": (5000, 1000)}

    def load(self, root: Path | None, *, image_size: int | None, seed: int, progress: bool, **options: Any) -> Dataset:
        size = image_size or 32
        train, test = options["synthetic_size"]
        train_x, train_y = make_synthetic(train, size=size, seed=seed)
        test_x, test_y = make_synthetic(test, size=size, seed=seed + 1_000_003)
        return Dataset(self.name, list(SHAPES), *channel_stats(train_x), size, train_x, train_y, test_x, test_y)

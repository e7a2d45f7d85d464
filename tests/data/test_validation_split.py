"""The validation split for tuning: unused training images, class-balanced, fixed, and never the test set."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from saliency_grafting.data import (
    DataError,
    Dataset,
    class_balanced_subset,
    load_dataset,
    subset,
    validation_split,
)


@settings(max_examples=40, deadline=None)
@given(
    classes=st.integers(2, 5),
    spare=st.integers(0, 10),
    per_class=st.integers(1, 5),
    val=st.integers(1, 5),
    seed=st.integers(0, 2**31),
)
def test_split_is_disjoint_balanced_and_deterministic(classes: int, spare: int, per_class: int, val: int, seed: int):
    size = per_class + val + spare
    order = torch.randperm(classes * size, generator=torch.Generator().manual_seed(seed))
    labels = torch.arange(classes).repeat_interleave(size)[order]
    train = class_balanced_subset(labels, per_class, seed)
    held = validation_split(labels, train, val)
    assert not set(held.tolist()) & set(train.tolist())
    assert torch.bincount(labels[held], minlength=classes).tolist() == [val] * classes
    assert held.tolist() == sorted(set(held.tolist()))
    assert torch.equal(held, validation_split(labels, train.clone(), val))


def test_split_does_not_follow_the_run_seed() -> None:
    labels = torch.arange(10).repeat_interleave(500)
    splits = [validation_split(labels, class_balanced_subset(labels, 100, seed), 100) for seed in range(3)]
    # each subset covers 20 % of a class, so the fixed order's first 100 unused images mostly coincide
    shared = set(splits[0].tolist()) & set(splits[1].tolist()) & set(splits[2].tolist())
    assert len(shared) > 0.4 * 1000
    other = validation_split(labels, class_balanced_subset(labels, 100, 0), 100, seed=7)
    assert not torch.equal(other, splits[0])  # the split's own seed does decide it


def test_too_few_unused_images_and_bad_sizes() -> None:
    labels = torch.arange(2).repeat_interleave(5)
    train = class_balanced_subset(labels, 3, 0)
    with pytest.raises(DataError, match="val_per_class 3: class 0 has only 2"):
        validation_split(labels, train, 3)
    with pytest.raises(DataError, match="val_per_class must be an int >= 1"):
        validation_split(labels, train, 0)
    with pytest.raises(TypeError, match="val_per_class must be an int >= 1"):
        validation_split(labels, train, 1.5)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="needs per_class"):
        load_dataset("synthetic", val_per_class=5)


def _tagged(num: int, classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images whose first pixel is their index (mod 256) and second its split, so every image can be traced."""
    labels = torch.arange(num) % classes
    images = torch.zeros(num, 3, 4, 4, dtype=torch.uint8)
    images[:, 0, 0, 0] = torch.arange(num) % 256
    images[:, 0, 0, 1] = torch.arange(num) // 256
    return images, labels


def test_subset_replaces_the_test_split_with_held_out_training_images() -> None:
    train_x, train_y = _tagged(600, 3)
    test_x, test_y = torch.full((30, 3, 4, 4), 255, dtype=torch.uint8), torch.arange(30) % 3
    data = Dataset("t", ["a", "b", "c"], torch.zeros(3), torch.ones(3), 4, train_x, train_y, test_x, test_y)
    plain = subset(data, 10, seed=1)
    assert torch.equal(plain.test_images, test_x) and plain.evaluation == "test"
    held = subset(data, 10, seed=1, val_per_class=20)
    assert held.evaluation == "validation" and len(held.test_labels) == 60
    assert not (held.test_images == 255).all(dim=(1, 2, 3)).any()  # not one test image
    index = lambda x: (x[:, 0, 0, 0].long() + 256 * x[:, 0, 0, 1].long()).tolist()  # noqa: E731
    assert torch.equal(held.train_images, plain.train_images)  # the training subset is the plain run's
    assert not set(index(held.test_images)) & set(index(held.train_images))
    assert torch.equal(train_y[index(held.test_images)], held.test_labels)
    assert data.test_images is test_x and len(data.train_labels) == 600  # the full dataset is left alone


def test_streamed_subset_holds_out_files() -> None:
    paths = [Path(f"{i}.jpg") for i in range(60)]
    labels = [i % 3 for i in range(60)]
    test = ([Path("test.jpg")], [0])
    data = Dataset("t", ["a", "b", "c"], torch.zeros(3), torch.ones(3), 4, train_files=(paths, labels), test_files=test)
    held = subset(data, 4, seed=0, val_per_class=5)
    train_paths, held_paths = set(held.train_files[0]), set(held.test_files[0])
    assert len(train_paths) == 12 and len(held_paths) == 15 and not train_paths & held_paths
    assert Path("test.jpg") not in held_paths and sorted(held.test_files[1]) == [0] * 5 + [1] * 5 + [2] * 5


def test_load_dataset_evaluates_on_validation_images() -> None:
    full = load_dataset("synthetic", seed=3, synthetic_size=(400, 50))
    held = load_dataset("synthetic", seed=3, synthetic_size=(400, 50), per_class=10, val_per_class=8)
    classes = full.num_classes
    assert len(held.train_labels) == 10 * classes and len(held.test_labels) == 8 * classes
    rows = {tuple(x.flatten().tolist()) for x in full.train_images}
    assert all(tuple(x.flatten().tolist()) in rows for x in held.test_images)  # drawn from the training images

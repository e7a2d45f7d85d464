"""Datasets and loaders on small generated fixtures: ImageFolder, CIFAR pickles, synthetic, subsets."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from saliency_grafting.data import DataError, TensorLoader, class_balanced_subset, load_dataset, make_synthetic
from saliency_grafting.data.stream import StreamLoader


def write_folder(root: Path, split: str, classes: list[str], per_class: int, size: int = 12, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for name in classes:
        (root / split / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / split / name / f"{i}.png")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_folder(tmp_path, "train", ["cat", "dog", "emu"], 6)
    write_folder(tmp_path, "val", ["cat", "dog", "emu"], 2, seed=1)
    return tmp_path


def test_imagefolder_is_decoded_into_tensors(folder: Path) -> None:
    data = load_dataset("imagefolder", folder)
    assert data.resident and data.classes == ["cat", "dog", "emu"]
    assert data.train_images.shape == (18, 3, 12, 12) and data.train_images.dtype == torch.uint8
    assert data.test_images.shape == (6, 3, 12, 12)
    first = np.array(Image.open(folder / "train" / "cat" / "0.png")).transpose(2, 0, 1)
    assert torch.equal(data.train_images[0], torch.from_numpy(first))
    assert data.train_labels.tolist() == [0] * 6 + [1] * 6 + [2] * 6
    resized = load_dataset("imagefolder", folder, image_size=8)
    assert resized.train_images.shape[-2:] == (8, 8) and resized.image_size == 8


def test_large_imagefolder_is_streamed(folder: Path) -> None:
    data = load_dataset("imagefolder", folder, max_resident_gib=0.0, image_size=8)
    assert not data.resident and len(data.train_files[0]) == 18
    loader = StreamLoader(
        *data.train_files, batch_size=4, mean=data.mean, std=data.std, train=True, image_size=8, workers=0
    )
    batches = list(loader)
    assert len(batches) == len(loader) == 4 and batches[0][0].shape == (4, 3, 8, 8)
    again = StreamLoader(
        *data.train_files, batch_size=4, mean=data.mean, std=data.std, train=True, image_size=8, workers=0
    )
    assert torch.equal(next(iter(again))[1], batches[0][1])  # the same seed and epoch give the same order


def test_imagefolder_errors_name_the_path(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is not a directory"):
        load_dataset("imagefolder", tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no train/ directory"):
        load_dataset("imagefolder", empty)
    bad = folder / "train" / "dog" / "broken.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"broken\.png"):
        load_dataset("imagefolder", folder)
    with pytest.raises(DataError, match="needs a data directory"):
        load_dataset("imagefolder", None)
    with pytest.raises(DataError, match="valid names"):
        load_dataset("mnist", folder)


def write_cifar(root: Path, name: str = "cifar-10-batches-py") -> None:
    base = root / name
    base.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for batch, count in [*((f"data_batch_{i}", 4) for i in range(1, 6)), ("test_batch", 5)]:
        entry = {"data": rng.integers(0, 256, (count, 3072), dtype=np.uint8), "labels": list(range(count))}
        with open(base / batch, "wb") as handle:
            pickle.dump(entry, handle)
    with open(base / "batches.meta", "wb") as handle:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)]}, handle)


def test_cifar_pickles_load_without_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_cifar(tmp_path)
    import torchvision.datasets.cifar as tv_cifar

    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *args: True)  # the fixture's files have no real md5
    data = load_dataset("cifar10", tmp_path)
    assert data.train_images.shape == (20, 3, 32, 32) and data.test_images.shape == (5, 3, 32, 32)
    assert data.classes[:2] == ["c0", "c1"] and data.num_classes == 10
    assert torch.allclose(data.mean, torch.tensor([0.4914, 0.4822, 0.4465]))


def test_cifar_missing_gives_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="pass --download"):
        load_dataset("cifar100", tmp_path)


def test_synthetic_is_seeded_balanced_and_learnable_sized() -> None:
    a, la = make_synthetic(50, seed=3)
    b, lb = make_synthetic(50, seed=3)
    c, _ = make_synthetic(50, seed=4)
    assert torch.equal(a, b) and torch.equal(la, lb) and not torch.equal(a, c)
    assert a.dtype == torch.uint8 and a.shape == (50, 3, 32, 32)
    assert la.bincount().tolist() == [5] * 10
    with pytest.raises(ValueError, match="size"):
        make_synthetic(10, size=4)


def test_per_class_subset_is_balanced_seeded_and_checked() -> None:
    labels = torch.arange(100) % 4
    subset = class_balanced_subset(labels, 7, seed=1)
    assert labels[subset].bincount().tolist() == [7, 7, 7, 7] and len(subset.unique()) == 28
    assert torch.equal(subset, class_balanced_subset(labels, 7, seed=1))
    assert not torch.equal(subset, class_balanced_subset(labels, 7, seed=2))
    with pytest.raises(DataError, match="only 25"):
        class_balanced_subset(labels, 26, seed=0)
    data = load_dataset("synthetic", per_class=3, synthetic_size=(100, 20))
    assert data.train_labels.bincount().tolist() == [3] * 10


def test_tensor_loader_batches_augments_and_shards() -> None:
    images = torch.randint(0, 256, (20, 3, 8, 8), dtype=torch.uint8)
    labels = torch.arange(20)
    kw = {"mean": torch.zeros(3), "std": torch.ones(3)}
    test = list(TensorLoader(images, labels, batch_size=8, train=False, **kw))
    assert [len(y) for _, y in test] == [8, 8, 4]
    torch.testing.assert_close(test[0][0], images[:8].float() / 255)
    train = TensorLoader(images, labels, batch_size=8, train=True, pad=2, seed=5, **kw)
    seen = torch.cat([y for _, y in train])
    assert len(train) == 2 and len(seen.unique()) == 16
    # A crop is the original shifted by at most 2 px (reflect padding) and maybe flipped.
    x, y = next(iter(TensorLoader(images, labels, batch_size=20, train=True, pad=2, seed=1, **kw)))
    for xi, yi in zip(x, y, strict=True):
        original = torch.nn.functional.pad(images[yi][None].float() / 255, (2, 2, 2, 2), mode="reflect")[0]
        views = [original[:, a : a + 8, b : b + 8] for a in range(5) for b in range(5)]
        assert any(torch.equal(xi, v) or torch.equal(xi, v.flip(2)) for v in views)
    ranks = [
        torch.cat(
            [y for _, y in TensorLoader(images, labels, batch_size=5, train=True, seed=0, rank=r, world_size=2, **kw)]
        )
        for r in range(2)
    ]
    assert len(set(ranks[0].tolist()) & set(ranks[1].tolist())) == 0


def test_distributed_evaluation_covers_every_sample_once() -> None:
    labels = torch.arange(1025)
    images = torch.zeros(1025, 3, 2, 2, dtype=torch.uint8)
    kw = {"mean": torch.zeros(3), "std": torch.ones(3), "batch_size": 512, "train": False, "world_size": 2}
    seen = torch.cat([y for rank in range(2) for _, y in TensorLoader(images, labels, rank=rank, **kw)])
    assert sorted(seen.tolist()) == list(range(1025))

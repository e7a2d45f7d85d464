"""Datasets as registered objects: names, options, fingerprints, and the data's identity in every run key."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

from saliency_grafting.config import TrainConfig
from saliency_grafting.data import DATASETS, DataError, DatasetSource, load_dataset, make_loaders, register_dataset
from saliency_grafting.data.sources.imagefolder import ImageFolder
from saliency_grafting.experiments.runner import plan, record_path, run_cell, run_key
from saliency_grafting.experiments.scales import SCALES


def image_folder(root: Path, shade: int, per_class: int = 6) -> Path:
    """Two classes of 8 px images whose pixels (and so file sizes) depend on ``shade``."""
    g = torch.Generator().manual_seed(shade)
    for split in ("train", "test"):
        for name in ("cat", "dog"):
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                noise = torch.randint(0, 255 if shade else 2, (8, 8, 3), generator=g, dtype=torch.uint8).numpy()
                Image.fromarray(noise).save(root / split / name / f"{i}.png")
    return root


def test_every_dataset_is_registered_once_under_its_name() -> None:
    assert {"cifar10", "cifar100", "imagefolder", "synthetic", "tinyimagenet", "fsdd"} <= set(DATASETS)
    assert all(source.name == name for name, source in DATASETS.items())
    with pytest.raises(ValueError, match="'imagefolder' is already registered"):
        register_dataset(type("Again", (DatasetSource,), {"name": "imagefolder"}))
    with pytest.raises(TypeError, match="DatasetSource subclass"):
        register_dataset(object)  # type: ignore[arg-type]


def test_unknown_names_and_options_are_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"unknown dataset 'cifar11'; valid names: .*cifar10"):
        load_dataset("cifar11", tmp_path)
    with pytest.raises(DataError, match="dataset 'imagefolder' takes no option 'classes'; its options: max_resident"):
        load_dataset("imagefolder", image_folder(tmp_path, 1), classes=3)


def test_a_folders_fingerprint_follows_its_files(tmp_path: Path) -> None:
    root = image_folder(tmp_path / "a", 1)
    first = ImageFolder().fingerprint(root)
    assert first == ImageFolder().fingerprint(root) and len(first) == 16
    assert load_dataset("imagefolder", root).fingerprint == first
    (root / "train" / "notes.txt").write_text("not an image")  # not read: not part of the identity
    assert ImageFolder().fingerprint(root) == first
    Image.new("RGB", (8, 8)).save(root / "train" / "cat" / "extra.png")
    assert ImageFolder().fingerprint(root) != first


def test_two_image_folders_with_one_config_get_different_keys_and_records(tmp_path: Path) -> None:
    """The same classes, counts and file names, other pixels: another dataset, so another run and record."""
    roots = [image_folder(tmp_path / name, shade) for name, shade in (("a", 0), ("b", 1))]
    base = {
        "dataset": "imagefolder",
        "model": "convnet_small",
        "model_args": {"width": 4},
        "mixer": "none",
        "epochs": 1,
        "batch_size": 4,
        "quiet": True,
    }
    configs = []
    for root in roots:
        fingerprint = DATASETS["imagefolder"].fingerprint(root)
        configs.append(TrainConfig.from_dict({**base, "data_dir": str(root), "data_fingerprint": fingerprint}))
    assert configs[0].data_fingerprint != configs[1].data_fingerprint
    assert run_key(configs[0].to_dict()) != run_key(configs[1].to_dict())
    out = tmp_path / "out"
    records = [run_cell(config, out) for config in configs]
    assert len(list((out / "records").glob("*.json"))) == 2
    for record, config, root in zip(records, configs, roots, strict=True):
        assert record["data"]["fingerprint"] == config.data_fingerprint == ImageFolder().fingerprint(root)
        assert json.loads(record_path(out, config).read_text())["key"] == record["key"]


def test_a_run_refuses_data_other_than_its_fingerprint(tmp_path: Path) -> None:
    root = image_folder(tmp_path, 1)
    config = TrainConfig.from_dict(
        {
            "dataset": "imagefolder",
            "data_dir": str(root),
            "data_fingerprint": "0" * 16,
            "model": "convnet_small",
            "epochs": 1,
            "batch_size": 4,
            "quiet": True,
        }
    )
    with pytest.raises(
        DataError,
        match=f"is not the data this run is defined on: its imagefolder fingerprint is "
        f"{ImageFolder().fingerprint(root)}, expected 0000000000000000",
    ):
        run_cell(config, tmp_path / "out")
    assert not (tmp_path / "out" / "records").exists()


def test_the_scales_data_identity_is_in_every_key_but_keeps_the_old_ones() -> None:
    """The cpu scale pins the CIFAR-10 archive: its keys are the records' (test_keys); another scale's differ."""
    (_, _, cpu), *_ = plan("table3", "cpu", 1, "/data")
    assert cpu.data_fingerprint == SCALES["cpu"].fingerprint
    legacy = {k: v for k, v in cpu.to_dict().items() if k not in ("data_fingerprint", "dataset_args")}
    assert run_key(legacy) == run_key(cpu.to_dict())  # a record made before the fields existed
    moved = {**cpu.to_dict(), "data_fingerprint": "0123456789abcdef"}
    assert run_key(moved) != run_key(cpu.to_dict())
    (_, _, tiny), *_ = plan("table3", "cpu-tiny", 1, "/data")
    assert tiny.dataset == "tinyimagenet" and tiny.data_fingerprint == SCALES["cpu-tiny"].fingerprint
    assert tiny.dataset_args == dict(SCALES["cpu-tiny"].dataset_args)


def test_data_dirs_by_dataset_name_for_the_paper_scale(tmp_path: Path) -> None:
    runs = plan("table3", "paper", 1, {"tinyimagenet": "/tiny", "cifar100": "/c100"})
    assert {config.data_dir for _, _, config in runs} == {"/tiny"}
    assert {config.data_dir for _, _, config in plan("table1", "paper", 1, {"tinyimagenet": "/tiny"})} == {None}


def test_loaders_follow_the_datasets_augmentation_policy() -> None:
    data = load_dataset("synthetic", synthetic_size=(64, 8))
    config = TrainConfig(batch_size=64)
    train, _ = make_loaders(data, config, torch.device("cpu"))
    assert (train.augment, train.pad, train.flip) == (True, 4, True)
    data.augment = None  # a spectrogram's policy: neither crops nor flips
    train, _ = make_loaders(data, config, torch.device("cpu"))
    ((images, _),) = list(train)
    order = torch.randperm(64, generator=torch.Generator().manual_seed(0))
    from saliency_grafting.data import normalize

    assert torch.equal(images, normalize(data.train_images[order], data.mean, data.std))


def test_an_image_folder_without_a_test_split_can_hold_one_out(tmp_path: Path) -> None:
    root = image_folder(tmp_path, 1, per_class=6)
    shutil.rmtree(root / "test")
    with pytest.raises(DataError, match=r"has no test/ or val/ directory.*--dataset-arg test_per_class=K"):
        load_dataset("imagefolder", root)
    data = load_dataset("imagefolder", root, test_per_class=2)
    assert (len(data.train_labels), len(data.test_labels)) == (8, 4) and data.evaluation == "held-out test"
    again = load_dataset("imagefolder", root, test_per_class=2)  # a fixed draw, whatever the run's seed
    assert torch.equal(data.test_images, again.test_images)
    train = {tuple(x.flatten().tolist()) for x in data.train_images}
    assert not any(tuple(x.flatten().tolist()) in train for x in data.test_images)  # disjoint
    image_folder(tmp_path / "with_test", 1)
    with pytest.raises(DataError, match="has a test split already"):
        load_dataset("imagefolder", tmp_path / "with_test", test_per_class=2)


def test_grey_image_folders_have_one_channel(tmp_path: Path) -> None:
    data = load_dataset("imagefolder", image_folder(tmp_path, 1), grey=True)
    assert data.train_images.shape[1:] == (1, 8, 8) and data.channels == 1 and len(data.mean) == 1

"""The mixing panel's pairs: drawn across classes from a seeded generator, on sorted test sets too."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from saliency_grafting.data import load_dataset
from saliency_grafting.mixing import create_mixer
from saliency_grafting.visualize import mixing_panel, panel_batch, sample_pairs

SORTED = torch.arange(10).repeat_interleave(100)  # an ImageFolder-like test split: class by class


def test_pairs_span_classes_on_a_sorted_test_set() -> None:
    sources, destinations = sample_pairs(SORTED, 6, seed=0)
    assert len(set(SORTED[sources].tolist())) == 6  # six source classes, where the first images are all class 0
    assert (SORTED[sources] != SORTED[destinations]).all()  # every pair mixes two classes
    assert len(set(SORTED[torch.cat([sources, destinations])].tolist())) >= 6
    many, _ = sample_pairs(SORTED, 25, seed=0)
    assert set(SORTED[many].tolist()) == set(range(10))  # more pairs than classes: every class is a source


def test_pairs_are_seeded() -> None:
    a, b, c = (sample_pairs(SORTED, 6, seed=s) for s in (3, 3, 4))
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a, c, strict=True))


def test_pairs_edge_cases() -> None:
    one_class = torch.zeros(5, dtype=torch.long)
    sources, destinations = sample_pairs(one_class, 3)
    assert sources.shape == destinations.shape == (3,) and (sources < 5).all() and (destinations < 5).all()
    for count, error in ((0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError)):
        with pytest.raises(error, match="count must be an int >= 1"):
            sample_pairs(SORTED, count)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="labels"):
        sample_pairs(torch.zeros(0, dtype=torch.long), 2)


def write_folder(root: Path, classes: int = 4, per_class: int = 5) -> Path:
    for split in ("train", "test"):
        for c in range(classes):
            (root / split / f"c{c}").mkdir(parents=True)
            for i in range(per_class):
                Image.new("RGB", (12, 12), (60 * c, 10 * i, 0)).save(root / split / f"c{c}" / f"{i}.png")
    return root


@pytest.mark.parametrize("resident", [True, False])
def test_panel_batch_draws_across_classes_from_resident_and_streamed_data(tmp_path: Path, resident: bool) -> None:
    root = write_folder(tmp_path / "d")
    data = load_dataset("imagefolder", root, max_resident_gib=4.0 if resident else 0.0)
    assert data.resident == resident
    images, labels = panel_batch(data, 3, seed=0)
    assert images.shape == (6, 3, 12, 12) and images.dtype == torch.float32
    assert len(set(labels[:3].tolist())) == 3 and (labels[:3] != labels[3:]).all()
    first = torch.as_tensor(data.test_labels if resident else data.test_files[1])
    sources, _ = sample_pairs(first, 3, seed=0)
    assert torch.equal(labels[:3], first[sources])
    mixers = {"cutmix": create_mixer("cutmix", data.num_classes), "mixup": create_mixer("mixup", data.num_classes)}
    path = mixing_panel(mixers, images, labels, data.classes, data.mean, data.std, tmp_path / "p.png")
    assert Image.open(path).size[0] > 3 * 12


def test_a_panel_row_shows_each_mixers_work_augmix_its_views() -> None:
    from tests.conftest import NUM_CLASSES, make_batch

    images, labels, _ = make_batch(4, 32)
    images = images.clamp(-1.5, 1.5)
    mean, std = torch.full((3,), 0.5), torch.full((3,), 0.25)
    augmix = create_mixer("augmix", NUM_CLASSES)
    params = augmix.sample_params(images, labels, generator=torch.Generator().manual_seed(0))
    view, soft = augmix.preview(images, labels, params, mean=mean, std=std, seed=3)
    assert view.shape == images.shape and not torch.allclose(view, images, atol=0.05)  # not the unchanged images
    assert torch.equal(view, augmix.preview(images, labels, params, mean=mean, std=std, seed=3)[0])
    assert torch.equal(soft.argmax(1), labels) and torch.allclose(soft.max(1).values, torch.ones(4))
    mixup = create_mixer("mixup", NUM_CLASSES)
    params = mixup.sample_params(images, labels, generator=torch.Generator().manual_seed(0))
    shown = mixup.preview(images, labels, params, mean=mean, std=std)
    applied = mixup.apply(images, labels, params)
    assert all(torch.equal(a, b) for a, b in zip(shown, applied, strict=True))

"""The registered datasets on small generated folders: Tiny-ImageNet with its boxes, and spoken digits as WAV."""

from __future__ import annotations

import math
import wave
from pathlib import Path

import pytest
import torch
from PIL import Image

from saliency_grafting.data import DataError, load_dataset, make_loaders
from saliency_grafting.data.sources.fsdd import parse_name
from saliency_grafting.data.sources.tinyimagenet import scale_boxes

WNIDS = ("n01", "n02", "n03", "n04")


def tiny_folder(root: Path, per_class: int = 5, val_per_class: int = 2) -> Path:
    """A Tiny-ImageNet layout whose image i of a class is white inside its box (x0 = i, y0 = 2i) and black outside."""
    rows = {"train": ["path\twnid\tx0\ty0\tx1\ty1"], "val": ["path\twnid\tx0\ty0\tx1\ty1"]}
    count = 0
    for split, number in (("train", per_class), ("val", val_per_class)):
        for wnid in WNIDS:
            (root / split / wnid).mkdir(parents=True)
            for i in range(number):
                name = f"{split}/{wnid}/{wnid}_{i}.JPEG" if split == "train" else f"val/{wnid}/val_{count}.JPEG"
                count += 1
                box = (i, 2 * i, 40 + i, 50 + i)
                pixels = torch.zeros(64, 64, 3, dtype=torch.uint8)
                pixels[box[1] : box[3] + 1, box[0] : box[2] + 1] = 255
                Image.fromarray(pixels.numpy()).save(root / name, format="PNG")  # lossless, whatever the suffix
                rows[split].append(f"{name}\t{wnid}\t" + "\t".join(map(str, box)))
    for split, lines in rows.items():
        (root / f"{split}_boxes.tsv").write_text("\n".join(lines) + "\n")
    return root


def _box_of(image: torch.Tensor) -> list[float]:
    ys, xs = (image[0] > 127).nonzero(as_tuple=True)
    return [float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())]


def test_tinyimagenet_boxes_stay_with_their_images_through_subsets(tmp_path: Path) -> None:
    root = tiny_folder(tmp_path)
    data = load_dataset("tinyimagenet", root, per_class=3, seed=4, val_per_class=1)
    assert data.train_images.shape == (12, 3, 64, 64) and data.test_images.shape == (4, 3, 64, 64)
    for images, boxes in ((data.train_images, data.train_boxes), (data.test_images, data.test_boxes)):
        assert len(boxes) == len(images)
        for image, box in zip(images, boxes, strict=True):
            assert _box_of(image) == box.tolist()  # the box drawn into each image is the one kept beside it
    full = load_dataset("tinyimagenet", root)
    assert full.augment is not None and full.augment.pad(64) == 8 and full.channels == 3
    assert len(full.test_boxes) == 8 and full.fingerprint is not None


def test_tinyimagenet_class_subsets_are_first_n_or_seeded(tmp_path: Path) -> None:
    root = tiny_folder(tmp_path)
    assert load_dataset("tinyimagenet", root, classes=2).classes == ["n01", "n02"]
    seeded = load_dataset("tinyimagenet", root, classes=2, class_seed=3)
    assert seeded.classes == load_dataset("tinyimagenet", root, classes=2, class_seed=3).classes
    assert len(seeded.classes) == 2 and set(seeded.classes) <= set(WNIDS)
    assert len(seeded.train_labels) == 10 and set(seeded.train_labels.tolist()) == {0, 1}
    with pytest.raises(DataError, match=r"classes must be an int >= 1 and <= 4, got 9"):
        load_dataset("tinyimagenet", root, classes=9)


def test_resized_boxes_cover_the_same_pixels(tmp_path: Path) -> None:
    data = load_dataset("tinyimagenet", tiny_folder(tmp_path), image_size=32)
    assert data.train_images.shape[-1] == 32 and data.image_size == 32
    box = data.train_boxes[1]  # x0 = 1, y0 = 2, x1 = 41, y1 = 51 at 64 px (inclusive)
    assert box.tolist() == [0.5, 1.0, 20.0, 25.0]  # pixels 1-41 of 64 are the continuous 1-42: 0.5-21 at 32
    assert scale_boxes(torch.tensor([[0.0, 0.0, 63.0, 63.0]]), 32).tolist() == [[0.0, 0.0, 31.0, 31.0]]


def test_missing_or_malformed_box_files_are_named(tmp_path: Path) -> None:
    root = tiny_folder(tmp_path)
    (root / "val_boxes.tsv").unlink()
    with pytest.raises(DataError, match=f"box file {root / 'val_boxes.tsv'} is missing"):
        load_dataset("tinyimagenet", root)
    (root / "val_boxes.tsv").write_text("path\twnid\tx0\ty0\tx1\ty1\nval/n01/val_20.JPEG\tn01\t1\t2\tx\t4\n")
    with pytest.raises(DataError, match=r"val_boxes\.tsv, line 2: expected path, wnid and four pixel corners"):
        load_dataset("tinyimagenet", root)
    (root / "val_boxes.tsv").write_text("path\twnid\tx0\ty0\tx1\ty1\nval/n01/val_20.JPEG\tn01\t9\t2\t3\t4\n")
    with pytest.raises(DataError, match="line 2"):  # x0 > x1
        load_dataset("tinyimagenet", root)
    (root / "val_boxes.tsv").write_text("path\twnid\tx0\ty0\tx1\ty1\n")
    with pytest.raises(DataError, match="has no box for"):
        load_dataset("tinyimagenet", root)


RATE = 8000


def fsdd_folder(root: Path, speakers: tuple[str, ...] = ("ann", "bob", "cy"), takes: int = 7) -> Path:
    """Recordings whose digit d is a tone of 300 + 300 d Hz, so that a network can tell them apart."""
    (root / "recordings").mkdir(parents=True)
    for digit in range(10):
        for s, speaker in enumerate(speakers):
            for take in range(takes):
                t = torch.arange(2400 + 100 * s) / RATE
                samples = 0.4 * torch.sin(2 * math.pi * (300 + 300 * digit) * t)
                with wave.open(str(root / "recordings" / f"{digit}_{speaker}_{take}.wav"), "wb") as clip:
                    clip.setnchannels(1)
                    clip.setsampwidth(2)
                    clip.setframerate(RATE)
                    clip.writeframes((samples * 32767).round().to(torch.int16).numpy().tobytes())
    return root


def test_fsdd_splits_official_speaker_and_scarce(tmp_path: Path) -> None:
    root = fsdd_folder(tmp_path)
    official = load_dataset("fsdd", root)
    assert official.train_images.shape == (10 * 3 * 2, 1, 64, 64) and len(official.test_labels) == 10 * 3 * 5
    assert official.channels == 1 and official.augment is None and official.image_size == 64
    assert official.train_images.dtype == torch.uint8 and official.classes == [str(d) for d in range(10)]
    held_out = load_dataset("fsdd", root, split="speaker", fold=1)  # bob
    assert len(held_out.test_labels) == 70 and len(held_out.train_labels) == 140
    scarce = load_dataset("fsdd", root, split="speaker", fold=1, takes=2)
    assert len(scarce.train_labels) == 10 * 2 * 2
    with pytest.raises(DataError, match=r"fold must be an int >= 0 and < 3 \(the held-out speaker of ann, bob, cy\)"):
        load_dataset("fsdd", root, split="speaker", fold=3)
    with pytest.raises(DataError, match="split must be 'official' or 'speaker'"):
        load_dataset("fsdd", root, split="random")


def test_fsdd_tones_land_in_rising_mel_bands(tmp_path: Path) -> None:
    data = load_dataset("fsdd", fsdd_folder(tmp_path, speakers=("ann",), takes=6))
    peaks = [int(data.train_images[data.train_labels == d].float().mean(dim=(0, 1, 3)).argmax()) for d in range(10)]
    assert peaks == sorted(peaks) and peaks[0] < peaks[-1]  # a higher digit's tone, a higher mel band


def test_fsdd_bad_files_are_one_line_errors(tmp_path: Path) -> None:
    root = fsdd_folder(tmp_path, speakers=("ann",), takes=6)
    (root / "recordings" / "readme.txt").write_text("hello")
    with pytest.raises(DataError, match=r"readme.txt: expected a recording named <digit>_<speaker>_<take>\.wav"):
        load_dataset("fsdd", root)
    (root / "recordings" / "readme.txt").unlink()
    (root / "recordings" / "3_ann_9.wav").write_text("not audio")
    with pytest.raises(DataError, match=r"cannot read .*3_ann_9\.wav as a WAV file"):
        load_dataset("fsdd", root)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no recordings"):
        load_dataset("fsdd", tmp_path / "empty")
    assert parse_name(Path("7_jackson_31.wav")) == (7, "jackson", 31)


def test_spectrograms_are_never_flipped_or_cropped(tmp_path: Path) -> None:
    from saliency_grafting.config import TrainConfig

    data = load_dataset("fsdd", fsdd_folder(tmp_path, speakers=("ann",), takes=6))
    train, _ = make_loaders(data, TrainConfig(batch_size=10), torch.device("cpu"))
    assert train.augment is False
    images, labels = next(iter(train))
    index = [int((data.train_labels == y).nonzero()[0]) for y in labels[:1]]
    one = (data.train_images[index].float() / 255 - data.mean.view(1, -1, 1, 1)) / data.std.view(1, -1, 1, 1)
    matches = [
        torch.allclose(images[0], (data.train_images[i].float() / 255 - data.mean[0]) / data.std[0])
        for i in range(len(data.train_images))
    ]
    assert any(matches) and one.shape == images[:1].shape

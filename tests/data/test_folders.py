"""Image folders: decompression bombs and empty class folders are refused with the path named; decoding progress."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image

from saliency_grafting.data import DataError, load_dataset
from saliency_grafting.data.folders import decode_folder, list_folder, read_rgb


def make_folder(root: Path, classes: tuple[str, ...] = ("cat", "dog"), per_class: int = 2) -> Path:
    for split in ("train", "test"):
        for name in classes:
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                Image.new("RGB", (8, 8), (10 * i, 60, 90)).save(root / split / name / f"{i}.png")
    return root


def test_a_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    Image.new("1", (12_000, 12_000)).save(bomb)  # 144 M pixels (432 MB as RGB) in a few kB
    assert bomb.stat().st_size < 100_000
    with pytest.raises(DataError, match=re.escape(f"image {bomb} has 12000x12000 pixels")):
        read_rgb(bomb)


def test_a_bomb_over_twice_the_limit_is_named_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.png"
    Image.new("RGB", (64, 64)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # PIL itself raises over twice the limit
    with pytest.raises(DataError, match=re.escape(str(path))):
        read_rgb(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 4096)  # at the limit: decoded
    assert tuple(read_rgb(path).shape) == (3, 64, 64)


def test_a_bomb_in_an_image_folder_names_the_file(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d")
    Image.new("1", (12_000, 12_000)).save(root / "train" / "dog" / "huge.png")
    with pytest.raises(DataError, match=re.escape("huge.png")):
        load_dataset("imagefolder", root)


def test_an_empty_class_folder_is_refused_with_the_folder_named(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d")
    (root / "train" / "emu").mkdir()
    (root / "train" / "emu" / "notes.txt").write_text("not an image")
    with pytest.raises(DataError, match=re.escape(f"class folder {root / 'train' / 'emu'} has no images")):
        load_dataset("imagefolder", root)
    with pytest.raises(DataError, match="emu"):
        list_folder(root / "train")
    (root / "test" / "dog" / "0.png").unlink()
    (root / "test" / "dog" / "1.png").unlink()
    with pytest.raises(DataError, match=re.escape(str(root / "test" / "dog"))):
        list_folder(root / "test", ["cat", "dog"])


def test_decoding_reports_progress_only_when_asked(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = make_folder(tmp_path / "d", per_class=3)
    paths, _, _ = list_folder(root / "train")
    quiet = decode_folder(paths)
    assert capsys.readouterr().err == ""
    loud = decode_folder(paths, progress=True, desc="decoding d/train")
    lines = capsys.readouterr().err.splitlines()
    assert (quiet == loud).all() and len(lines) == 2
    assert lines[0] == "decoding d/train: 6 images ..." and lines[1].startswith("decoding d/train: 6 images in ")
    load_dataset("imagefolder", root, progress=True)
    err = capsys.readouterr().err
    assert "decoding d/train: 6 images" in err and "decoding d/test: 6 images" in err

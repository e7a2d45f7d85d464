"""The Free Spoken Digit Dataset: WAV recordings of the digits 0-9 (8 kHz) as one-channel log-mel images.

Files ``recordings/{digit}_{speaker}_{take}.wav``. Splits (option ``split``): ``official`` (takes 0-4 of every
speaker and digit are the test set) or ``speaker`` (the speaker ``fold``, an index into the sorted speakers, is the
test set: generalisation to a new voice). ``takes`` keeps that many training takes per speaker and digit (the
lowest-numbered): the data-scarcity variant. Spectrograms are stored as uint8 over a fixed 80 dB range below the
loudest training bin and normalised with the training set's mean and std; no flips or crops (they would reverse
time or shift pitch).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

import torch

from saliency_grafting._validation import check_int
from saliency_grafting.data.audio import LogMel, read_wav
from saliency_grafting.data.base import Dataset, channel_stats
from saliency_grafting.data.folders import DataError
from saliency_grafting.data.registry import DatasetSource, fingerprint_files, register_dataset

__all__ = ["FSDD", "parse_name"]

SAMPLE_RATE = 8000
TEST_TAKES = 5  # official split: takes 0-4 are the test set
DYNAMIC_RANGE_DB = 80.0
_NAME = re.compile(r"(\d)_([A-Za-z]+)_(\d+)\.wav")


def parse_name(path: Path) -> tuple[int, str, int]:
    """``(digit, speaker, take)`` of ``{digit}_{speaker}_{take}.wav``; a ``DataError`` naming the file otherwise."""
    match = _NAME.fullmatch(path.name)
    if match is None:
        raise DataError(f"{path}: expected a recording named <digit>_<speaker>_<take>.wav")
    return int(match[1]), match[2], int(match[3])


@register_dataset
class FSDD(DatasetSource):
    name = "fsdd"
    description = "Free Spoken Digit Dataset: WAV digits 0-9 as 1 x 64 x 64 log-mel spectrograms"
    channels = 1
    modality = "audio"
    augment = None
    options: ClassVar[dict[str, Any]] = {"split": "official", "fold": 0, "takes": None, "n_mels": 64, "frames": 64}

    def fingerprint(self, root: Path | None) -> str | None:
        return None if root is None else fingerprint_files(root / "recordings", lambda p: p.suffix == ".wav")

    def load(self, root: Path | None, *, image_size: int | None, seed: int, progress: bool, **options: Any) -> Dataset:
        root = self.folder(root)
        folder = root / "recordings"
        files = sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
        if not files:
            raise DataError(f"{folder} holds no recordings: expected the unpacked free-spoken-digit folder")
        if image_size is not None:
            raise DataError("fsdd has no image_size: set its n_mels and frames options instead")
        meta = [parse_name(p) for p in files]
        speakers = sorted({speaker for _, speaker, _ in meta})
        test = self._test_mask(meta, speakers, options["split"], options["fold"])
        train = self._train_mask(meta, ~test, options["takes"])
        transform = LogMel(sample_rate=SAMPLE_RATE, n_mels=options["n_mels"], frames=options["frames"])
        db = torch.stack([transform(read_wav(p, SAMPLE_RATE)) for p in files]).unsqueeze(1)
        top = db[train].amax()  # the scale is fixed by the training clips only
        images = ((db - (top - DYNAMIC_RANGE_DB)) / DYNAMIC_RANGE_DB * 255).round().clamp(0, 255).to(torch.uint8)
        labels = torch.tensor([digit for digit, _, _ in meta])
        return Dataset(
            self.name,
            [str(d) for d in range(10)],
            *channel_stats(images[train]),
            options["frames"],
            images[train],
            labels[train],
            images[test],
            labels[test],
            augment=None,
            fingerprint=self.fingerprint(root),
        )

    @staticmethod
    def _test_mask(meta: list[tuple[int, str, int]], speakers: list[str], split: str, fold: Any) -> torch.Tensor:
        if split == "official":
            return torch.tensor([take < TEST_TAKES for _, _, take in meta])
        if split != "speaker":
            raise DataError(f"fsdd option split must be 'official' or 'speaker', got {split!r}")
        why = f"the held-out speaker of {', '.join(speakers)}"
        fold = check_int(
            fold,
            "fold",
            "fsdd option",
            low=0,
            high=len(speakers),
            high_open=True,
            why=why,
            error=DataError,
            type_error=DataError,
        )
        return torch.tensor([speaker == speakers[fold] for _, speaker, _ in meta])

    @staticmethod
    def _train_mask(meta: list[tuple[int, str, int]], train: torch.Tensor, takes: Any) -> torch.Tensor:
        if takes is None:
            return train
        takes = check_int(takes, "takes", "fsdd option", low=1, why="or null", error=DataError, type_error=DataError)
        kept = torch.zeros_like(train)
        groups: dict[tuple[int, str], list[tuple[int, int]]] = {}
        for index, (digit, speaker, take) in enumerate(meta):
            if train[index]:
                groups.setdefault((digit, speaker), []).append((take, index))
        for members in groups.values():
            for _, index in sorted(members)[:takes]:
                kept[index] = True
        return kept

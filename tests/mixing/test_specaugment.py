"""SpecAugment: frequency bands and time spans zeroed, of bounded widths; the label unchanged."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from saliency_grafting.mixing import SpecAugment, create_mixer


@given(
    seed=st.integers(0, 2**31),
    mels=st.integers(8, 64),
    frames=st.integers(8, 80),
    freq_width=st.integers(0, 30),
    time_ratio=st.floats(0, 1),
    masks=st.integers(0, 3),
)
def test_masks_are_whole_bands_and_spans_of_bounded_width(
    seed: int, mels: int, frames: int, freq_width: int, time_ratio: float, masks: int
) -> None:
    mixer = SpecAugment(num_classes=3, freq_width=freq_width, freq_masks=masks, time_ratio=time_ratio, time_masks=masks)
    images = torch.rand(4, 1, mels, frames) + 1  # no pixel is zero before masking
    mixed, targets = mixer(images, torch.tensor([0, 1, 2, 0]), generator=torch.Generator().manual_seed(seed))
    assert torch.equal(targets, torch.eye(3)[[0, 1, 2, 0]])  # the label is unchanged
    hole = mixed == 0
    assert torch.equal(mixed[~hole], images[~hole])  # what is kept is the image
    for sample in hole[:, 0]:
        rows, columns = sample.all(dim=1), sample.all(dim=0)  # fully masked bands and spans
        assert torch.equal(sample, rows[:, None] | columns[None, :])  # nothing else is masked
        assert int(rows.sum()) <= masks * min(freq_width, mels) or int(rows.sum()) == mels
        time_width = min(100, int(time_ratio * frames))
        assert int(columns.sum()) <= masks * time_width or int(columns.sum()) == frames


def test_seeded_draws_repeat_and_differ_across_seeds() -> None:
    mixer = create_mixer("specaugment", 10)
    images, labels = torch.randn(8, 1, 64, 64), torch.arange(8)
    first = mixer(images, labels, generator=torch.Generator().manual_seed(1))[0]
    assert torch.equal(first, mixer(images, labels, generator=torch.Generator().manual_seed(1))[0])
    assert not torch.equal(first, mixer(images, labels, generator=torch.Generator().manual_seed(2))[0])


def test_no_masks_is_the_identity_and_bad_arguments_are_named() -> None:
    images = torch.randn(2, 1, 16, 16)
    mixer = SpecAugment(num_classes=2, freq_masks=0, time_masks=0)
    assert torch.equal(mixer(images, torch.tensor([0, 1]))[0], images)
    with pytest.raises(ValueError, match=r"SpecAugment: time_ratio must be a finite number >= 0 and <= 1, got 1\.5"):
        SpecAugment(num_classes=2, time_ratio=1.5)
    with pytest.raises(ValueError, match="SpecAugment: freq_masks must be an int >= 0"):
        SpecAugment(num_classes=2, freq_masks=-1)


def test_grafting_then_masking_chains() -> None:
    chain = create_mixer("saliency_grafting+specaugment", 10)
    images, labels = torch.randn(6, 1, 32, 32), torch.arange(6)
    saliency = torch.rand(6, 4, 4)
    mixed, targets = chain(images, labels, saliency, generator=torch.Generator().manual_seed(0))
    assert mixed.shape == images.shape and torch.allclose(targets.sum(1), torch.ones(6))

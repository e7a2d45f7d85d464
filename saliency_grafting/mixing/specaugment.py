"""SpecAugment's masking (Park et al., Interspeech 2019): zero frequency bands and time spans of a spectrogram.

The images are one-channel log-mel spectrograms ``[B, 1, mels, frames]`` (frequency down the rows, time across);
zero is the training mean after normalisation, as the paper masks with the mean. Per sample: ``freq_masks`` bands of
``f ~ U{0, ..., freq_width}`` consecutive mel bins starting at ``f0 ~ U{0, ..., mels - f}``, and ``time_masks``
spans of ``t ~ U{0, ..., T}`` frames, ``T = min(time_width, time_ratio * frames)``. The defaults are the paper's LD
policy (F = 27 of 80 mel bins, m_F = 2, T = 100, p = 0.2, m_T = 2) with F scaled to 64 mel bins; time warping, which
the paper found the least useful, is left out. The label is unchanged (``lam = 1``, ``perm = i``), so SpecAugment
chains with a mixer: ``saliency_grafting+specaugment`` grafts by the clean batch's saliency, then masks the result.
"""

from __future__ import annotations

import torch
from torch import Tensor

from saliency_grafting.mixing import _checks as C
from saliency_grafting.mixing import functional as MF
from saliency_grafting.mixing.base import Masking, MixParams

__all__ = ["SpecAugment"]


def _stripes(length: int, width: int, count: int, batch: int, generator: torch.Generator | None, device) -> Tensor:
    """``[B, length]`` bool: ``count`` random spans per sample, each of a width in ``0 .. width``."""
    draws = MF.sample_uniform((2, count, batch), generator, device)
    widths = (draws[0] * (width + 1)).long().clamp(max=length)
    starts = (draws[1] * (length - widths + 1)).long()
    position = torch.arange(length, device=device).view(1, 1, -1)
    inside = (position >= starts[..., None]) & (position < (starts + widths)[..., None])
    return inside.any(dim=0)


class SpecAugment(Masking):
    """Frequency and time masking of spectrogram batches (see the module); the label is unchanged."""

    def __init__(
        self,
        *,
        num_classes: int,
        freq_width: int = 22,
        freq_masks: int = 2,
        time_width: int = 100,
        time_ratio: float = 0.2,
        time_masks: int = 2,
        label_smoothing: float = 0.0,
        validate: bool = True,
    ) -> None:
        super().__init__(num_classes=num_classes, label_smoothing=label_smoothing, validate=validate)
        self.freq_width = C.check_int(freq_width, "freq_width", self, low=0)
        self.freq_masks = C.check_int(freq_masks, "freq_masks", self, low=0)
        self.time_width = C.check_int(time_width, "time_width", self, low=0)
        self.time_ratio = C.check_number(time_ratio, "time_ratio", self, low=0, high=1)
        self.time_masks = C.check_int(time_masks, "time_masks", self, low=0)

    def _sample(
        self, images: Tensor, saliency: Tensor | None, perm: Tensor, generator: torch.Generator | None
    ) -> MixParams:
        batch, _, mels, frames = images.shape
        device = images.device
        time_width = min(self.time_width, int(self.time_ratio * frames))
        bands = _stripes(mels, min(self.freq_width, mels), self.freq_masks, batch, generator, device)
        spans = _stripes(frames, time_width, self.time_masks, batch, generator, device)
        hole = bands[:, None, :, None] | spans[:, None, None, :]
        return MixParams(
            perm=torch.arange(batch, device=device), mask=(~hole).to(images.dtype), lam=torch.ones(batch, device=device)
        )

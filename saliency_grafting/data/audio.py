"""Speech as images: 16-bit PCM WAV read with the standard library, log-mel spectrograms computed with torch.

A clip becomes a one-channel image ``[1, n_mels, frames]`` (frequency up, time across), so every mixer and model
of the library applies to it unchanged. Parameters as the speech field uses them: 25 ms Hann windows, 10 ms hop,
a mel filter bank (HTK mel scale), power in dB with a floor.
"""

from __future__ import annotations

import math
import wave
from pathlib import Path

import torch
from torch import Tensor

from saliency_grafting.data.folders import DataError

__all__ = ["LogMel", "mel_filterbank", "read_wav"]


def read_wav(path: Path, sample_rate: int) -> Tensor:
    """One mono 16-bit PCM WAV file as float32 samples in [-1, 1]; a ``DataError`` naming the file otherwise."""
    try:
        with wave.open(str(path), "rb") as clip:
            channels, width, rate = clip.getnchannels(), clip.getsampwidth(), clip.getframerate()
            count = clip.getnframes()
            frames = clip.readframes(count)
    except (wave.Error, EOFError, OSError) as err:
        raise DataError(f"cannot read {path} as a WAV file: {err}") from None
    if channels != 1 or width != 2:
        raise DataError(f"{path}: expected mono 16-bit PCM, got {channels} channel(s) of {8 * width} bits")
    if rate != sample_rate:
        raise DataError(f"{path}: expected a sample rate of {sample_rate} Hz, got {rate} Hz")
    if count == 0 or not frames:
        raise DataError(f"{path}: the clip is empty (0 samples)")
    return torch.frombuffer(bytearray(frames), dtype=torch.int16).float() / 32768


def _hz_to_mel(hz: Tensor) -> Tensor:
    return 2595.0 * torch.log10(1.0 + hz / 700.0)


def _mel_to_hz(mel: Tensor) -> Tensor:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filterbank(
    n_freqs: int, n_mels: int, sample_rate: int, f_min: float = 0.0, f_max: float | None = None
) -> Tensor:
    """Triangular filters ``[n_mels, n_freqs]`` equally spaced on the HTK mel scale from ``f_min`` to ``f_max``."""
    f_max = sample_rate / 2 if f_max is None else f_max
    freqs = torch.linspace(0, sample_rate / 2, n_freqs, dtype=torch.float64)
    edges = _mel_to_hz(
        torch.linspace(
            float(_hz_to_mel(torch.tensor(f_min))),
            float(_hz_to_mel(torch.tensor(f_max))),
            n_mels + 2,
            dtype=torch.float64,
        )
    )
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs - lower) / (centre - lower)
    falling = (upper - freqs) / (upper - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0).float()


class LogMel:
    """Log-mel power spectrogram in dB of a waveform, cropped or padded (with silence) to ``frames`` frames.

    ``window_ms`` / ``hop_ms``: the analysis window and hop; ``floor_db``: the smallest power kept (dB re 1).
    A clip longer than ``frames`` keeps its middle (digits are spoken in the middle of their recordings).
    """

    def __init__(
        self,
        *,
        sample_rate: int,
        n_mels: int = 64,
        frames: int = 64,
        window_ms: float = 25.0,
        hop_ms: float = 10.0,
        floor_db: float = -100.0,
    ) -> None:
        self.sample_rate, self.frames, self.floor_db = sample_rate, frames, floor_db
        self.window = round(sample_rate * window_ms / 1000)
        self.hop = round(sample_rate * hop_ms / 1000)
        self.n_fft = 2 ** math.ceil(math.log2(self.window))
        self.filters = mel_filterbank(self.n_fft // 2 + 1, n_mels, sample_rate)

    def __call__(self, samples: Tensor) -> Tensor:
        """``[n_mels, frames]`` float32 dB of a 1-D waveform."""
        length = self.n_fft + (self.frames - 1) * self.hop  # the samples that make exactly ``frames`` frames
        if len(samples) > length:
            start = (len(samples) - length) // 2
            samples = samples[start : start + length]
        else:
            samples = torch.nn.functional.pad(samples, (0, length - len(samples)))
        spectrum = torch.stft(
            samples,
            self.n_fft,
            hop_length=self.hop,
            win_length=self.window,
            window=torch.hann_window(self.window),
            center=False,
            return_complex=True,
        )
        power = self.filters @ spectrum.abs().square()
        return 10 * torch.log10(power.clamp_min(10 ** (self.floor_db / 10)))

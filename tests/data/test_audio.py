"""Audio: WAV files read with the standard library, log-mel spectrograms, and their one-line errors."""

from __future__ import annotations

import math
import wave
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from saliency_grafting.data import DataError
from saliency_grafting.data.audio import LogMel, mel_filterbank, read_wav

RATE = 8000


def write_wav(path: Path, samples: torch.Tensor, *, rate: int = RATE, channels: int = 1, width: int = 2) -> Path:
    pcm = (samples.clamp(-1, 1) * 32767).round().to(torch.int16)
    with wave.open(str(path), "wb") as clip:
        clip.setnchannels(channels)
        clip.setsampwidth(width)
        clip.setframerate(rate)
        clip.writeframes(pcm.repeat_interleave(channels).numpy().tobytes() if width == 2 else bytes(len(pcm)))
    return path


def tone(hz: float, seconds: float = 0.5) -> torch.Tensor:
    t = torch.arange(int(RATE * seconds)) / RATE
    return 0.5 * torch.sin(2 * math.pi * hz * t)


def _hz_to_mel(hz: float) -> float:
    return 2595 * math.log10(1 + hz / 700)


@given(st.floats(min_value=200, max_value=3500))
def test_a_pure_tones_spectrogram_peaks_in_its_mel_band(hz: float) -> None:
    transform = LogMel(sample_rate=RATE, n_mels=40, frames=32)
    db = transform(tone(hz))
    band = int(db.mean(dim=1).argmax())
    # the centre of each band, equally spaced in mel from 0 to 4000 Hz (independent of the filter bank's code)
    centres = [(i + 1) * _hz_to_mel(RATE / 2) / 41 for i in range(40)]
    expected = min(range(40), key=lambda i: abs(centres[i] - _hz_to_mel(hz)))
    assert abs(band - expected) <= 1


def test_the_filter_bank_is_triangles_that_tile_the_mel_axis() -> None:
    filters = mel_filterbank(129, 20, RATE)
    assert filters.shape == (20, 129) and filters.min() >= 0 and filters.max() <= 1
    peaks = filters.argmax(dim=1)
    assert torch.all(peaks[1:] > peaks[:-1])  # band centres rise with the band index
    between = filters[:, int(peaks[0]) + 1 : int(peaks[-1])].sum(dim=0)  # strictly between the outer centres
    assert torch.allclose(between, torch.ones(1), atol=1e-5)  # neighbouring triangles add up to 1


def test_clips_are_cropped_or_padded_to_the_frame_count() -> None:
    transform = LogMel(sample_rate=RATE, n_mels=16, frames=20)
    assert transform(tone(440, 0.05)).shape == (16, 20)
    assert transform(tone(440, 3.0)).shape == (16, 20)
    silence = transform(torch.zeros(100))
    assert torch.all(silence == transform.floor_db)  # the floor, never -inf


def test_read_wav_returns_the_samples(tmp_path: Path) -> None:
    samples = tone(300, 0.1)
    read = read_wav(write_wav(tmp_path / "a.wav", samples), RATE)
    assert read.dtype == torch.float32 and torch.allclose(read, samples, atol=1 / 16000)


def test_bad_files_give_one_line_errors_naming_the_file(tmp_path: Path) -> None:
    text = tmp_path / "notes.wav"
    text.write_text("not a wav file")
    with pytest.raises(DataError, match=f"cannot read {text} as a WAV file"):
        read_wav(text, RATE)
    fast = write_wav(tmp_path / "fast.wav", tone(300), rate=16000)
    with pytest.raises(DataError, match="expected a sample rate of 8000 Hz, got 16000 Hz"):
        read_wav(fast, RATE)
    empty = write_wav(tmp_path / "empty.wav", torch.zeros(0))
    with pytest.raises(DataError, match=f"{empty}: the clip is empty"):
        read_wav(empty, RATE)
    stereo = write_wav(tmp_path / "stereo.wav", tone(300), channels=2)
    with pytest.raises(DataError, match="expected mono 16-bit PCM, got 2 channel"):
        read_wav(stereo, RATE)
    for err in (text, fast, empty):
        with pytest.raises(DataError) as info:
            read_wav(err, RATE)
        assert "\n" not in str(info.value)

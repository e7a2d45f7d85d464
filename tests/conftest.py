"""Shared fixtures: small generated batches, seeded generators and a mixer factory for every registered name."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from hypothesis import settings

import saliency_grafting as sg

settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True)
settings.load_profile("ci")

NUM_CLASSES = 10
ALL_MIXERS = sorted(sg.MIXERS)


def make_batch(
    batch: int = 6, size: int = 32, *, seed: int = 0, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images whose every pixel is distinct across the batch, labels, and a forward-saliency-like map [B, 8, 8]."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(batch, 3, size, size, generator=g).to(dtype)
    labels = torch.randint(0, NUM_CLASSES, (batch,), generator=g)
    saliency = torch.rand(batch, max(size // 4, 1), max(size // 4, 1), generator=g) ** 3
    return images, labels, saliency


def build(name: str, **kwargs: object) -> sg.Mixer:
    """A registered mixer; PuzzleMix without transport, so that its pixels follow the shared convention."""
    if name == "puzzlemix":
        kwargs = {"transport": False, **kwargs}
    return sg.create_mixer(name, NUM_CLASSES, **kwargs)


def needs_saliency(mixer: sg.Mixer) -> bool:
    return mixer.saliency_kind in (sg.SaliencyKind.FORWARD, sg.SaliencyKind.INPUT_GRADIENT)


FAST = ["--per-class", "10", "--batch-size", "50", "--model-arg", "width=4", "--quiet"]  # a CLI run of seconds


def run_cli(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    """``sgraft ARGS`` in-process: ``(exit code, stdout, stderr)``."""
    from saliency_grafting.cli import main

    try:
        main(args)
        code = 0
    except SystemExit as stop:
        code = stop.code
    out, err = capsys.readouterr()
    return code, out, err


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(params=ALL_MIXERS)
def mixer(request: pytest.FixtureRequest) -> sg.Mixer:
    return build(request.param)


_HOLD = """
import fcntl, sys, time
handle = open(sys.argv[1], "a+")
fcntl.flock(handle, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


@contextmanager
def held_elsewhere(path: Path, seconds: float = 60) -> Iterator[None]:
    """Another process holds the claim ``path`` for the duration (it has the lock when this yields)."""
    child = subprocess.Popen([sys.executable, "-c", _HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    try:
        yield
    finally:
        child.kill()
        child.wait()

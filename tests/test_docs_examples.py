"""Every Python block of the README and the documentation runs as it is written, on a tiny model and generated data.

A block runs in a namespace holding what the prose says it is given (``model``, ``loader``, ``optimizer``, ``epochs``,
``warmup_epochs``; ``wav_paths`` and ``digits`` for audio); what it registers (a dataset, a scale, an experiment) is
removed after it. The loops' blocks (marked ``<!-- example: NAME -->``) must also train the model.
"""

from __future__ import annotations

import math
import re
import wave
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from saliency_grafting.data import DATASETS
from saliency_grafting.experiments import EXPERIMENTS
from saliency_grafting.experiments.scales import SCALES
from saliency_grafting.models import create_model

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").rglob("*.md") if "results" not in p.parts)]
BLOCK = re.compile(r"(?:<!-- example: (\w+) -->\s*)?```python\n(.*?)```", re.S)


def blocks() -> list[tuple[str, str | None, str]]:
    """``(page:index, example name or None, code)`` of every Python block."""
    found = []
    for page in PAGES:
        for index, match in enumerate(BLOCK.finditer(page.read_text())):
            found.append((f"{page.relative_to(ROOT)}:{index}", match.group(1), match.group(2)))
    return found


def _wavs(folder: Path) -> tuple[list[Path], torch.Tensor]:
    paths, digits = [], []
    for digit in range(4):
        path = folder / f"{digit}_ann_0.wav"
        t = torch.arange(3000) / 8000
        with wave.open(str(path), "wb") as clip:
            clip.setnchannels(1)
            clip.setsampwidth(2)
            clip.setframerate(8000)
            clip.writeframes(
                (0.3 * torch.sin(2 * math.pi * (400 + 300 * digit) * t) * 32767).to(torch.int16).numpy().tobytes()
            )
        paths.append(path)
        digits.append(digit)
    return paths, torch.tensor(digits)


def context(tmp_path: Path) -> dict[str, object]:
    torch.manual_seed(0)
    model = create_model("resnet_tiny", 10)
    g = torch.Generator().manual_seed(1)
    images, labels = torch.randn(16, 3, 32, 32, generator=g), torch.randint(0, 10, (16,), generator=g)
    loader = DataLoader(TensorDataset(images, labels), batch_size=8)  # 2 batches, in order
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    wav_paths, digits = _wavs(tmp_path)
    return {
        "model": model,
        "loader": loader,
        "optimizer": optimizer,
        "epochs": 2,
        "warmup_epochs": 1,
        "wav_paths": wav_paths,
        "digits": digits,
    }


def test_the_pages_have_blocks_and_the_loops_are_marked() -> None:
    names = {name for _, name, _ in blocks() if name}
    assert {"plain", "timm", "lightning", "audio"} <= names
    assert len(blocks()) >= 9  # the README (2), the loop guide (3), datasets (1), extending (3)


@pytest.mark.parametrize(("where", "name", "code"), blocks(), ids=[where for where, _, _ in blocks()])
def test_every_python_block_runs(where: str, name: str | None, code: str, tmp_path: Path) -> None:
    if "import lightning" in code:
        pytest.importorskip("lightning")
    scope = context(tmp_path)
    model = scope["model"]
    before = [p.detach().clone() for p in model.parameters()]
    calls = {"n": 0}
    model.register_forward_pre_hook(lambda *_: calls.__setitem__("n", calls["n"] + 1))
    registered = (set(DATASETS), set(SCALES), set(EXPERIMENTS))
    try:
        exec(compile(code, where, "exec"), scope)
    finally:
        for table, old in zip((DATASETS, SCALES, EXPERIMENTS), registered, strict=True):
            for key in set(table) - old:
                table.pop(key)
    if name in ("plain", "timm", "lightning"):  # the loops train the model they are given
        after = list(model.parameters())
        assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))
        assert all(torch.isfinite(p).all() for p in after)
        # 2 batches: warm-up epoch 1 pass each, then clean + grafted (2 passes each); Lightning may add sanity passes
        assert calls["n"] >= 6 if name == "lightning" else calls["n"] == 6
    if name == "audio":
        assert torch.isfinite(scope["loss"]) and scope["batch"].shape == (4, 1, 64, 64)

"""The README's training-loop snippets run as they are written, on a tiny model and a generated loader."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from saliency_grafting.models import create_model

README = Path(__file__).resolve().parents[1] / "README.md"


def snippet(name: str) -> str:
    """The fenced Python block that follows ``<!-- example: name -->`` in the README."""
    match = re.search(rf"<!-- example: {name} -->\s*```python\n(.*?)```", README.read_text(), re.S)
    assert match, f"README has no example {name!r}"
    return match.group(1)


def context() -> dict[str, object]:
    torch.manual_seed(0)
    model = create_model("resnet_tiny", 10)
    g = torch.Generator().manual_seed(1)
    images, labels = torch.randn(16, 3, 32, 32, generator=g), torch.randint(0, 10, (16,), generator=g)
    loader = DataLoader(TensorDataset(images, labels), batch_size=8)  # 2 batches, in order
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    return {"model": model, "loader": loader, "optimizer": optimizer, "epochs": 2, "warmup_epochs": 1}


@pytest.mark.parametrize("name", ["plain", "timm", "lightning"])
def test_readme_loop_trains_the_model(name: str) -> None:
    if name == "lightning":
        pytest.importorskip("lightning")
    scope = context()
    before = [p.detach().clone() for p in scope["model"].parameters()]
    calls = {"n": 0}
    scope["model"].register_forward_pre_hook(lambda *_: calls.__setitem__("n", calls["n"] + 1))
    exec(compile(snippet(name), f"README:{name}", "exec"), scope)
    after = list(scope["model"].parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))
    assert all(torch.isfinite(p).all() for p in after)
    # 2 batches: warm-up epoch 1 pass each, then clean + grafted (2 passes each); Lightning may add sanity passes.
    assert calls["n"] >= 6 if name == "lightning" else calls["n"] == 6

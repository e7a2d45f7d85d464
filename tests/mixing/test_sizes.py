"""Every mixer's defaults work at the sizes people train at (MNIST's 28 px, Tiny-ImageNet's 64, STL's 96, ImageNet's
224): no error, the shape kept, soft labels that sum to one."""

from __future__ import annotations

import pytest
import torch

import saliency_grafting as sg
from tests.conftest import NUM_CLASSES


@pytest.mark.parametrize("side", [28, 64, 96, 224])
@pytest.mark.parametrize("name", sorted(sg.MIXERS))
def test_default_mixers_work_at_common_sizes(name: str, side: int) -> None:
    if name == "puzzlemix":
        pytest.importorskip("gco")
    batch = 4 if side < 224 else 2
    g = torch.Generator().manual_seed(side)
    images, labels = torch.randn(batch, 3, side, side, generator=g), torch.arange(batch)
    kwargs = {"workers": 1} if name == "puzzlemix" else {}
    mixer = sg.create_mixer(name, NUM_CLASSES, **kwargs)
    feature = max(side // 8, 4)  # a last-stage map: 8x downsampling, at least 4x4
    saliency = {
        sg.SaliencyKind.FORWARD: torch.rand(batch, feature, feature, generator=g),
        sg.SaliencyKind.INPUT_GRADIENT: torch.rand(batch, side, side, generator=g),
    }.get(mixer.saliency_kind)
    if isinstance(mixer, sg.AugMix):
        mixer.bind_data(torch.zeros(3), torch.ones(3))
        views = mixer.views(images, torch.zeros(3), torch.ones(3), torch.Generator().manual_seed(0))
        assert all(v.shape == images.shape for v in views)
        return
    if isinstance(mixer, sg.ManifoldMixup):  # it mixes hidden states inside a network
        params = mixer.sample_params(images, labels, generator=torch.Generator().manual_seed(0))
        assert params.lam.shape == (batch,)
        return
    mixed, soft = mixer(images, labels, saliency, generator=torch.Generator().manual_seed(0))
    assert mixed.shape == images.shape and torch.isfinite(mixed).all()
    assert torch.allclose(soft.sum(1), torch.ones(batch))

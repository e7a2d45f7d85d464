"""Manifold Mixup (hidden states via a hook) and AugMix views with the JSD loss (chains: tests/mixing/test_chain.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import saliency_grafting as sg
from saliency_grafting.mixing.augmix import jensen_shannon
from saliency_grafting.models import create_model
from tests.conftest import NUM_CLASSES, make_batch, seeded


def test_manifold_mixup_mixes_the_chosen_stage_output() -> None:
    model = create_model("preactresnet18", NUM_CLASSES, widths=(8, 8, 8, 8)).eval()
    mixer = sg.ManifoldMixup(num_classes=NUM_CLASSES)
    images, labels, _ = make_batch(4)
    layers = set()
    for seed in range(12):
        params = mixer.sample_params(images, labels, generator=seeded(seed))
        layers.add(params.layer)
        logits, soft = mixer.forward(model, images, labels, params)
        lam = params.lam.view(-1, 1, 1, 1)
        with torch.no_grad():
            h = images
            if params.layer == 0:
                h = lam * h + (1 - lam) * h[params.perm]
            h = model.conv1(h)
            for stage in range(1, 5):
                h = getattr(model, f"layer{stage}")(h)
                if stage == params.layer:
                    h = lam * h + (1 - lam) * h[params.perm]
            expected = model.fc(torch.relu(model.bn(h)).mean((2, 3)))
        torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(soft, mixer.soft_labels(labels, params))
    assert layers == {0, 1, 2}
    assert not model.layer1._forward_hooks  # the hook is removed again


def test_manifold_mixup_lambda_is_beta_2_2_per_batch_and_finds_stages() -> None:
    mixer = sg.ManifoldMixup(num_classes=NUM_CLASSES)
    lams = torch.stack([mixer.sample_params(*make_batch(3)[:2], generator=seeded(s)).lam for s in range(2000)])
    assert (lams == lams[:, :1]).all()
    assert lams[:, 0].mean().item() == pytest.approx(0.5, abs=0.02)
    assert lams[:, 0].var().item() == pytest.approx(0.05, abs=0.006)  # Beta(2, 2): 1 / 20
    assert sg.find_stages(create_model("wrn28_10", 10, depth=10, width=1)) == ("block1", "block2")
    assert sg.find_stages(create_model("convnet_small", 10)) == ("stage1", "stage2")
    wrapped = nn.Module()
    wrapped.module = create_model("convnet_small", 10)  # as DistributedDataParallel holds it
    assert sg.find_stages(wrapped) == ("module.stage1", "module.stage2")
    with pytest.raises(ValueError, match="cannot split Sequential"):
        sg.find_stages(nn.Sequential(nn.Conv2d(3, 3, 1)))


def test_jensen_shannon_is_zero_for_equal_and_positive_for_different() -> None:
    z = torch.randn(4, 5, generator=seeded())
    assert jensen_shannon(z, z, z).item() == pytest.approx(0.0, abs=1e-6)
    assert jensen_shannon(z, -z, z).item() > 0.01


def test_augmix_views_are_seeded_and_normalised_like_the_input() -> None:
    mixer = sg.AugMix(num_classes=NUM_CLASSES)
    images = torch.rand(3, 3, 16, 16, generator=seeded())
    mean, std = torch.full((3,), 0.5), torch.full((3,), 0.25)
    x = (images - 0.5) / 0.25
    a = mixer.views(x, mean, std, seeded(1))
    b = mixer.views(x, mean, std, seeded(1))
    assert len(a) == 2 and a[0].shape == x.shape and torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], a[1])
    assert a[0].min() >= -2 - 1e-4 and a[0].max() <= 2 + 1e-4  # pixels stay in [0, 1]
    mixed, soft = mixer(x, torch.tensor([1, 2, 3]))
    assert torch.equal(mixed, x) and torch.equal(soft.argmax(1), torch.tensor([1, 2, 3]))

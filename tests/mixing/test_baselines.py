"""Method-specific behaviour of the light baselines: Mixup, CutMix, Cutout, SaliencyMix, Attentive CutMix."""

from __future__ import annotations

import pytest
import torch

import saliency_grafting as sg
from tests.conftest import NUM_CLASSES, make_batch, seeded


def test_mixup_lambda_is_beta_per_sample_or_per_batch() -> None:
    images, labels, _ = make_batch(512)
    per_sample = sg.Mixup(num_classes=NUM_CLASSES, alpha=1.0).sample_params(images, labels, generator=seeded())
    assert per_sample.mask is None and per_sample.lam.unique().numel() > 500
    assert per_sample.lam.mean().item() == pytest.approx(0.5, abs=0.05)
    assert per_sample.lam.var().item() == pytest.approx(1 / 12, rel=0.15)  # Beta(1, 1) is uniform
    batch = sg.Mixup(num_classes=NUM_CLASSES, per_sample=False).sample_params(images, labels, generator=seeded())
    assert batch.lam.unique().numel() == 1


def test_cutmix_lambda_is_one_minus_the_pasted_area() -> None:
    images, labels, _ = make_batch(64)
    mixer = sg.CutMix(num_classes=NUM_CLASSES)
    for seed in range(5):
        params = mixer.sample_params(images, labels, generator=seeded(seed))
        mixed, _ = mixer.apply(images, labels, params)
        from_partner = (mixed != images).any(dim=1).float().mean((1, 2))  # distinct pixels: pasted ones differ
        paired = params.perm != torch.arange(64)  # a sample paired with itself pastes identical pixels
        torch.testing.assert_close(params.lam[paired], 1 - from_partner[paired])
        pasted = 1 - params.mask[:, 0]
        rows, cols = pasted.any(2), pasted.any(1)
        # The pasted region is one axis-aligned box.
        torch.testing.assert_close(pasted.sum((1, 2)), rows.sum(1).float() * cols.sum(1).float())


def test_cutmix_per_batch_uses_one_box() -> None:
    images, labels, _ = make_batch(16)
    params = sg.CutMix(num_classes=NUM_CLASSES, per_sample=False).sample_params(images, labels, generator=seeded(2))
    assert (params.mask == params.mask[:1]).all() and params.lam.unique().numel() == 1


def test_cutout_zeroes_one_square_and_keeps_the_label() -> None:
    images, labels, _ = make_batch(32)
    mixer = sg.Cutout(num_classes=NUM_CLASSES, size=8)
    mixed, soft = mixer(images, labels, generator=seeded())
    assert torch.equal(soft, torch.nn.functional.one_hot(labels, NUM_CLASSES).float())
    holes = (mixed == 0).all(dim=1)
    rows, cols = holes.any(2).sum(1), holes.any(1).sum(1)
    assert (rows <= 8).all() and (cols <= 8).all() and (holes.sum((1, 2)) == rows * cols).all()
    assert (holes.sum((1, 2)) == 64).any()  # unclipped squares are exactly 8 x 8
    with pytest.raises(ValueError, match="size"):
        sg.Cutout(num_classes=NUM_CLASSES, size=0)


def test_saliencymix_box_is_centred_on_the_pasted_images_peak() -> None:
    images, labels, _ = make_batch(8, size=32)
    peaks = torch.tensor([[3, 5], [20, 9], [16, 16], [30, 1], [7, 27], [12, 12], [25, 25], [0, 0]])
    saliency = torch.zeros(8, 32, 32)
    saliency[torch.arange(8), peaks[:, 0], peaks[:, 1]] = 1.0
    mixer = sg.SaliencyMix(num_classes=NUM_CLASSES)
    for seed in range(5):
        params = mixer.sample_params(images, labels, saliency, generator=seeded(seed))
        pasted = params.mask[:, 0] == 0
        for i in range(8):
            if pasted[i].any():
                peak = peaks[params.perm[i]]
                assert pasted[i, peak[0], peak[1]], "the donor's peak pixel must be inside the pasted box"
        torch.testing.assert_close(params.lam, 1 - pasted.float().mean((1, 2)))


def test_saliencymix_computes_static_saliency_itself() -> None:
    images = torch.zeros(4, 3, 32, 32)
    images[:, :, 20:26, 4:10] = 3.0  # one bright blob on a flat background
    params = sg.SaliencyMix(num_classes=NUM_CLASSES, alpha=8.0).sample_params(
        images, torch.arange(4), generator=seeded()
    )
    pasted = params.mask[:, 0] == 0
    assert pasted[:, 20:26, 4:10].any(dim=(1, 2)).all()


def test_saliencymix_official_variant_uses_one_box_for_the_batch() -> None:
    images, labels, saliency = make_batch(8)
    mixer = sg.SaliencyMix(num_classes=NUM_CLASSES, per_sample=False)
    params = mixer.sample_params(images, labels, saliency, generator=seeded())
    assert (params.mask == params.mask[:1]).all()


def test_attentive_cutmix_pastes_the_donors_top_cells() -> None:
    images, labels, _ = make_batch(6, size=28)
    saliency = torch.rand(6, 7, 7, generator=seeded(4))
    mixer = sg.AttentiveCutMix(num_classes=NUM_CLASSES, top_n=6, grid=7)
    params = mixer.sample_params(images, labels, saliency, generator=seeded())
    pasted = params.mask[:, 0, ::4, ::4] == 0  # one pixel per 4 x 4 cell
    for i in range(6):
        donor = saliency[params.perm[i]].flatten()
        assert set(pasted[i].flatten().nonzero().flatten().tolist()) == set(donor.topk(6).indices.tolist())
    torch.testing.assert_close(params.lam, torch.full((6,), 1 - 6 / 49))


def test_attentive_cutmix_with_a_frozen_feature_model() -> None:
    images, labels, _ = make_batch(4, size=32)
    trunk = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, stride=4, padding=1), torch.nn.ReLU())
    mixer = sg.AttentiveCutMix(num_classes=NUM_CLASSES, feature_model=trunk, grid=4, top_n=3)
    assert mixer.saliency_kind is sg.SaliencyKind.NONE
    assert not any(p.requires_grad for p in trunk.parameters())
    mixed, soft = mixer(images, labels, generator=seeded())
    assert mixed.shape == images.shape
    torch.testing.assert_close(soft.sum(1), torch.ones(4))
    for kwargs in ({"grid": 0}, {"top_n": 50}):
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            sg.AttentiveCutMix(num_classes=NUM_CLASSES, **kwargs)


@pytest.mark.parametrize("cls", [sg.Mixup, sg.CutMix, sg.SaliencyMix])
def test_alpha_must_be_positive(cls) -> None:
    with pytest.raises(ValueError, match="alpha"):
        cls(num_classes=NUM_CLASSES, alpha=0.0)


def test_saliencymix_rejects_unknown_methods() -> None:
    with pytest.raises(ValueError, match="method"):
        sg.SaliencyMix(num_classes=NUM_CLASSES, method="itti")

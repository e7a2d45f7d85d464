"""Chain as a mixer: composed params replayed by apply, saliency routing, label smoothing once, bad chains refused."""

from __future__ import annotations

import pytest
import torch

import saliency_grafting as sg
from saliency_grafting.losses import soft_target_cross_entropy
from saliency_grafting.mixing import ChainParams
from saliency_grafting.models import create_model
from saliency_grafting.step import MixStep
from tests.conftest import NUM_CLASSES, make_batch, seeded


def test_cutout_plus_mixup_call_equals_sample_then_apply_equals_the_stages_by_hand() -> None:
    chain = sg.create_mixer("cutout+mixup", NUM_CLASSES, alpha=0.5, size=8)
    assert isinstance(chain, sg.Chain) and chain.stages[1].alpha == 0.5 and chain.stages[0].size == 8
    images, labels, _ = make_batch(6)
    mixed, soft = chain(images, labels, generator=seeded())
    torch.testing.assert_close(soft.sum(1), torch.ones(6))
    assert mixed.shape == images.shape and (soft > 0).sum(1).max() <= 2
    g = seeded()  # the stages by hand, with the same generator
    cut, cut_labels = chain.stages[0](images, labels, generator=g)
    expected = chain.stages[1](cut, cut_labels, generator=g)
    assert torch.equal(mixed, expected[0]) and torch.equal(soft, expected[1])
    params = chain.sample_params(images, labels, generator=seeded())
    assert isinstance(params, ChainParams) and len(params.stages) == 2 and params.mask is None
    assert torch.equal(params.perm, params.stages[1].perm)
    torch.testing.assert_close(params.lam, params.stages[0].lam * params.stages[1].lam)
    replayed, replayed_soft = chain.apply(images, labels, params)
    assert torch.equal(replayed, mixed) and torch.equal(replayed_soft, soft)


def test_a_later_stage_is_drawn_on_the_images_the_earlier_ones_mixed() -> None:
    chain = sg.create_mixer("cutout+saliencymix", NUM_CLASSES, size=16)
    images, labels, _ = make_batch(6)
    params = chain.sample_params(images, labels, generator=seeded(3))
    g = seeded(3)
    first = chain.stages[0].sample_params(images, labels, generator=g)
    cut, _ = chain.stages[0].apply(images, labels, first)
    second = chain.stages[1].sample_params(cut, labels, generator=g)  # its static saliency of the cut images
    assert torch.equal(params.stages[0].mask, first.mask) and torch.equal(params.stages[1].mask, second.mask)
    assert chain.saliency_kind is sg.SaliencyKind.IMAGE and chain.saliency_kinds == (sg.SaliencyKind.IMAGE,)


def test_the_saliency_goes_to_the_first_stage_that_needs_the_model() -> None:
    chain = sg.create_mixer("saliency_grafting+cutout", NUM_CLASSES)
    assert chain.saliency_kind is sg.SaliencyKind.FORWARD and chain.saliency_kinds == (sg.SaliencyKind.FORWARD,)
    images, labels, saliency = make_batch(6)
    params = chain.sample_params(images, labels, saliency, generator=seeded())
    direct = chain.stages[0].sample_params(images, labels, saliency, generator=seeded())
    assert torch.equal(params.stages[0].mask, direct.mask) and torch.equal(params.stages[0].lam, direct.lam)
    with pytest.raises(ValueError, match="Chain: saliency must be given: it needs saliency of kind 'forward'"):
        chain(images, labels)
    mixed, _ = chain(images, labels, saliency, generator=seeded())
    assert torch.equal(mixed, chain.apply(images, labels, params)[0])


def test_cutout_plus_manifold_mixup_forward_replays_cutout_then_mixes_inside() -> None:
    model = create_model("preactresnet18", NUM_CLASSES, widths=(8, 8, 8, 8)).eval()
    chain = sg.create_mixer("cutout+manifold_mixup", NUM_CLASSES)
    images, labels, _ = make_batch(4)
    for seed in range(4):
        params = chain.sample_params(images, labels, generator=seeded(seed))
        logits, soft = chain.forward(model, images, labels, params)
        cut, cut_soft = chain.stages[0].apply(images, labels, params.stages[0])
        expected, expected_soft = chain.stages[1].forward(model, cut, cut_soft, params.stages[1])
        assert torch.equal(logits, expected) and torch.equal(soft, expected_soft)


def test_label_smoothing_is_applied_once() -> None:
    images, labels, _ = make_batch(6)
    plain = sg.create_mixer("cutout+mixup", NUM_CLASSES)
    smooth = sg.create_mixer("cutout+mixup", NUM_CLASSES, label_smoothing=0.1)
    _, soft = plain(images, labels, generator=seeded())
    _, soft_smooth = smooth(images, labels, generator=seeded())
    torch.testing.assert_close(soft_smooth, soft * 0.9 + 0.1 / NUM_CLASSES)
    params = smooth.sample_params(images, labels, generator=seeded())
    torch.testing.assert_close(smooth.apply(images, labels, params)[1], soft_smooth)


def test_nested_chains_are_flattened_and_stages_may_be_given_by_keyword() -> None:
    cut, mix, cutmix = (sg.Cutout(num_classes=5), sg.Mixup(num_classes=5), sg.CutMix(num_classes=5))
    nested = sg.Chain([sg.Chain([cut, mix]), cutmix])
    assert nested.stages == [cut, mix, cutmix]
    assert sg.Chain(stages=(cut, mix)).stages == [cut, mix]
    images = torch.randn(5, 3, 8, 8, generator=seeded())
    labels = torch.arange(5)
    mixed, soft = nested(images, labels, generator=seeded(1))
    params = nested.sample_params(images, labels, generator=seeded(1))
    assert torch.equal(nested.apply(images, labels, params)[0], mixed)
    torch.testing.assert_close(soft.sum(1), torch.ones(5))


def test_a_chain_shown_with_fixed_partners_pairs_every_stage_the_same_way() -> None:
    chain = sg.create_mixer("cutout+cutmix", NUM_CLASSES)
    images, labels, _ = make_batch(4)
    perm = torch.tensor([2, 3, 0, 1])
    params = chain.sample_params(images, labels, generator=seeded(), perm=perm)
    assert torch.equal(params.perm, perm) and torch.equal(params.stages[1].perm, perm)
    assert ((params.lam >= 0) & (params.lam <= 1)).all()


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("saliencymix+saliency_grafting", "SaliencyGrafting .*comes first"),
        ("cutout+saliency_grafting", "SaliencyGrafting .*'forward' saliency.*comes first"),
        ("mixup+puzzlemix", "PuzzleMix .*'input_gradient' saliency.*comes first"),
        ("saliency_grafting+attentive_cutmix", "at most one stage that needs the model's saliency"),
        ("manifold_mixup+mixup", "ManifoldMixup last .*hidden states"),
        ("augmix+cutout", "AugMix last"),
        ("mixup", None),
    ],
)
def test_chains_that_cannot_work_are_refused_when_built(name: str, match: str | None) -> None:
    if match is None:
        with pytest.raises(ValueError, match="at least two mixers"):
            sg.Chain([sg.Mixup(num_classes=3)])
        return
    with pytest.raises(ValueError, match=f"Chain: stages must be .*{match}"):
        sg.create_mixer(name, NUM_CLASSES)


def test_stages_must_be_mixers_that_agree() -> None:
    with pytest.raises(TypeError, match="Chain: stages must be a list or tuple of at least two Mixer"):
        sg.Chain([sg.Mixup(num_classes=3), "cutmix"])
    with pytest.raises(TypeError, match="Chain: stages must be"):
        sg.Chain("cutout+mixup")
    with pytest.raises(ValueError, match=r"agree on num_classes.*\[3, 4\]"):
        sg.Chain([sg.Mixup(num_classes=3), sg.CutMix(num_classes=4)])
    with pytest.raises(ValueError, match="agree on label_smoothing"):
        sg.Chain([sg.Mixup(num_classes=3), sg.CutMix(num_classes=3, label_smoothing=0.1)])
    with pytest.raises(ValueError, match=r"unexpected keyword argument\(s\) \['temperature'\]"):
        sg.create_mixer("cutout+mixup", NUM_CLASSES, temperature=1.0)
    params = sg.Mixup(num_classes=NUM_CLASSES).sample_params(*make_batch(4)[:2], generator=seeded())
    with pytest.raises(TypeError, match="Chain: params must be ChainParams of 2 stages"):
        sg.create_mixer("cutout+mixup", NUM_CLASSES).apply(*make_batch(4)[:2], params)


def test_a_training_step_with_a_chain_matches_sample_params_then_apply() -> None:
    model = create_model("preactresnet18", NUM_CLASSES, widths=(8, 8, 8, 8)).eval()
    images, labels, _ = make_batch(6)
    for smoothing in (0.0, 0.1):
        chain = sg.create_mixer("cutout+mixup", NUM_CLASSES, label_smoothing=smoothing)
        loss = MixStep(model, chain, objective="mixed", generator=seeded(7))(images, labels)
        params = chain.sample_params(images, labels, generator=seeded(7))
        mixed, soft = chain.apply(images, labels, params)  # the labels are smoothed once
        torch.testing.assert_close(loss, soft_target_cross_entropy(model(mixed), soft))


def test_a_training_step_with_puzzlemix_first_gives_it_its_saliency_and_noise() -> None:
    model = create_model("preactresnet18", NUM_CLASSES, widths=(8, 8, 8, 8))
    puzzle = sg.PuzzleMix(num_classes=NUM_CLASSES, block_nums=(2, 4), workers=1, adv_p=1.0, transport=False)
    chain = sg.Chain([puzzle, sg.Cutout(num_classes=NUM_CLASSES)])
    assert chain.saliency_kind is sg.SaliencyKind.INPUT_GRADIENT
    images, labels, _ = make_batch(4, size=16)
    loss = MixStep(model, chain, generator=seeded(1))(images, labels)
    assert torch.isfinite(loss) and loss > 0

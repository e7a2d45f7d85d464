"""RandomChoice: one mixer per batch, drawn with the given probabilities; in the step, each choice's own recipe."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import saliency_grafting as sg
from saliency_grafting.models import create_model
from tests.conftest import NUM_CLASSES, make_batch


@given(st.floats(0.05, 0.95), st.integers(0, 2**31))
def test_choices_follow_their_probabilities(p: float, seed: int) -> None:
    choice = sg.RandomChoice([sg.Mixup(num_classes=3), sg.CutMix(num_classes=3)], [p, 1 - p])
    g = torch.Generator().manual_seed(seed)
    draws = 600
    first = sum(choice.select(g) == 0 for _ in range(draws))
    assert abs(first - p * draws) <= 5 * math.sqrt(draws * p * (1 - p))  # a binomial count, 5 s.d.


def test_the_chosen_mixer_acts_as_itself() -> None:
    images, labels, _ = make_batch(8)
    mixers = [sg.Mixup(num_classes=NUM_CLASSES), sg.CutMix(num_classes=NUM_CLASSES)]
    choice = sg.RandomChoice(mixers)
    seen = set()
    for seed in range(12):
        mixed, soft = choice(images, labels, generator=torch.Generator().manual_seed(seed))
        alone = torch.Generator().manual_seed(seed)
        index = choice.select(alone)  # the same draw, then the chosen mixer with the generator after it
        expected_mixed, expected_soft = mixers[index](images, labels, generator=alone)
        assert torch.equal(mixed, expected_mixed) and torch.equal(soft, expected_soft)
        assert torch.allclose(soft.sum(1), torch.ones(8))
        seen.add(index)
    assert seen == {0, 1}  # two different choices were tested


def test_params_replay_and_bad_arguments_are_named() -> None:
    images, labels, _ = make_batch(6)
    choice = sg.create_mixer("mixup:0.2|cutmix:0.8", NUM_CLASSES, alpha=0.5)
    assert isinstance(choice, sg.RandomChoice) and choice.probabilities == pytest.approx((0.2, 0.8))
    assert [m.alpha for m in choice.mixers] == [0.5, 0.5]  # keywords go to every choice that takes them
    params = choice.sample_params(images, labels, generator=torch.Generator().manual_seed(3))
    assert torch.equal(choice.apply(images, labels, params)[0], choice.apply(images, labels, params)[0])
    with pytest.raises(ValueError, match="the weight of 'cutmix' must be a number, got 'x'"):
        sg.create_mixer("mixup|cutmix:x", NUM_CLASSES)
    with pytest.raises(ValueError, match=r"got unexpected keyword argument\(s\) \['temperature'\]"):
        sg.create_mixer("mixup|cutmix", NUM_CLASSES, temperature=0.2)
    with pytest.raises(ValueError, match="RandomChoice: mixers must be a list or tuple of at least two"):
        sg.RandomChoice([sg.Mixup(num_classes=3)])
    with pytest.raises(ValueError, match="mixers that agree on num_classes"):
        sg.RandomChoice([sg.Mixup(num_classes=3), sg.CutMix(num_classes=4)])
    with pytest.raises(ValueError, match="probabilities must be 2 weights >= 0 with a positive sum"):
        sg.RandomChoice([sg.Mixup(num_classes=3), sg.CutMix(num_classes=3)], [0.0, 0.0])
    with pytest.raises(ValueError, match="RandomChoice: probabilities must be"):
        sg.RandomChoice([sg.Mixup(num_classes=3), sg.CutMix(num_classes=3)], [1.0, -1.0])
    with pytest.raises(TypeError, match="RandomChoice: params must be ChoiceParams"):
        choice.apply(images, labels, sg.create_mixer("mixup", NUM_CLASSES).sample_params(images, labels))


def test_the_step_runs_the_clean_pass_only_on_grafted_batches() -> None:
    torch.manual_seed(0)
    net = create_model("resnet_tiny", NUM_CLASSES)
    images, labels, _ = make_batch(8)
    choice = sg.create_mixer("mixup|saliency_grafting", NUM_CLASSES)
    calls = {"n": 0}
    net.register_forward_pre_hook(lambda *_: calls.__setitem__("n", calls["n"] + 1))
    seen = {}
    for seed in range(8):  # each step's first draw is its choice: read it from a copy of the generator
        chosen = choice.mixers[choice.select(torch.Generator().manual_seed(seed))]
        step = sg.MixStep(net, choice, generator=torch.Generator().manual_seed(seed))
        before = calls["n"]
        step(images, labels).backward()
        step.close()
        seen[type(chosen).__name__] = calls["n"] - before
    assert seen == {"Mixup": 1, "SaliencyGrafting": 2}  # mixed only; clean (saliency and loss) + grafted
    assert not net._forward_hooks  # every choice's saliency hook is removed by close()


def test_sgraft_train_takes_a_choice(tmp_path) -> None:
    from saliency_grafting.cli import main

    data = ["--dataset", "synthetic", "--dataset-arg", "synthetic_size=[120,40]"]
    budget = ["--epochs", "1", "--batch-size", "40", "--model-arg", "width=4", "--quiet"]
    main(["train", *data, *budget, "--mixer", "mixup:0.5|saliency_grafting:0.5", "--out", str(tmp_path / "run")])
    assert (tmp_path / "run" / "summary.json").exists()

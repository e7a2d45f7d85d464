"""MixStep: the one step protocol every method goes through, its saliency sources and its mixing diagnostics."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import saliency_grafting as sg
from saliency_grafting.models import create_model
from saliency_grafting.step import MIX_STATS, passes_per_step
from tests.conftest import NUM_CLASSES, seeded


class Counting(nn.Module):
    """A small CNN (8x8 last stage at 32 px) that counts its forward passes, and the samples it forwards with
    gradients on (the passes a step trains through or backpropagates)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = create_model("resnet_tiny", NUM_CLASSES)
        self.calls = self.samples = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.samples += x.shape[0] if torch.is_grad_enabled() else 0
        return self.net(x)


def batch(size: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    g = seeded(3)
    return torch.randn(size, 3, 32, 32, generator=g), torch.randint(0, NUM_CLASSES, (size,), generator=g)


def test_sg_recipe_is_clean_plus_grafted_with_the_saliency_of_the_clean_pass() -> None:
    model = Counting()
    step = sg.MixStep(model, sg.SaliencyGrafting(num_classes=NUM_CLASSES), generator=seeded())
    images, labels = batch()
    terms = list(step.terms(images, labels))
    assert step.objective == "clean+mixed" and step.source.name == "forward"
    assert [t.samples for t in terms] == [8, 8] and terms[0].logits is not None and terms[1].logits is None
    assert model.calls == 2  # clean + grafted: the saliency costs no extra pass
    clean = F.cross_entropy(terms[0].logits.float(), labels)
    assert torch.equal(terms[0].loss, clean)


def test_mixed_objective_keeps_a_gradient_free_clean_pass_only_for_the_hook() -> None:
    model = Counting()
    step = sg.MixStep(model, sg.SaliencyGrafting(num_classes=NUM_CLASSES), objective="mixed", generator=seeded())
    terms = list(step.terms(*batch()))
    assert len(terms) == 1 and terms[0].samples == 8 and model.calls == 2
    cutmix = sg.MixStep(model, sg.CutMix(num_classes=NUM_CLASSES), generator=seeded())
    model.calls = 0
    assert len(list(cutmix.terms(*batch()))) == 1 and model.calls == 1  # no saliency: no clean pass at all


def test_call_sums_the_terms_and_warm_up_steps_are_clean_only() -> None:
    images, labels = batch()
    a = sg.MixStep(Counting(), sg.SaliencyGrafting(num_classes=NUM_CLASSES), generator=seeded())
    torch.manual_seed(0)
    b = sg.MixStep(a.model, sg.SaliencyGrafting(num_classes=NUM_CLASSES), generator=seeded())
    total = a(images, labels)
    parts = [t.loss for t in b.terms(images, labels)]
    assert torch.allclose(total, parts[0] + parts[1])
    clean = list(a.terms(images, labels, mixing=False))
    assert len(clean) == 1 and clean[0].logits is not None


def test_mean_reduction_divides_the_k_mixed_losses() -> None:
    images, labels = batch()
    model = Counting()
    summed = [
        t.loss
        for t in sg.MixStep(model, sg.Mixup(num_classes=NUM_CLASSES), mix_times=3, generator=seeded()).terms(
            images, labels
        )
    ]
    averaged = [
        t.loss
        for t in sg.MixStep(
            model, sg.Mixup(num_classes=NUM_CLASSES), mix_times=3, mix_reduction="mean", generator=seeded()
        ).terms(images, labels)
    ]
    assert len(summed) == len(averaged) == 3
    for s, m in zip(summed, averaged, strict=True):
        assert torch.allclose(m, s / 3)


@pytest.mark.parametrize("source", ["forward", "input_gradient", "grad_cam", "static"])
def test_sg_trains_with_every_saliency_source(source: str) -> None:
    model = Counting()
    step = sg.MixStep(model, sg.SaliencyGrafting(num_classes=NUM_CLASSES), saliency=source, generator=seeded())
    step(*batch())  # the first step may resolve the feature layer (Grad-CAM: one no-grad pass, once)
    model.calls = 0
    loss = step(*batch())
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in model.parameters() if p.requires_grad)
    extra = {"forward": 0, "input_gradient": 1, "grad_cam": 1, "static": 0}[source]
    assert model.calls == 2 + extra  # clean + grafted (+ the backward source's own pass)
    assert step.source.name == source and model.training  # the backward pass restored the mode


def test_saliency_source_errors_name_the_choice() -> None:
    with pytest.raises(ValueError, match="uses no saliency"):
        sg.MixStep(Counting(), sg.Mixup(num_classes=NUM_CLASSES), saliency="forward")
    with pytest.raises(ValueError, match="valid names: forward, input_gradient, grad_cam, static"):
        sg.MixStep(Counting(), sg.SaliencyGrafting(num_classes=NUM_CLASSES), saliency="gradcam")
    with pytest.raises(ValueError, match="objective"):
        sg.MixStep(Counting(), sg.AugMix(num_classes=NUM_CLASSES), objective="mixed")
    with pytest.raises(ValueError, match="mix_times"):
        sg.MixStep(Counting(), sg.Mixup(num_classes=NUM_CLASSES), mix_times=0)
    with pytest.raises(TypeError, match="Mixer"):
        sg.MixStep(Counting(), object())  # type: ignore[arg-type]


def test_augmix_scores_its_views_against_the_clean_logits_in_one_term() -> None:
    model = Counting()
    mixer = sg.AugMix(num_classes=NUM_CLASSES)
    mixer.bind_data(torch.full((3,), 0.5), torch.full((3,), 0.25))
    terms = list(sg.MixStep(model, mixer, generator=seeded()).terms(*batch(4)))
    assert len(terms) == 1 and terms[0].samples == 4 * 3 and terms[0].logits is not None and model.calls == 3


def test_chain_mixes_then_scores_through_its_last_stage() -> None:
    model = Counting()
    chain = sg.create_mixer("cutout+manifold_mixup", NUM_CLASSES, layers=["net.layer1", "net.layer2"])
    step = sg.MixStep(model, chain, generator=seeded())
    terms = list(step.terms(*batch()))
    assert step.objective == "mixed" and len(terms) == 1 and model.calls == 1 and torch.isfinite(terms[0].loss)


def test_diagnostics_accumulate_on_the_device_and_reset_when_read() -> None:
    model = Counting()
    cutmix = sg.MixStep(model, sg.CutMix(num_classes=NUM_CLASSES), generator=seeded())
    for _ in range(3):
        cutmix(*batch())
    stats = cutmix.read_stats()
    assert set(stats) == set(MIX_STATS) and 0 < stats["mix_area"] < 1
    assert stats["mix_gap"] == pytest.approx(0, abs=1e-6)  # CutMix's label is its area
    assert stats["mix_lambda"] == pytest.approx(stats["mix_area"], abs=1e-6)
    assert cutmix.read_stats() == {}
    graft = sg.MixStep(model, sg.SaliencyGrafting(num_classes=NUM_CLASSES), generator=seeded())
    graft(*batch())
    stats = graft.read_stats()
    assert stats["mix_gap"] > 0 and 0 <= stats["mix_empty"] <= 1  # the calibrated label departs from the area


def test_an_impossible_threshold_is_reported_as_empty_grafts() -> None:
    step = sg.MixStep(Counting(), sg.SaliencyGrafting(num_classes=NUM_CLASSES, threshold=0.999), generator=seeded())
    step(*batch())
    stats = step.read_stats()
    assert stats["mix_empty"] == 1 and stats["mix_area"] == 0 and stats["mix_lambda"] == 0


def test_close_detaches_the_hook() -> None:
    model = Counting()
    step = sg.MixStep(model, sg.SaliencyGrafting(num_classes=NUM_CLASSES), generator=seeded())
    hooks = sum(len(m._forward_hooks) for m in model.modules())
    step.close()
    assert hooks >= 1 and sum(len(m._forward_hooks) for m in model.modules()) == 0


def test_augmix_with_k_views_backpropagates_once_through_the_clean_logits() -> None:
    mixer = sg.AugMix(num_classes=NUM_CLASSES)
    mixer.bind_data(torch.full((3,), 0.5), torch.full((3,), 0.25))
    terms = list(sg.MixStep(Counting(), mixer, mix_times=2, generator=seeded()).terms(*batch(4)))
    assert len(terms) == 1 and terms[0].samples == 4 + 2 * 4 * 2
    terms[0].loss.backward()  # one graph, so no "backward through the graph a second time"


def test_frozen_batch_norm_stays_frozen_through_a_backward_saliency_pass() -> None:
    model = Counting()
    frozen = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)][:2]
    for module in frozen:
        module.eval()
    step = sg.MixStep(
        model, sg.SaliencyGrafting(num_classes=NUM_CLASSES), saliency="grad_cam", objective="mixed", generator=seeded()
    )
    step(*batch())
    assert model.training and all(not m.training for m in frozen)


def test_clean_loss_is_smoothed_like_the_mixer_unless_told_otherwise() -> None:
    mixer = sg.SaliencyGrafting(num_classes=NUM_CLASSES, label_smoothing=0.2)
    assert sg.MixStep(Counting(), mixer).label_smoothing == 0.2
    assert sg.MixStep(Counting(), mixer, label_smoothing=0.0).label_smoothing == 0.0


def test_a_chain_reports_its_saliency_stage_in_the_diagnostics() -> None:
    chain = sg.create_mixer("saliency_grafting+cutout", NUM_CLASSES, threshold=0.999)  # SG grafts nothing
    step = sg.MixStep(Counting(), chain, generator=seeded())
    step(*batch())
    stats = step.read_stats()
    assert stats["mix_empty"] == 1 and stats["mix_area"] == 0  # SG's empty grafts, not Cutout's kept area


def test_a_source_the_mixer_cannot_use_is_refused_when_the_step_is_built() -> None:
    with pytest.raises(ValueError, match="input_gradient"):
        sg.MixStep(Counting(), sg.create_mixer("puzzlemix", NUM_CLASSES, adv_p=0.5), saliency="grad_cam")
    with pytest.raises(ValueError, match="would go unused"):
        sg.MixStep(Counting(), sg.create_mixer("mixup+saliencymix", NUM_CLASSES), saliency="grad_cam")


@pytest.mark.parametrize(
    ("spec", "kwargs"),
    [
        ("mixup", {}),
        ("cutmix", {"objective": "clean+mixed"}),
        ("saliency_grafting", {}),
        ("saliency_grafting", {"objective": "mixed"}),
        ("saliency_grafting", {"saliency": "input_gradient", "mix_times": 2}),
        ("saliency_grafting", {"saliency": "grad_cam"}),
        ("saliency_grafting", {"saliency": "static"}),
        ("puzzlemix", {"mix_times": 3}),
        ("augmix", {}),
        ("augmix", {"mix_times": 2}),
        ("saliency_grafting|mixup", {"objective": "clean+mixed"}),
        ("cutout+mixup", {}),
        ("mixup+augmix", {}),
    ],
)
def test_passes_per_step_counts_the_passes_the_step_trains_through(spec: str, kwargs: dict) -> None:
    model, (images, labels) = Counting(), batch(4)
    mixer = sg.create_mixer(spec, NUM_CLASSES)
    mixer.bind_data(torch.full((3,), 0.5), torch.full((3,), 0.25))
    step = sg.MixStep(model, mixer, generator=seeded(), **kwargs)
    step(images, labels)  # the first step may resolve the feature layer
    model.samples = 0
    step(images, labels).backward()
    assert passes_per_step(mixer, **kwargs) == model.samples / len(images)


def test_a_random_choice_passes_its_choices_expected_passes() -> None:
    choice = sg.create_mixer("saliency_grafting:0.25|puzzlemix:0.25|mixup:0.5", NUM_CLASSES)
    assert passes_per_step(choice) == 0.25 * 2 + 0.25 * 2 + 0.5 * 1
    assert passes_per_step(choice, objective="clean+mixed", mix_times=2) == 0.25 * 3 + 0.25 * 4 + 0.5 * 3
    # an explicit source applies to the choices that use saliency only, as in MixStep
    grafting = sg.create_mixer("saliency_grafting:0.25|mixup:0.75", NUM_CLASSES)
    assert passes_per_step(grafting, saliency="grad_cam", objective="mixed") == 0.25 * 2 + 0.75 * 1


def test_passes_per_step_refuses_what_mix_step_refuses() -> None:
    with pytest.raises(ValueError, match="objective must be one of"):
        passes_per_step(sg.Mixup(num_classes=NUM_CLASSES), objective="clean")
    with pytest.raises(ValueError, match="mix_times"):
        passes_per_step(sg.Mixup(num_classes=NUM_CLASSES), mix_times=0)
    with pytest.raises(ValueError, match="uses no saliency"):
        passes_per_step(sg.Mixup(num_classes=NUM_CLASSES), saliency="forward")

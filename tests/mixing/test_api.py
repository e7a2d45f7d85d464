"""Invariants every mixer keeps: shapes, label rows, pixel provenance, seeding, dtypes, layouts and bad input."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import saliency_grafting as sg
from saliency_grafting.mixing import functional as MF
from tests.conftest import ALL_MIXERS, NUM_CLASSES, build, make_batch, needs_saliency, seeded


def reference_mix(images: torch.Tensor, mixer: sg.Mixer, params: sg.MixParams) -> torch.Tensor:
    """The shared convention, written out sample by sample."""
    rows = []
    for i in range(images.shape[0]):
        weight = params.mask[i] if params.mask is not None else params.lam[i]
        second = torch.zeros_like(images[i]) if isinstance(mixer, sg.mixing.Masking) else images[params.perm[i]]
        rows.append(weight * images[i] + (1 - weight) * second)
    return torch.stack(rows)


def run(mixer: sg.Mixer, images, labels, saliency, seed: int = 0):
    sal = saliency if needs_saliency(mixer) else None
    params = mixer.sample_params(images, labels, sal, generator=seeded(seed))
    mixed, soft = mixer.apply(images, labels, params)
    return params, mixed, soft


def test_create_mixer_knows_every_name_and_rejects_others() -> None:
    for name in ALL_MIXERS:
        assert isinstance(sg.create_mixer(name, NUM_CLASSES), sg.MIXERS[name])
    with pytest.raises(ValueError, match=r"valid names: .*saliency_grafting"):
        sg.create_mixer("cutmixx", NUM_CLASSES)
    assert sg.MIXERS["saliency_grafting"] is sg.SaliencyGrafting


def test_shapes_labels_and_pixels_follow_the_convention(mixer: sg.Mixer) -> None:
    images, labels, saliency = make_batch(7)
    params, mixed, soft = run(mixer, images, labels, saliency)
    assert mixed.shape == images.shape and mixed.dtype == images.dtype
    assert soft.shape == (7, NUM_CLASSES) and soft.dtype == torch.float32
    assert params.perm.dtype == torch.long and sorted(params.perm.tolist()) == list(range(7))
    assert torch.allclose(soft.sum(1), torch.ones(7), atol=1e-6)
    assert soft.min() >= 0 and soft.max() <= 1 + 1e-6
    onehot = torch.nn.functional.one_hot(labels, NUM_CLASSES).float()
    expected_soft = params.lam[:, None] * onehot + (1 - params.lam[:, None]) * onehot[params.perm]
    torch.testing.assert_close(soft, expected_soft)
    torch.testing.assert_close(mixed, reference_mix(images, mixer, params), rtol=0, atol=1e-6)
    if params.mask is not None:
        assert params.mask.shape == (7, 1, 32, 32)
        assert params.mask.min() >= 0 and params.mask.max() <= 1


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.view({2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()])


@pytest.mark.parametrize("name", [n for n in ALL_MIXERS if n not in ("mixup", "none", "manifold_mixup", "augmix")])
def test_binary_masks_copy_pixels_exactly(name: str) -> None:
    mixer = build(name, n_labels=2) if name == "puzzlemix" else build(name)
    images, labels, saliency = make_batch(5)
    params, mixed, _ = run(mixer, images, labels, saliency)
    assert params.mask is not None and set(params.mask.unique().tolist()) <= {0.0, 1.0}
    keep = params.mask.bool().expand_as(images)
    second = torch.zeros_like(images) if isinstance(mixer, sg.mixing.Masking) else images[params.perm]
    assert torch.equal(mixed[keep], images[keep])
    assert torch.equal(mixed[~keep], second[~keep])


@pytest.mark.parametrize("name", ["cutmix", "cutout", "saliencymix", "attentive_cutmix", "saliency_grafting"])
def test_binary_masks_select_so_non_finite_pixels_stay_in_their_image(name: str) -> None:
    mixer = build(name)
    assert mixer.binary_mask
    images, labels, saliency = make_batch(6)
    finite = run(mixer, images, labels, saliency, seed=4)
    # For finite input the selection is the lerp (or, for Cutout, the product) it replaced, bit for bit.
    params, mixed = finite[0], finite[1]
    old = (
        images * params.mask
        if isinstance(mixer, sg.mixing.Masking)
        else MF.mix_images(images, params.perm, params.mask)
    )
    assert torch.equal(_bits(mixed), _bits(old))
    images[2] = float("inf")
    images[4, 0, 3, 3] = float("nan")
    params, mixed, _ = run(mixer, images, labels, saliency, seed=4)
    keep = params.mask.bool().expand_as(images)
    second = (
        torch.zeros((), dtype=images.dtype).copysign(images)
        if isinstance(mixer, sg.mixing.Masking)
        else images[params.perm]
    )
    assert torch.equal(_bits(mixed[keep]), _bits(images[keep])) and torch.equal(
        _bits(mixed[~keep]), _bits(second[~keep])
    )


def test_int64_one_hot_labels_are_accepted_like_float_ones(mixer: sg.Mixer) -> None:
    images, labels, saliency = make_batch(6)
    onehot = torch.nn.functional.one_hot(labels, NUM_CLASSES)
    assert onehot.dtype == torch.int64  # as torchvision's CutMix / MixUp transforms give them
    _, mixed_int, soft_int = run(mixer, images, onehot, saliency)
    _, mixed_float, soft_float = run(mixer, images, onehot.float(), saliency)
    assert soft_int.dtype == torch.float32 and torch.equal(soft_int, soft_float) and torch.equal(mixed_int, mixed_float)


def test_call_arguments_of_the_wrong_type_or_form_name_themselves(mixer: sg.Mixer) -> None:
    images, labels, saliency = make_batch(4)
    name = type(mixer).__name__
    with pytest.raises(TypeError, match=f"^{name}: generator must be a torch.Generator or None, got 0"):
        mixer(images, labels, saliency, generator=0)
    with pytest.raises(TypeError, match=f"^{name}: saliency must be a floating-point tensor .*got numpy.ndarray"):
        mixer(images, labels, saliency.numpy(), generator=seeded())
    with pytest.raises(TypeError, match=f"^{name}: saliency must be .*got dtype torch.int64"):
        mixer(images, labels, saliency.long(), generator=seeded())
    with pytest.raises(ValueError, match=f"^{name}: saliency must be .*h, w >= 1, got shape"):
        mixer(images, labels, saliency[:, :0], generator=seeded())
    with pytest.raises(ValueError, match=f"^{name}: saliency must be non-negative"):
        mixer(images, labels, -saliency, generator=seeded())
    with pytest.raises(TypeError, match=f"^{name}: perm must be None or an int64 tensor"):
        mixer.sample_params(images, labels, saliency, perm=torch.arange(4.0))
    with pytest.raises(ValueError, match=f"^{name}: perm must be .*got shape"):
        mixer.sample_params(images, labels, saliency, perm=torch.arange(3))
    with pytest.raises(ValueError, match=rf"^{name}: perm must be .*indices outside \[0, B\)"):
        mixer.sample_params(images, labels, saliency, perm=torch.arange(4) + 1)
    with pytest.raises(TypeError, match=f"^{name}: params must be a .* from sample_params, got dict"):
        mixer.apply(images, labels, {})
    with pytest.raises(ValueError, match=f"^{name}: images must be .*H, W >= 1"):
        mixer(images[..., :0], labels, saliency, generator=seeded())
    with pytest.raises(ValueError, match=f"^{name}: labels must be .*rows are >= 0 and sum to 1"):
        mixer(images, torch.full((4, NUM_CLASSES), 0.5), saliency, generator=seeded())
    fixed = mixer.sample_params(images, labels, saliency, generator=seeded(), perm=torch.tensor([1, 0, 3, 2]).int())
    assert fixed.perm.dtype == torch.long


def test_a_fractional_mask_is_refused_by_a_selecting_mixer_unless_validation_is_off() -> None:
    images, labels, _ = make_batch(4)
    for validate in (True, False):
        mixer = sg.CutMix(num_classes=NUM_CLASSES, validate=validate)
        params = mixer.sample_params(images, labels, generator=seeded())
        half = dataclasses.replace(params, mask=params.mask * 0.5)
        if validate:
            with pytest.raises(ValueError, match=r"CutMix: params\.mask must be binary"):
                mixer.apply(images, labels, half)
        else:
            mixer.apply(images, labels, half)  # no host sync spent on the check


@pytest.mark.parametrize(
    ("cls", "kwargs", "error", "match"),
    [
        (sg.Mixup, {"alpha": float("inf")}, ValueError, "Mixup: alpha must be a finite number > 0, got inf"),
        (sg.CutMix, {"alpha": "1"}, TypeError, "CutMix: alpha must be a finite number > 0, got '1' \\(str\\)"),
        (sg.CutMix, {"per_sample": 1}, TypeError, "CutMix: per_sample must be a bool"),
        (sg.Cutout, {"size": 2.0}, TypeError, "Cutout: size must be an int >= 1"),
        (sg.SaliencyGrafting, {"temperature": float("nan")}, ValueError, "SaliencyGrafting: temperature must be"),
        (sg.SaliencyGrafting, {"threshold": True}, TypeError, "SaliencyGrafting: threshold must be .*'mean'"),
        (sg.AugMix, {"severity": 11}, ValueError, "AugMix: severity must be an int >= 1 and <= 10"),
        (sg.AugMix, {"depth": 0}, ValueError, "AugMix: depth must be -1 \\(random in \\[1, 3\\]\\) or an int >= 1"),
        (sg.ManifoldMixup, {"layers": "layer1"}, TypeError, "ManifoldMixup: layers must be None or a non-empty"),
        (sg.Mixup, {"label_smoothing": 1.0}, ValueError, "Mixup: label_smoothing must be a finite number >= 0 and < 1"),
        (sg.NoMix, {"validate": "no"}, TypeError, "NoMix: validate must be a bool"),
    ],
)
def test_bad_constructor_arguments_name_the_argument_the_class_and_the_form(cls, kwargs, error, match) -> None:
    with pytest.raises(error, match=f"^{match}"):
        cls(num_classes=NUM_CLASSES, **kwargs)


@pytest.mark.parametrize("name", ALL_MIXERS)
def test_positional_arguments_name_the_class_and_say_keyword_only(name: str) -> None:
    cls = sg.MIXERS[name]
    with pytest.raises(TypeError, match=rf"^{cls.__name__} takes keyword arguments only, e.g. {cls.__name__}\("):
        cls(10)
    with pytest.raises(
        TypeError,
        match=rf"^{cls.__name__} got an unexpected keyword argument 'num_clases' .*"
        r"did you mean 'num_classes'",
    ):
        cls(num_clases=10)
    with pytest.raises(TypeError, match=rf"^{cls.__name__} needs the keyword argument\(s\) num_classes"):
        cls()


def test_seeded_runs_repeat_and_seeds_differ(mixer: sg.Mixer) -> None:
    images, labels, saliency = make_batch(8)
    _, mixed_a, soft_a = run(mixer, images, labels, saliency, seed=3)
    _, mixed_b, soft_b = run(mixer, images, labels, saliency, seed=3)
    assert torch.equal(mixed_a, mixed_b) and torch.equal(soft_a, soft_b)
    if isinstance(mixer, (sg.NoMix, sg.AugMix)):  # identity on images: AugMix's views come from .views()
        return
    outputs = {run(mixer, images, labels, saliency, seed=s)[1].sum().item() for s in range(4)}
    assert len(outputs) > 1


def test_global_seed_is_used_without_a_generator(mixer: sg.Mixer) -> None:
    images, labels, saliency = make_batch(6)
    sal = saliency if needs_saliency(mixer) else None
    torch.manual_seed(11)
    first = mixer(images, labels, sal)
    torch.manual_seed(11)
    second = mixer(images, labels, sal)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])


def test_single_sample_batch_is_returned_unchanged(mixer: sg.Mixer) -> None:
    images, labels, saliency = make_batch(1)
    _, mixed, soft = run(mixer, images, labels, saliency)
    assert torch.equal(soft, torch.nn.functional.one_hot(labels, NUM_CLASSES).float())
    if isinstance(mixer, sg.mixing.Masking):  # Cutout drops a patch of any single image by design
        assert (mixed == 0).any()
    else:
        assert torch.equal(mixed, images)


def test_input_is_not_modified(mixer: sg.Mixer) -> None:
    images, labels, saliency = make_batch(6)
    before = images.clone(), labels.clone(), saliency.clone()
    run(mixer, images, labels, saliency)
    assert torch.equal(images, before[0]) and torch.equal(labels, before[1]) and torch.equal(saliency, before[2])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_low_and_high_precision_dtypes_are_kept(mixer: sg.Mixer, dtype: torch.dtype) -> None:
    images, labels, saliency = make_batch(6, dtype=dtype)
    params, mixed, soft = run(mixer, images, labels, saliency.to(dtype))
    assert mixed.dtype == dtype and soft.dtype == torch.float32
    if params.mask is not None:
        assert params.mask.dtype == dtype
    expected = reference_mix(images.double(), mixer, params)
    torch.testing.assert_close(mixed.double(), expected, rtol=0, atol=2e-2)


def test_channels_last_and_non_contiguous_inputs_give_the_same_result(mixer: sg.Mixer) -> None:
    images, labels, saliency = make_batch(6, size=64)
    _, expected, soft = run(mixer, images[..., ::2, ::2].contiguous(), labels, saliency)
    _, strided, soft_strided = run(mixer, images[..., ::2, ::2], labels, saliency)
    _, last, soft_last = run(
        mixer, images[..., ::2, ::2].contiguous(memory_format=torch.channels_last), labels, saliency
    )
    assert torch.equal(strided, expected) and torch.equal(last, expected)
    assert torch.equal(soft_strided, soft) and torch.equal(soft_last, soft)


def test_soft_label_input_is_mixed_like_one_hot(mixer: sg.Mixer) -> None:
    images, labels, saliency = make_batch(6)
    onehot = torch.nn.functional.one_hot(labels, NUM_CLASSES).float()
    _, _, from_int = run(mixer, images, labels, saliency)
    _, _, from_soft = run(mixer, images, onehot, saliency)
    torch.testing.assert_close(from_int, from_soft)


def test_label_smoothing_is_explicit() -> None:
    images, labels, saliency = make_batch(6)
    plain = sg.SaliencyGrafting(num_classes=NUM_CLASSES)
    smooth = sg.SaliencyGrafting(num_classes=NUM_CLASSES, label_smoothing=0.1)
    _, soft = plain(images, labels, saliency, generator=seeded())
    _, soft_smooth = smooth(images, labels, saliency, generator=seeded())
    torch.testing.assert_close(soft_smooth, soft * 0.9 + 0.01)
    torch.testing.assert_close(soft_smooth.sum(1), torch.ones(6))
    with pytest.raises(ValueError, match="label_smoothing"):
        sg.Mixup(num_classes=NUM_CLASSES, label_smoothing=1.0)


@given(
    name=st.sampled_from([n for n in ALL_MIXERS if n != "puzzlemix"]),  # PuzzleMix: tests/mixing/test_puzzlemix.py
    batch=st.integers(1, 9),
    height=st.integers(4, 40),
    width=st.integers(4, 40),
    seed=st.integers(0, 2**16),
)
def test_property_any_batch_and_image_size(name: str, batch: int, height: int, width: int, seed: int) -> None:
    mixer = build(name)
    g = seeded(seed)
    images = torch.randn(batch, 3, height, width, generator=g)
    labels = torch.randint(0, NUM_CLASSES, (batch,), generator=g)
    saliency = torch.rand(batch, max(height // 4, 1), max(width // 4, 1), generator=g)
    params, mixed, soft = run(mixer, images, labels, saliency, seed=seed)
    assert mixed.shape == images.shape
    torch.testing.assert_close(soft.sum(1), torch.ones(batch))
    assert ((params.lam >= 0) & (params.lam <= 1)).all()
    torch.testing.assert_close(mixed, reference_mix(images, mixer, params), rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("images", "labels", "error", "match"),
    [
        (torch.randn(4, 32, 32), torch.zeros(4, dtype=torch.long), ValueError, r"images must be .*\[B, C, H, W\]"),
        (torch.zeros(4, 3, 8, 8, dtype=torch.uint8), torch.zeros(4, dtype=torch.long), TypeError, "images must be"),
        (torch.randn(0, 3, 8, 8), torch.zeros(0, dtype=torch.long), ValueError, "at least one sample"),
        (torch.randn(4, 3, 0, 8), torch.zeros(4, dtype=torch.long), ValueError, "images must be .*H, W >= 1"),
        (torch.randn(4, 3, 8, 8), torch.zeros(3, dtype=torch.long), ValueError, r"labels must be \[4\]"),
        (torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, NUM_CLASSES]), ValueError, r"labels .* in \[0, 10\)"),
        (torch.randn(4, 3, 8, 8), torch.tensor([0, -1, 2, 3]), ValueError, r"labels .* in \[0, 10\)"),
        (torch.randn(4, 3, 8, 8), torch.zeros(4), TypeError, "labels .*int class indices"),
        (torch.randn(4, 3, 8, 8), torch.zeros(4, dtype=torch.bool), TypeError, "labels .*int class indices"),
        (torch.randn(4, 3, 8, 8), torch.zeros(4, 7), ValueError, r"labels .*\[4, 10\] soft or one-hot"),
        (torch.randn(4, 3, 8, 8), torch.zeros(4, 1, 1, dtype=torch.long), ValueError, "labels must be"),
        ([[0.0]], torch.zeros(4, dtype=torch.long), TypeError, "images must be .*got builtins.list"),
    ],
)
def test_bad_batches_raise_errors_naming_the_argument(mixer: sg.Mixer, images, labels, error, match: str) -> None:
    with pytest.raises(error, match=match) as info:
        mixer(images, labels, torch.rand(4, 2, 2), generator=seeded())
    assert str(info.value).startswith(f"{type(mixer).__name__}: ")


def test_label_range_check_can_be_switched_off() -> None:
    images, _, _ = make_batch(4)
    mixer = sg.Mixup(num_classes=NUM_CLASSES, validate=False)
    with pytest.raises((RuntimeError, IndexError)):  # one_hot itself still fails, but no host sync was spent
        mixer(images, torch.tensor([0, 1, 2, NUM_CLASSES]), generator=seeded())


@pytest.mark.parametrize("name", ["saliency_grafting", "attentive_cutmix", "saliencymix", "puzzlemix"])
def test_bad_saliency_raises(name: str) -> None:
    mixer = build(name)
    images, labels, saliency = make_batch(4)
    with pytest.raises(ValueError, match=r"saliency must be a floating-point tensor \[B, h, w\]"):
        mixer(images, labels, saliency[:3], generator=seeded())
    with pytest.raises(ValueError, match=r"saliency must be a floating-point tensor"):
        mixer(images, labels, saliency.unsqueeze(1).expand(4, 3, 8, 8), generator=seeded())
    nan = saliency.clone()
    nan[1, 2, 3] = float("nan")
    with pytest.raises(ValueError, match="saliency must be finite"):
        mixer(images, labels, nan, generator=seeded())
    inf = saliency.clone()
    inf[0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="saliency must be finite"):
        mixer(images, labels, inf, generator=seeded())


@pytest.mark.parametrize("name", ["saliency_grafting", "attentive_cutmix"])
def test_forward_saliency_mixers_say_so_and_require_it(name: str) -> None:
    mixer = sg.create_mixer(name, NUM_CLASSES)
    assert mixer.saliency_kind is sg.SaliencyKind.FORWARD
    images, labels, _ = make_batch(4)
    with pytest.raises(ValueError, match="needs saliency of kind 'forward'"):
        mixer(images, labels)


def test_saliency_kinds_are_declared() -> None:
    kinds = {name: build(name).saliency_kind for name in ALL_MIXERS}
    assert kinds == {
        "none": sg.SaliencyKind.NONE,
        "mixup": sg.SaliencyKind.NONE,
        "cutmix": sg.SaliencyKind.NONE,
        "cutout": sg.SaliencyKind.NONE,
        "saliencymix": sg.SaliencyKind.IMAGE,
        "attentive_cutmix": sg.SaliencyKind.FORWARD,
        "saliency_grafting": sg.SaliencyKind.FORWARD,
        "puzzlemix": sg.SaliencyKind.INPUT_GRADIENT,
        "manifold_mixup": sg.SaliencyKind.NONE,
        "augmix": sg.SaliencyKind.NONE,
        "specaugment": sg.SaliencyKind.NONE,
    }


def test_params_of_the_wrong_batch_are_rejected_by_apply() -> None:
    images, labels, _ = make_batch(6)
    mixer = sg.CutMix(num_classes=NUM_CLASSES)
    params = mixer.sample_params(images[:4], labels[:4], generator=seeded())
    with pytest.raises(ValueError, match="params"):
        mixer.apply(images, labels, params)


@pytest.mark.parametrize(("bad", "error"), [(0, ValueError), (-3, ValueError), (2.5, TypeError), (True, TypeError)])
def test_num_classes_must_be_a_positive_int(bad, error) -> None:
    with pytest.raises(error, match="Mixup: num_classes must be an int >= 1"):
        sg.create_mixer("mixup", bad)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batches_stay_on_device_and_match_cpu(mixer: sg.Mixer) -> None:  # pragma: no cover - no GPU in CI
    images, labels, saliency = make_batch(6)
    _, mixed_cpu, soft_cpu = run(mixer, images, labels, saliency)
    _, mixed, soft = run(mixer, images.cuda(), labels.cuda(), saliency.cuda())
    assert mixed.is_cuda and soft.is_cuda
    torch.testing.assert_close(mixed.cpu(), mixed_cpu)
    torch.testing.assert_close(soft.cpu(), soft_cpu)


def test_create_mixer_rejects_unknown_keywords_listing_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unexpected keyword argument\(s\) \['temprature'\].*'temperature'"):
        sg.create_mixer("saliency_grafting", NUM_CLASSES, temprature=1.0)
    assert sg.create_mixer("saliency_grafting", NUM_CLASSES, temperature=2.0).temperature == 2.0

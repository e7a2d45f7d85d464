"""Saliency Grafting against Section 4 of the paper, recomputed independently sample by sample."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import saliency_grafting as sg
from tests.conftest import NUM_CLASSES, make_batch, seeded


def block_mean(saliency: torch.Tensor, size: int) -> torch.Tensor:
    """Average ``[B, h, w]`` over ``size x size`` equal blocks (h divisible by size), by reshaping."""
    b, h, w = saliency.shape
    return saliency.reshape(b, size, h // size, size, w // size).mean(dim=(2, 4))


def eq3_eq4(region: list[float], temperature: float) -> tuple[list[float], list[bool]]:
    """Eq. 3 and eq. 4 with sigma_mean for one sample, in plain Python floats."""
    top = max(region) or 1.0
    exps = [math.exp(v / top / temperature) for v in region]
    total = sum(exps)
    s_prime = [e / total for e in exps]
    sigma = sum(s_prime) / len(s_prime)
    return s_prime, [v > sigma * (1 + 1e-5) for v in s_prime]


def eq5(src: list[float], dst: list[float], mask: list[float]) -> float:
    """Eq. 5 for one sample: lambda = I(S_i, M) / (I(S_i, M) + I(S_j, 1 - M)) with l2 importances."""

    def norm(values: list[float]) -> float:
        return math.sqrt(sum(v * v for v in values))

    i_src = norm([s * m for s, m in zip(src, mask, strict=True)]) / norm(src)
    i_dst = norm([s * (1 - m) for s, m in zip(dst, mask, strict=True)]) / norm(dst)
    return i_src / (i_src + i_dst)


def sample(mixer: sg.SaliencyGrafting, images, labels, saliency, seed: int = 0) -> sg.GraftingParams:
    params = mixer.sample_params(images, labels, saliency, generator=seeded(seed))
    assert isinstance(params, sg.GraftingParams)
    return params


@pytest.mark.parametrize("grid", [2, 4, 8])
@pytest.mark.parametrize("temperature", [0.1, 0.5, 3.0])
def test_threshold_mask_and_label_follow_equations_3_to_5(grid: int, temperature: float) -> None:
    images, labels, saliency = make_batch(8, size=32)  # saliency [8, 8, 8]
    mixer = sg.SaliencyGrafting(num_classes=NUM_CLASSES, temperature=temperature, grid_sizes=[grid])
    params = sample(mixer, images, labels, saliency, seed=grid)
    assert params.grid_size == grid and params.region_mask.shape == (8, grid, grid)
    region = block_mean(saliency, grid)
    torch.testing.assert_close(params.region_saliency, region)
    for i in range(8):
        _, above = eq3_eq4(region[i].flatten().tolist(), temperature)
        assert params.thresholded[i].flatten().tolist() == above
        kept = params.region_mask[i].flatten().tolist()
        assert all(a or not k for a, k in zip(above, kept, strict=True))  # M_i ⊆ S''_i
        j = int(params.perm[i])
        expected = eq5(region[i].flatten().tolist(), region[j].flatten().tolist(), kept)
        assert params.lam[i].item() == pytest.approx(expected, abs=1e-5)
        # The pixel mask is the region mask blown up to the image: each region is a 32/grid square.
        cell = 32 // grid
        blown = params.region_mask[i].repeat_interleave(cell, 0).repeat_interleave(cell, 1)
        assert torch.equal(params.mask[i, 0], blown)


def test_calibrated_lambda_public_function_matches_eq5() -> None:
    g = seeded(5)
    src, dst = torch.rand(6, 4, 4, generator=g), torch.rand(6, 4, 4, generator=g)
    mask = (torch.rand(6, 4, 4, generator=g) > 0.5).float()
    lam = sg.calibrated_lambda(src, dst, mask)
    for i in range(6):
        assert lam[i].item() == pytest.approx(
            eq5(src[i].flatten().tolist(), dst[i].flatten().tolist(), mask[i].flatten().tolist()), abs=1e-6
        )
    # Saliency only counts where it is: grafting all of x_i's saliency over none of x_j's gives 1 / (1 + 1).
    s_i = torch.zeros(1, 2, 2)
    s_i[0, 0, 0] = 1.0
    s_j = torch.zeros(1, 2, 2)
    s_j[0, 1, 1] = 1.0
    m = torch.zeros(1, 2, 2)
    m[0, 0, 0] = 1.0
    assert sg.calibrated_lambda(s_i, s_j, m).item() == pytest.approx(0.5)
    # The graft lands on x_j's object: x_j loses everything, so the label is all x_i.
    assert sg.calibrated_lambda(s_i, s_i, m).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="share one shape"):
        sg.calibrated_lambda(src, dst[:3], mask)


def test_calibrated_lambda_degenerate_cases_fall_back_to_area() -> None:
    zeros = torch.zeros(1, 2, 2)
    half = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])
    # No saliency anywhere: importances are the areas, lambda is the area.
    assert sg.calibrated_lambda(zeros, zeros, half).item() == pytest.approx(0.5)
    # I_i + I_j = 0: the graft misses all of S_i and covers all of S_j -> area.
    s_i = torch.tensor([[[0.0, 0.0], [1.0, 0.0]]])
    s_j = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
    assert sg.calibrated_lambda(s_i, s_j, half).item() == pytest.approx(0.5)
    # An empty mask keeps nothing of x_i.
    assert sg.calibrated_lambda(s_i, s_j, torch.zeros(1, 2, 2)).item() == 0.0
    assert sg.importance(zeros, half).item() == pytest.approx(0.5)


def test_all_zero_saliency_grafts_nothing() -> None:
    images, labels, _ = make_batch(6)
    mixer = sg.SaliencyGrafting(num_classes=NUM_CLASSES)
    params = sample(mixer, images, labels, torch.zeros(6, 8, 8))
    assert not params.thresholded.any() and params.region_mask.sum() == 0
    mixed, soft = mixer.apply(images, labels, params)
    assert torch.equal(mixed, images[params.perm])
    assert torch.equal(params.lam, torch.zeros(6))
    assert torch.equal(soft, torch.nn.functional.one_hot(labels[params.perm], NUM_CLASSES).float())


def test_constant_saliency_has_no_salient_region() -> None:
    images, labels, _ = make_batch(6)
    params = sample(sg.SaliencyGrafting(num_classes=NUM_CLASSES), images, labels, torch.full((6, 8, 8), 3.7))
    assert not params.thresholded.any()


def test_kept_fraction_of_thresholded_regions_matches_expected_p_b() -> None:
    images, labels, saliency = make_batch(16)
    for alpha in (0.5, 2.0):
        mixer = sg.SaliencyGrafting(num_classes=NUM_CLASSES, alpha=alpha, grid_sizes=[8])
        fractions, p_bs = [], []
        for seed in range(300):
            params = sample(mixer, images, labels, saliency, seed)
            kept = params.region_mask.sum() / params.thresholded.sum()
            fractions.append(kept.item())
            p_bs.append(params.p_b.item())
            # Given p_B, each thresholded region is kept with probability p_B.
        mean_p = sum(p_bs) / len(p_bs)
        assert mean_p == pytest.approx(0.5, abs=0.05)  # E[Beta(a, a)] = 1/2
        assert sum(fractions) / len(fractions) == pytest.approx(mean_p, abs=0.02)
        corr = torch.corrcoef(torch.tensor([fractions, p_bs]))[0, 1]
        assert corr > 0.95


def test_p_b_is_one_draw_per_batch() -> None:
    images, labels, saliency = make_batch(64)
    mixer = sg.SaliencyGrafting(num_classes=NUM_CLASSES, grid_sizes=[8])
    params = sample(mixer, images, labels, saliency, seed=1)
    assert params.p_b.ndim == 0
    per_sample = params.region_mask.sum((1, 2)) / params.thresholded.sum((1, 2)).clamp_min(1)
    # Every sample's kept fraction scatters around the same p_B.
    assert per_sample.mean().item() == pytest.approx(params.p_b.item(), abs=0.06)


def test_grid_size_is_drawn_per_batch_from_the_set() -> None:
    images, labels, saliency = make_batch(4)
    mixer = sg.SaliencyGrafting(num_classes=NUM_CLASSES, grid_sizes=[2, 4, 16])
    sizes = {sample(mixer, images, labels, saliency, seed).grid_size for seed in range(40)}
    assert sizes == {2, 4, 16}
    assert sg.SaliencyGrafting(num_classes=3).grid_sizes is None
    auto = {
        sample(sg.SaliencyGrafting(num_classes=NUM_CLASSES), images, labels, saliency, s).grid_size for s in range(40)
    }
    assert auto == {4, 8, 16}
    big = torch.randn(2, 3, 224, 224)
    auto_big = {
        sample(sg.SaliencyGrafting(num_classes=NUM_CLASSES), big, labels[:2], saliency[:2], s).grid_size
        for s in range(40)
    }
    assert auto_big == {7, 14, 28}


def test_deterministic_selection_picks_the_most_salient_regions() -> None:
    images, labels, saliency = make_batch(8)
    mixer = sg.SaliencyGrafting(num_classes=NUM_CLASSES, selection="deterministic", grid_sizes=[4])
    for seed in range(10):
        params = sample(mixer, images, labels, saliency, seed)
        region = params.region_saliency.flatten(1)
        kept = params.region_mask.flatten(1).bool()
        counts = (params.p_b * params.thresholded.flatten(1).sum(1)).round()
        assert torch.equal(kept.sum(1).float(), counts)
        for i in range(8):
            if 0 < kept[i].sum() < 16:  # every kept region is at least as salient as every region left out
                assert region[i][kept[i]].min() >= region[i][~kept[i]].max()
    # Same p_B and grid: the deterministic mask does not depend on the Bernoulli draw.
    a = sample(mixer, images, labels, saliency, 4).region_mask
    b = sample(mixer, images, labels, saliency, 4).region_mask
    assert torch.equal(a, b)


def test_area_label_mixing_is_the_grafted_pixel_fraction() -> None:
    images, labels, saliency = make_batch(8, size=30)  # 30 px: grids 4 and 8 do not divide it
    mixer = sg.SaliencyGrafting(num_classes=NUM_CLASSES, label_mixing="area")
    for seed in range(5):
        params = sample(mixer, images, labels, saliency, seed)
        torch.testing.assert_close(params.lam, params.mask.mean((1, 2, 3)))


def test_threshold_zero_makes_every_region_eligible() -> None:
    images, labels, saliency = make_batch(8)
    params = sample(sg.SaliencyGrafting(num_classes=NUM_CLASSES, threshold=0.0), images, labels, saliency)
    assert params.thresholded.all()


def test_lower_threshold_and_higher_temperature_select_more() -> None:
    images, labels, saliency = make_batch(16)

    def selected(**kwargs) -> float:
        mixer = sg.SaliencyGrafting(num_classes=NUM_CLASSES, grid_sizes=[8], **kwargs)
        return sample(mixer, images, labels, saliency).thresholded.float().mean().item()

    mean_rule = selected()
    assert selected(threshold=0.5 / 64) > mean_rule > selected(threshold=2.0 / 64)
    assert selected(temperature=5.0) >= selected(temperature=0.5) >= selected(temperature=0.05)


@given(seed=st.integers(0, 10_000), grid=st.sampled_from([1, 2, 3, 5, 8]), scale=st.floats(1e-3, 1e3))
def test_property_mask_within_threshold_and_scale_invariant(seed: int, grid: int, scale: float) -> None:
    images, labels, saliency = make_batch(5, seed=seed)
    mixer = sg.SaliencyGrafting(num_classes=NUM_CLASSES, grid_sizes=[grid])
    params = sample(mixer, images, labels, saliency, seed)
    assert not (params.region_mask.bool() & ~params.thresholded).any()
    assert ((params.lam >= 0) & (params.lam <= 1)).all()
    scaled = sample(mixer, images, labels, saliency * scale, seed)
    assert torch.equal(scaled.region_mask, params.region_mask)
    torch.testing.assert_close(scaled.lam, params.lam)


def test_saliency_at_any_resolution_and_with_a_channel_dim() -> None:
    images, labels, _ = make_batch(4)
    mixer = sg.SaliencyGrafting(num_classes=NUM_CLASSES, grid_sizes=[16])
    for shape in [(4, 2, 2), (4, 7, 5), (4, 1, 32, 32)]:
        params = sample(mixer, images, labels, torch.rand(shape, generator=seeded()))
        assert params.region_saliency.shape == (4, 16, 16)


def test_constructor_arguments_are_attributes_and_validated() -> None:
    mixer = sg.SaliencyGrafting(
        num_classes=5,
        alpha=0.3,
        temperature=2.0,
        threshold=0.01,
        grid_sizes=(2, 4),
        selection="deterministic",
        label_mixing="area",
    )
    assert (mixer.alpha, mixer.temperature, mixer.threshold, mixer.grid_sizes) == (0.3, 2.0, 0.01, (2, 4))
    assert (mixer.selection, mixer.label_mixing, mixer.num_classes) == ("deterministic", "area", 5)
    bad = [
        ({"alpha": 0}, "alpha"),
        ({"temperature": -1.0}, "temperature"),
        ({"threshold": "median"}, "threshold"),
        ({"threshold": 1.5}, "threshold"),
        ({"grid_sizes": []}, "grid_sizes"),
        ({"grid_sizes": [4, 0]}, "grid_sizes"),
        ({"selection": "topk"}, "selection"),
        ({"label_mixing": "mixup"}, "label_mixing"),
    ]
    for kwargs, name in bad:
        with pytest.raises(ValueError, match=name):
            sg.SaliencyGrafting(num_classes=5, **kwargs)
    with pytest.raises(TypeError):
        sg.SaliencyGrafting(5)  # keyword-only


SCALES = (1e-30, 1e-22, 1.0, 1e19, 1e30)


def test_lambda_does_not_depend_on_the_saliency_scale() -> None:
    mixer = sg.SaliencyGrafting(num_classes=NUM_CLASSES)
    images, labels, saliency = make_batch(8)
    saliency = saliency + 1e-3  # no subnormal values at the smallest scale
    ref = mixer.sample_params(images, labels, saliency, generator=seeded(2))
    area = ref.region_mask.flatten(1).mean(1)
    assert (ref.lam - area).abs().max() > 1e-2  # the calibrated labels, not the area fallback
    for scale in SCALES:  # within float32 rounding of the scaled map
        params = mixer.sample_params(images, labels, saliency * scale, generator=seeded(2))
        assert torch.equal(params.region_mask, ref.region_mask), scale
        torch.testing.assert_close(params.lam, ref.lam, rtol=1e-5, atol=1e-6)
    for exponent in (-100, -73, 0, 63, 100):  # powers of two near those scales scale exactly: the same bits
        params = mixer.sample_params(images, labels, saliency * 2.0**exponent, generator=seeded(2))
        assert torch.equal(params.region_mask, ref.region_mask) and torch.equal(params.lam, ref.lam), exponent


@pytest.mark.parametrize(("dtype", "exponents"), [(torch.float16, (-4, 0, 4, 10)), (torch.bfloat16, (-100, 0, 100))])
def test_lambda_is_scale_free_for_half_precision_saliency(dtype: torch.dtype, exponents: tuple[int, ...]) -> None:
    mixer = sg.SaliencyGrafting(num_classes=NUM_CLASSES)
    images, labels, saliency = make_batch(8)
    half = (saliency + 1e-2).to(dtype)
    ref = mixer.sample_params(images, labels, half.float(), generator=seeded(5))
    for exponent in exponents:
        params = mixer.sample_params(images, labels, half * 2.0**exponent, generator=seeded(5))
        assert torch.equal(params.region_mask, ref.region_mask) and torch.equal(params.lam, ref.lam), exponent

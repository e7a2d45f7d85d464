"""The small pure ops: Beta draws, boxes, top-k regions, target mixing."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from saliency_grafting.mixing import functional as MF
from tests.conftest import seeded


@pytest.mark.parametrize("alpha", [0.2, 1.0, 4.0])
def test_sample_beta_has_beta_moments_and_repeats(alpha: float) -> None:
    draws = MF.sample_beta(alpha, (40_000,), seeded(1))
    mean, var = 0.5, 1.0 / (4 * (2 * alpha + 1))
    assert draws.min() >= 0 and draws.max() <= 1
    assert draws.mean().item() == pytest.approx(mean, abs=0.01)
    assert draws.var().item() == pytest.approx(var, rel=0.05)
    assert torch.equal(draws, MF.sample_beta(alpha, (40_000,), seeded(1)))


def test_sample_beta_tiny_alpha_stays_in_range() -> None:
    draws = MF.sample_beta(1e-4, (1000,), seeded(0))
    assert torch.isfinite(draws).all() and draws.min() >= 0 and draws.max() <= 1


@given(
    cy=st.integers(-5, 40),
    cx=st.integers(-5, 40),
    h=st.integers(0, 40),
    w=st.integers(0, 40),
    height=st.integers(1, 32),
    width=st.integers(1, 32),
)
def test_box_mask_is_the_clipped_box(cy: int, cx: int, h: int, w: int, height: int, width: int) -> None:
    t = lambda v: torch.tensor([v])  # noqa: E731
    inside, area = MF.box_mask(t(cy), t(cx), t(h), t(w), height, width)
    y1, y2 = min(max(cy - h // 2, 0), height), min(max(cy + h - h // 2, 0), height)
    x1, x2 = min(max(cx - w // 2, 0), width), min(max(cx + w - w // 2, 0), width)
    expected = torch.zeros(height, width, dtype=torch.bool)
    expected[y1:y2, x1:x2] = True
    assert torch.equal(inside[0, 0], expected)
    assert area.item() == pytest.approx(expected.float().mean().item())


def test_top_k_regions_per_sample_counts() -> None:
    scores = torch.tensor([[[4.0, 3.0], [2.0, 1.0]], [[1.0, 2.0], [3.0, 4.0]]])
    picked = MF.top_k_regions(scores, torch.tensor([1, 3]))
    assert picked.tolist() == [[[True, False], [False, False]], [[False, True], [True, True]]]


def test_mix_targets_is_exact_for_self_pairs_and_convex_otherwise() -> None:
    targets = torch.eye(4)
    same = MF.mix_targets(targets, torch.arange(4), torch.tensor([0.3, 0.7, 0.1, 0.9]))
    assert torch.equal(same, targets)
    mixed = MF.mix_targets(targets, torch.tensor([1, 0, 3, 2]), torch.full((4,), 0.25))
    torch.testing.assert_close(mixed[0], torch.tensor([0.25, 0.75, 0.0, 0.0]))


def test_to_targets_and_smoothing() -> None:
    onehot = MF.to_targets(torch.tensor([2, 0]), 3)
    assert onehot.tolist() == [[0, 0, 1], [1, 0, 0]]
    torch.testing.assert_close(MF.smooth_targets(onehot, 0.3), onehot * 0.7 + 0.1)


def test_resize_saliency_averages_down_and_interpolates_up() -> None:
    s = torch.arange(16.0).view(1, 4, 4)
    torch.testing.assert_close(MF.resize_saliency(s, 2), torch.tensor([[[2.5, 4.5], [10.5, 12.5]]]))
    up = MF.resize_saliency(s, 8)
    assert up.shape == (1, 8, 8) and up.min() >= 0 and up.max() <= 15


def test_draws_follow_the_generator_device() -> None:
    assert MF.draw_device(None) == torch.device("cpu")
    assert MF.random_permutation(5, seeded(), torch.device("cpu")).sort().values.tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(("height", "width"), [(32, 32), (30, 33), (8, 8), (7, 5)])
def test_upsample_regions_equals_nearest_interpolation(height: int, width: int) -> None:
    regions = (torch.rand(3, 4, 4, generator=seeded()) > 0.5).float()
    expected = torch.nn.functional.interpolate(regions[:, None], size=(height, width), mode="nearest-exact")
    assert torch.equal(MF.upsample_regions(regions, height, width, torch.float32), expected)


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.view({2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
def test_select_images_is_bit_identical_to_lerp_on_finite_input(dtype: torch.dtype) -> None:
    g = seeded(4)
    images = (torch.randn(9, 3, 17, 13, generator=g) * 3).to(dtype)
    perm = torch.randperm(9, generator=g)
    mask = (torch.rand(9, 1, 17, 13, generator=g) < 0.5).to(dtype)
    selected = MF.select_images(images, perm, mask)
    assert selected.dtype == dtype and selected.shape == images.shape
    assert torch.equal(_bits(selected), _bits(MF.mix_images(images, perm, mask)))  # the records stay as they are
    last = images.contiguous(memory_format=torch.channels_last)
    assert torch.equal(_bits(MF.select_images(last, perm, mask)), _bits(selected))
    grad = images.clone().requires_grad_()
    assert torch.equal(_bits(MF.select_images(grad, perm, mask).detach()), _bits(selected))


def test_select_images_takes_strided_and_expanded_input_and_leaves_it_unchanged() -> None:
    g = seeded(5)
    base = torch.randn(6, 3, 20, 24, generator=g)
    perm = torch.randperm(6, generator=g)
    mask = torch.rand(6, 1, 10, 12, generator=g) < 0.5
    for images in (base[:, :, ::2, ::2], base[:1, :, :10, :12].expand(6, -1, -1, -1)):
        before = images.clone()
        out = MF.select_images(images, perm, mask)
        reference = torch.where(mask, images.contiguous(), images.contiguous()[perm])
        assert torch.equal(_bits(out), _bits(reference)) and torch.equal(images, before)


def test_select_images_never_leaks_a_non_finite_pixel_where_lerp_does() -> None:
    images = torch.randn(4, 3, 8, 8, generator=seeded())
    images[2] = float("inf")
    images[3, 1, 2, 5] = float("nan")
    perm = torch.tensor([2, 3, 0, 1])
    mask = (torch.rand(4, 1, 8, 8, generator=seeded(1)) < 0.5).float()
    keep = mask.bool().expand_as(images)
    out = MF.select_images(images, perm, mask)
    assert torch.equal(_bits(out[keep]), _bits(images[keep]))
    assert torch.equal(_bits(out[~keep]), _bits(images[perm][~keep]))
    assert torch.isfinite(out[0][keep[0]]).all() and torch.isinf(out[0][~keep[0]]).all()
    assert torch.isnan(MF.mix_images(images, perm, mask)[0][keep[0]]).all()  # lerp: inf * 0 = NaN


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
def test_keep_or_zero_is_the_product_bit_for_bit_but_empties_non_finite_holes(dtype: torch.dtype) -> None:
    g = seeded(6)
    images = torch.randn(5, 3, 9, 11, generator=g).to(dtype)
    mask = (torch.rand(5, 1, 9, 11, generator=g) < 0.5).to(dtype)
    assert torch.equal(_bits(MF.keep_or_zero(images, mask)), _bits(images * mask))  # signed zeros included
    grad = images.clone().requires_grad_()
    assert torch.equal(_bits(MF.keep_or_zero(grad, mask).detach()), _bits(images * mask))
    images[1] = float("inf")
    images[2, 0] = float("nan")
    out = MF.keep_or_zero(images, mask)
    hole = ~mask.bool().expand_as(images)
    assert (out[hole] == 0).all() and torch.equal(_bits(out[~hole]), _bits(images[~hole]))

"""PuzzleMix: graph-cut masks on a block grid, label weight = mask mean, block transport."""

from __future__ import annotations

import builtins

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import saliency_grafting as sg
from saliency_grafting.mixing.puzzlemix import transport_blocks, transport_plan
from tests.conftest import NUM_CLASSES, make_batch, seeded

pytest.importorskip("gco")


def sample(mixer: sg.PuzzleMix, size: int = 32, batch: int = 8, seed: int = 0):
    images, labels, _ = make_batch(batch, size=size, seed=seed)
    saliency = torch.rand(batch, size, size, generator=seeded(seed)) ** 4
    return images, labels, saliency, mixer.sample_params(images, labels, saliency, generator=seeded(seed))


def test_mask_takes_the_label_values_and_lambda_is_its_mean() -> None:
    mixer = sg.PuzzleMix(num_classes=NUM_CLASSES)
    for seed in range(6):
        _, _, _, params = sample(mixer, seed=seed)
        assert set(params.mask.unique().tolist()) <= {0.0, 0.5, 1.0}
        assert params.block_num in (2, 4, 8, 16) and params.region_mask.shape[-1] == params.block_num
        torch.testing.assert_close(params.lam, params.mask.mean((1, 2, 3)))
    two = sg.PuzzleMix(num_classes=NUM_CLASSES, n_labels=2)
    assert set(sample(two)[3].mask.unique().tolist()) <= {0.0, 1.0}


def test_block_grid_is_drawn_per_batch() -> None:
    mixer = sg.PuzzleMix(num_classes=NUM_CLASSES, transport=False)
    assert {sample(mixer, seed=s)[3].block_num for s in range(30)} == {2, 4, 8, 16}


def test_graph_cut_keeps_the_more_salient_image_where_it_is_salient() -> None:
    # x_i is salient on the left half, its partner on the right half: the mask keeps x_i on the left.
    mixer = sg.PuzzleMix(num_classes=NUM_CLASSES, transport=False, block_nums=(4,), n_labels=2, alpha=50.0)
    images = torch.zeros(2, 3, 32, 32)
    saliency = torch.zeros(2, 32, 32)
    saliency[0, :, :16] = 1.0
    saliency[1, :, 16:] = 1.0
    params = mixer.sample_params(images, torch.tensor([0, 1]), saliency, perm=torch.tensor([1, 0]), generator=seeded())
    assert params.region_mask[0, :, :2].mean() > 0.9 and params.region_mask[0, :, 2:].mean() < 0.1
    assert params.region_mask[1, :, 2:].mean() > 0.9 and params.region_mask[1, :, :2].mean() < 0.1


def test_transport_permutes_blocks_within_an_image() -> None:
    mixer = sg.PuzzleMix(num_classes=NUM_CLASSES, block_nums=(4,))
    images, labels, _, params = sample(mixer)
    plan = params.plan_source
    assert plan.shape == (8, 64, 64) and set(plan.unique().tolist()) <= {0.0, 1.0}
    assert (plan.sum(-1) <= 1).all() and (plan.sum(-2) <= 1).all()  # each block goes to at most one place
    moved = transport_blocks(images, plan, 8)
    blocks = images.unfold(2, 4, 4).unfold(3, 4, 4).reshape(8, 3, 64, 16)
    moved_blocks = moved.unfold(2, 4, 4).unfold(3, 4, 4).reshape(8, 3, 64, 16)
    for b in range(8):
        for j in range(64):
            sources = plan[b, :, j].nonzero().flatten()
            expected = blocks[b, :, sources[0]] if len(sources) else torch.zeros(3, 16)
            assert torch.equal(moved_blocks[b, :, j], expected)
    mixed, _ = mixer.apply(images, labels, params)
    partner = transport_blocks(images[params.perm], params.plan_dest, 8)
    torch.testing.assert_close(mixed, params.mask * moved + (1 - params.mask) * partner)


def test_transport_moves_salient_blocks_into_the_kept_region() -> None:
    mask = torch.zeros(1, 2, 2)
    mask[0, 0, 0] = 1.0  # only the top-left block is kept
    saliency = torch.tensor([[[0.0, 0.0], [0.0, 1.0]]])  # the salient block is bottom-right
    plan = transport_plan(mask, saliency, eps=0.1)
    assert plan[0, 3, 0] == 1  # block 3 moves to block 0


@given(seed=st.integers(0, 1000), size=st.sampled_from([16, 32, 48]))
def test_property_convention_without_transport(seed: int, size: int) -> None:
    mixer = sg.PuzzleMix(num_classes=NUM_CLASSES, transport=False, block_nums=(2, 4, 8))
    images, labels, _, params = sample(mixer, size=size, batch=3, seed=seed)
    mixed, soft = mixer.apply(images, labels, params)
    torch.testing.assert_close(mixed, params.mask * images + (1 - params.mask) * images[params.perm])
    torch.testing.assert_close(soft.sum(1), torch.ones(3))


def test_bad_sizes_and_arguments() -> None:
    mixer = sg.PuzzleMix(num_classes=NUM_CLASSES, block_nums=(8,))
    images, labels, _ = make_batch(2, size=20)
    with pytest.raises(ValueError, match="PuzzleMix: images must be square with a side divisible by the block grid 8"):
        mixer(images, labels, torch.rand(2, 20, 20), generator=seeded())
    bad = (
        {"alpha": 0},
        {"n_labels": 1},
        {"block_nums": ()},
        {"block_nums": (2, 1)},
        {"t_size": 0},
        {"beta": float("inf")},
        {"gamma": -1.0},
        {"eta": float("nan")},
        {"t_eps": -0.1},
        {"adv_eps": 300.0},
        {"workers": 0},
        {"std": (0.0, 1.0, 1.0)},
        {"mean": (0.5,)},
    )
    for kwargs in bad:
        with pytest.raises(ValueError, match=f"PuzzleMix: {next(iter(kwargs))}"):
            sg.PuzzleMix(num_classes=NUM_CLASSES, **kwargs)
    for kwargs in ({"block_nums": 4}, {"transport": 1}, {"neigh_size": 2.0}, {"mean": "0.5", "std": (1.0,)}):
        with pytest.raises(TypeError, match=f"PuzzleMix: {next(iter(kwargs))}"):
            sg.PuzzleMix(num_classes=NUM_CLASSES, **kwargs)
    nan_images = torch.randn(2, 3, 16, 16)
    nan_images[1, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="PuzzleMix: images must be finite"):
        sg.PuzzleMix(num_classes=NUM_CLASSES, block_nums=(4,))(nan_images, labels, torch.rand(2, 16, 16))
    with pytest.raises(ValueError, match="needs saliency of kind 'input_gradient'"):
        mixer(images, labels)


def test_missing_gco_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_gco(name, *args, **kwargs):
        if name == "gco":
            raise ImportError("no gco")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_gco)
    with pytest.raises(ImportError, match=r"saliency_grafting\[puzzlemix\]"):
        sg.PuzzleMix(num_classes=NUM_CLASSES)


def test_adversarial_noise_is_bounded_and_follows_the_gradient_sign() -> None:
    mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
    mixer = sg.PuzzleMix(num_classes=NUM_CLASSES, adv_p=1.0, adv_eps=8.0, mean=mean, std=std, transport=False)
    _, labels, saliency, _ = sample(mixer)
    images = (torch.rand(8, 3, 32, 32, generator=seeded(5)) - 0.5) / 0.25  # valid pixels, normalised
    params = mixer.sample_params(images, labels, saliency, generator=seeded())
    draw = mixer.start_adversarial(images, seeded(1))
    assert draw.source and draw.dest and draw.start.abs().max() <= 8 / 255 + 1e-6
    pixels = images * 0.25 + 0.5
    assert ((pixels + draw.start) >= -1e-6).all() and ((pixels + draw.start) <= 1 + 1e-6).all()
    gradient = torch.randn(images.shape, generator=seeded(2))
    noise = mixer.finish_adversarial(draw, gradient, seeded(3))
    assert noise.abs().max() <= 8 / 255 + 1e-6
    full = (draw.start + 10 / 255 * gradient.sign()).clamp(-8 / 255, 8 / 255)
    ratio = noise[full != 0] / full[full != 0]
    assert torch.allclose(ratio, ratio[0].expand_as(ratio)) and 0 <= ratio[0] <= 1  # one U(0, 1) scale
    noisy_params = mixer.with_noise(params, draw, noise)
    mixed, _ = mixer.apply(images, labels, noisy_params)
    clean, _ = mixer.apply(images, labels, params)
    assert ((mixed - clean).abs() * 0.25).max() <= 8 / 255 + 1e-5 and not torch.equal(mixed, clean)
    assert sg.PuzzleMix(num_classes=NUM_CLASSES).start_adversarial(images, seeded()) is None
    with pytest.raises(ValueError, match="adv_p"):
        sg.PuzzleMix(num_classes=NUM_CLASSES, adv_p=2.0)


def test_puzzlemix_runs_under_bf16_autocast() -> None:
    mixer = sg.PuzzleMix(num_classes=NUM_CLASSES, block_nums=(4,))
    images, labels, _ = make_batch(4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed, soft = mixer(images, labels, torch.rand(4, 32, 32, generator=seeded()), generator=seeded())
    assert mixed.dtype == images.dtype and torch.isfinite(mixed).all()
    torch.testing.assert_close(soft.sum(1), torch.ones(4))


def dense_transport_plan(mask: torch.Tensor, saliency: torch.Tensor, eps: float) -> torch.Tensor:
    """The official algorithm written densely, as a reference: one-hot plans and an argmin over plan * cost."""
    batch, n = mask.shape[0], mask.shape[-1]
    pos = torch.stack(torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij"), -1).view(-1, 2).float()
    distance = ((pos[:, None] - pos[None]) ** 2).sum(-1) / max(n - 1, 1) ** 2
    z = (mask > 0).float().view(batch, 1, n * n)
    cost = eps * distance - saliency.reshape(batch, n * n, 1) * z
    won = torch.zeros_like(cost)
    for _ in range(n):
        plan = torch.nn.functional.one_hot(cost.argmin(-1), n * n).float()
        winners = torch.nn.functional.one_hot((plan * cost).argmin(-2), n * n).float().transpose(-2, -1)
        won = winners * plan
        cost = cost + (1 - won) * plan
    return won


@given(
    seed=st.integers(0, 10_000),
    n=st.sampled_from([2, 3, 4, 8]),
    eps=st.sampled_from([0.0, 0.1, 0.8, 5.0]),
    zeros=st.booleans(),
)
def test_property_index_transport_equals_the_dense_official_algorithm(
    seed: int, n: int, eps: float, zeros: bool
) -> None:
    g = seeded(seed)
    mask = (torch.rand(3, n, n, generator=g) > 0.5).float()
    saliency = torch.rand(3, n, n, generator=g)
    if zeros:  # blocks without saliency produce exact ties
        saliency = saliency * (torch.rand(3, n, n, generator=g) > 0.5)
    assert torch.equal(transport_plan(mask, saliency, eps), dense_transport_plan(mask, saliency, eps))


@given(st.integers(2, 300))
def test_default_grids_follow_the_side(side: int) -> None:
    from saliency_grafting.mixing.puzzlemix import PAPER_GRIDS, grids_for

    grids = grids_for(side)
    assert grids and all(side % n == 0 and n >= 2 for n in grids) and len(set(grids)) == len(grids)
    divisors = [d for d in range(2, side + 1) if side % d == 0]
    for paper in PAPER_GRIDS:  # every paper grid has its nearest divisor among them (an independent search)
        assert min(abs(n - paper) for n in grids) == min(abs(d - paper) for d in divisors)
    if side % 16 == 0:
        assert grids == PAPER_GRIDS


def test_puzzlemix_defaults_work_on_28_px_and_given_grids_are_still_checked() -> None:
    from saliency_grafting.mixing.puzzlemix import grids_for

    assert grids_for(28) == (2, 4, 7, 14) and grids_for(96) == (2, 4, 8, 16)
    images, labels = torch.randn(4, 3, 28, 28), torch.arange(4)
    mixed, soft = sg.PuzzleMix(num_classes=NUM_CLASSES, workers=1)(images, labels, torch.rand(4, 28, 28))
    assert mixed.shape == images.shape and torch.allclose(soft.sum(1), torch.ones(4))
    with pytest.raises(ValueError, match=r"side divisible by the block grid 8 \(block_nums \(2, 4, 8\)"):
        sg.PuzzleMix(num_classes=NUM_CLASSES, block_nums=(2, 4, 8), workers=1)(images, labels, torch.rand(4, 28, 28))
    with pytest.raises(ValueError, match="images must be square"):
        sg.PuzzleMix(num_classes=NUM_CLASSES, workers=1)(torch.randn(4, 3, 28, 32), labels, torch.rand(4, 28, 32))


@given(st.integers(2, 300), st.integers(1, 16), st.integers(1, 32))
def test_transport_grid_refines_the_mask_grid_with_blocks_nearest_the_size(side: int, pick: int, size: int) -> None:
    import math

    from saliency_grafting.mixing.puzzlemix import grids_for, transport_grid

    grids = grids_for(side)
    n = grids[pick % len(grids)]
    count = transport_grid(side, n, size)
    assert side % count == 0 and count % n == 0
    refinements = [c for c in range(n, side + 1, n) if side % c == 0]  # an independent search of every refinement
    assert abs(math.log(side / count / size)) == min(abs(math.log(side / c / size)) for c in refinements)
    assert transport_grid(side, n, None) == n


def test_transport_grid_is_the_official_one_where_4_px_blocks_exist_and_coarse_at_28_px() -> None:
    from saliency_grafting.mixing.puzzlemix import transport_grid

    assert [transport_grid(32, n, 4) for n in (2, 4, 8, 16)] == [8, 8, 8, 16]  # the official CIFAR setting
    assert [transport_grid(64, n, 4) for n in (2, 4, 8, 16)] == [16, 16, 16, 16]
    # 28 px: 7 px blocks (4 per side), not the 1 px blocks (a 784 x 784 plan per image) a divisor of 4 px would force
    assert [transport_grid(28, n, 4) for n in (2, 4, 7, 14)] == [4, 4, 7, 14]
    _, _, _, params = sample(sg.PuzzleMix(num_classes=NUM_CLASSES, block_nums=(4,), workers=1), size=28)
    assert params.plan_source is not None and params.plan_source.shape[-1] == 16


def test_transport_grid_names_a_bad_argument() -> None:
    from saliency_grafting.mixing.puzzlemix import transport_grid

    with pytest.raises(ValueError, match="transport_grid: n must be a divisor of side 30, got 4"):
        transport_grid(30, 4, 4)
    with pytest.raises(ValueError, match="transport_grid: size must be a finite number > 0, got 0"):
        transport_grid(32, 4, 0)
    with pytest.raises(TypeError, match="transport_grid: n must be an int >= 1 and <= 32"):
        transport_grid(32, 4.0, 4)  # type: ignore[arg-type]

"""PuzzleMix (Kim, Choo & Song, ICML 2020): graph-cut masks over a block grid and a transport of salient blocks."""

from __future__ import annotations

import dataclasses
import math
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from saliency_grafting.mixing import _checks as C
from saliency_grafting.mixing import functional as MF
from saliency_grafting.mixing.base import Mixer, MixParams, SaliencyKind, StepView
from saliency_grafting.mixing.transport import transport_blocks, transport_grid, transport_plan

if TYPE_CHECKING:
    from saliency_grafting.saliency.sources import SaliencySource

__all__ = ["AdversarialDraw", "PuzzleMix", "PuzzleMixParams", "transport_blocks", "transport_grid", "transport_plan"]


@dataclass(frozen=True)
class PuzzleMixParams(MixParams):
    """``MixParams`` plus the transport plans: ``mixed = mask * T_i(x_i) + (1 - mask) * T_j(x_perm)``."""

    block_num: int  # the mask's grid side, drawn from block_nums
    region_mask: Tensor  # float32 [B, n, n] in {0, 1/(L-1), ..., 1}
    plan_source: Tensor | None  # float [B, N, N]: block i of x_i moves to block j where plan[i, j] = 1
    plan_dest: Tensor | None  # the same for x_perm
    noise: Tensor | None = None  # adversarial noise in pixel units [B, C, H, W], added to x_i and/or x_perm
    noise_source: bool = False
    noise_dest: bool = False


@dataclass(frozen=True)
class AdversarialDraw:
    """The batch's adversarial draws: which of x_i / x_perm get noise, and the random start (pixel units)."""

    source: bool
    dest: bool
    start: Tensor  # [B, C, H, W]


def _neighbour_penalty(top: Tensor, bottom: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Mean |difference| across each block boundary of two pooled images: vertical ``[B, n-1, n]``, horizontal."""
    dx = (top[:, :, :-1, :] - bottom[:, :, 1:, :])[:, :, k - 1 :: k, :]
    dy = (top[:, :, :, :-1] - bottom[:, :, :, 1:])[:, :, :, k - 1 :: k]
    return F.avg_pool2d(dx.abs().mean(1), (1, k)), F.avg_pool2d(dy.abs().mean(1), (k, 1))


def _graph_cuts(unary: np.ndarray, pairwise: np.ndarray, cost_v: np.ndarray, cost_h: np.ndarray) -> np.ndarray:
    """Alpha-beta-swap graph cuts of a chunk of samples (one worker process runs one chunk)."""
    import gco

    return np.stack(
        [gco.cut_grid_graph(u, pairwise, v, h, algorithm="swap") for u, v, h in zip(unary, cost_v, cost_h, strict=True)]
    )


def _process_pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes for the graph cuts: gco keeps global state, so threads would corrupt it."""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")  # the workers use no torch
    return ProcessPoolExecutor(workers, mp_context=context)


PAPER_GRIDS = (2, 4, 8, 16)  # the official code's block grids


def grids_for(side: int) -> tuple[int, ...]:
    """The block grids for images of ``side`` pixels: each of the paper's, or the divisor of ``side`` (>= 2) nearest
    to it (ties to the smaller), without repeats: (2, 4, 8, 16) at 32, 64 or 224 px, (2, 4, 7, 14) at 28 px."""
    divisors = [d for d in range(2, side + 1) if side % d == 0] or [side]
    return tuple(dict.fromkeys(min(divisors, key=lambda d: (abs(d - g), d)) for g in PAPER_GRIDS))


class PuzzleMix(Mixer):
    """PuzzleMix with its official CIFAR defaults; needs the ``puzzlemix`` extra (``gco-wrapper``).

    Per batch a block grid ``n`` is drawn from ``block_nums``; per sample ``lambda ~ Beta(alpha, alpha)``. The unary
    cost is the block-pooled input-gradient saliency (``saliency``, ``[B, H, W]``, e.g. from
    ``input_gradient_saliency``), the smoothness cost the image differences across block boundaries (``gamma``),
    the label cost ``beta`` and the prior ``eta`` on the binomial label probabilities of ``lambda``. The mask over
    ``n_labels`` values {1, ..., 0} is solved per sample by alpha-beta-swap graph cuts, in ``workers`` processes
    (gco keeps global state, so not threads; default: ``torch.get_num_threads()``). Then (``transport``) salient
    blocks of each image move into the region it keeps, on the refinement of the block grid whose blocks are nearest
    to ``t_size`` px (``transport_grid``; ``"auto"``: 4 px up to 64 px images, the block grid above; ``None``: the
    mask's block grid, the Tiny-ImageNet setting) with cost weight ``t_eps``.
    The label weight is the mask mean. Set ``mean``/``std`` to the images' normalisation so that the smoothness term
    sees pixels, as the official code does (the trainer does). The graph cuts run on the CPU: the costs are copied
    to the host once per batch.

    Adversarial noise (``adv_p > 0``, off by default as in the official CIFAR command): per batch, x_i and x_perm
    each get noise with probability ``adv_p``. The input gradient is taken at the images plus uniform noise in
    ``±adv_eps / 255`` (``start_adversarial``); then ``(adv_eps + 2) / 255 * sign(grad)`` is added, the sum clipped
    to ``±adv_eps / 255`` and scaled by ``U(0, 1)`` (``finish_adversarial``), and the noise is added to the chosen
    images before mixing (``with_noise``). The training loop does these steps around its saliency pass.
    """

    saliency_kind = SaliencyKind.INPUT_GRADIENT
    finite_images = True  # its costs are computed from the pixels
    params_type = PuzzleMixParams

    def __init__(
        self,
        *,
        num_classes: int,
        alpha: float = 1.0,
        beta: float = 1.2,
        gamma: float = 0.5,
        eta: float = 0.2,
        neigh_size: int = 4,
        n_labels: int = 3,
        block_nums: tuple[int, ...] | None = None,
        transport: bool = True,
        t_eps: float = 0.8,
        t_size: int | str | None = "auto",
        mean: tuple[float, ...] | None = None,
        std: tuple[float, ...] | None = None,
        adv_p: float = 0.0,
        adv_eps: float = 10.0,
        workers: int | None = None,
        label_smoothing: float = 0.0,
        validate: bool = True,
    ) -> None:
        super().__init__(num_classes=num_classes, label_smoothing=label_smoothing, validate=validate)
        try:
            import gco  # noqa: F401
        except ImportError as err:
            raise ImportError("PuzzleMix needs graph cuts: pip install 'saliency_grafting[puzzlemix]'") from err
        number = C.check_number
        self.alpha = number(alpha, "alpha", self, low=0, low_open=True)  # lambda ~ Beta(alpha, alpha)
        self.beta, self.gamma = number(beta, "beta", self, low=0), number(gamma, "gamma", self, low=0)
        self.eta = number(eta, "eta", self, low=0)
        self.neigh_size = C.check_int(neigh_size, "neigh_size", self, low=1)  # pixels
        self.n_labels = C.check_int(n_labels, "n_labels", self, low=2, high=64)
        # None: the paper's grids, or on a side they do not divide its divisors nearest to them (``grids_for``)
        self.block_nums = None if block_nums is None else C.check_int_sequence(block_nums, "block_nums", self, low=2)
        self.transport = C.check_flag(transport, "transport", self)
        self.t_eps = number(t_eps, "t_eps", self, low=0)
        # pixels; "auto": 4 px up to 64 px images (the official CIFAR setting), the block grid above (transport on a
        # 4 px grid of a 224 px image solves a 3136 x 3136 plan per sample)
        self.t_size = t_size if t_size in (None, "auto") else C.check_int(t_size, "t_size", self, low=1)
        self.mean = None if mean is None else C.check_number_sequence(mean, "mean", self)
        self.std = None if std is None else C.check_number_sequence(std, "std", self, low=0, low_open=True)
        if (mean is None) != (std is None):
            C.fail(ValueError, self, "mean and std", "both given or both None", f"mean={mean!r}, std={std!r}")
        if (
            self.mean is not None
            and self.std is not None
            and 1 not in (len(self.mean), len(self.std))
            and len(self.mean) != len(self.std)
        ):
            C.fail(ValueError, self, "mean and std", "of one length (one value per channel)", f"{mean!r}, {std!r}")
        self.adv_p = number(adv_p, "adv_p", self, low=0, high=1)
        self.adv_eps = number(adv_eps, "adv_eps", self, low=0, high=255)  # in pixel levels out of 255
        # Default: the CPU threads torch may use (1 under OMP_NUM_THREADS=1: the cuts run in this process). The
        # cuts are per sample, so the result does not depend on how many processes share them.
        default = min(os.cpu_count() or 1, torch.get_num_threads())
        self.workers = default if workers is None else C.check_int(workers, "workers", self, low=1)
        self._pool: ProcessPoolExecutor | None = None

    def _stats(self, images: Tensor) -> tuple[Tensor, Tensor]:
        if self.mean is None or self.std is None:
            return torch.zeros(1, device=images.device), torch.ones(1, device=images.device)
        return (
            torch.tensor(self.mean, device=images.device).view(1, -1, 1, 1),
            torch.tensor(self.std, device=images.device).view(1, -1, 1, 1),
        )

    def __getstate__(self) -> dict[str, object]:
        return {**self.__dict__, "_pool": None}  # a pool does not pickle; a copy makes its own

    def _pixels(self, images: Tensor) -> Tensor:
        mean, std = self._stats(images)
        return images.float() * std + mean

    def _add_noise(self, images: Tensor, noise: Tensor) -> Tensor:
        """Images (normalised) plus noise in pixel units, the pixels clipped to [0, 1]."""
        mean, std = self._stats(images)
        return (((images.float() * std + mean) + noise).clamp(0, 1) - mean).div(std).to(images.dtype)

    def start_adversarial(self, images: Tensor, generator: torch.Generator | None) -> AdversarialDraw | None:
        """Draw which images get adversarial noise and its uniform start; ``None`` when neither does."""
        if self.adv_p == 0:
            return None
        coins = MF.sample_uniform((2,), generator) < self.adv_p
        source, dest = bool(coins[0]), bool(coins[1])
        if not (source or dest):
            return None
        eps = self.adv_eps / 255
        start = (MF.sample_uniform(tuple(images.shape), generator, images.device) * 2 - 1) * eps
        start = (self._pixels(images) + start).clamp(0, 1) - self._pixels(images)  # the noisy pixels stay in range
        return AdversarialDraw(source, dest, start)

    def noisy(self, images: Tensor, draw: AdversarialDraw) -> Tensor:
        """The images the input gradient is taken at: ``images`` plus the draw's uniform start."""
        return self._add_noise(images, draw.start)

    def finish_adversarial(self, draw: AdversarialDraw, gradient: Tensor, generator: torch.Generator | None) -> Tensor:
        """The noise: start plus a signed-gradient step, clipped to ``±adv_eps / 255``, times ``U(0, 1)``."""
        eps = self.adv_eps / 255
        noise = (draw.start + (self.adv_eps + 2) / 255 * gradient.sign()).clamp(-eps, eps)
        return noise * MF.sample_uniform((), generator, noise.device)

    def bind_data(self, mean: Tensor, std: Tensor) -> None:
        if self.mean is None:  # its smoothness term and noise work on pixels
            self.mean, self.std = tuple(mean.tolist()), tuple(std.tolist())

    def check_source(self, source: SaliencySource | None) -> None:
        if self.adv_p > 0 and not hasattr(source, "with_gradient"):
            raise ValueError(
                "PuzzleMix's adversarial noise (adv_p > 0) needs the input_gradient saliency source, "
                f"got {getattr(source, 'name', None)!r}"
            )

    def prepare(self, step: StepView) -> tuple[Tensor, tuple[AdversarialDraw, Tensor] | None]:
        """The input-gradient pass (at the noisy images when adversarial noise is drawn) and the noise."""
        draw = self.start_adversarial(step.images, step.generator)
        if draw is None:
            return step.saliency(), None
        if step.source is None or not hasattr(step.source, "with_gradient"):
            raise ValueError("PuzzleMix's adversarial noise (adv_p > 0) needs the input_gradient saliency source")
        saliency, gradient = step.saliency(self.noisy(step.images, draw), return_gradient=True)
        return saliency, (draw, self.finish_adversarial(draw, gradient, step.generator))

    def draw(self, step: StepView, prepared: Any) -> PuzzleMixParams:
        """The batch's params from the prepared saliency, with the adversarial noise when it was drawn."""
        saliency, adversarial = prepared
        params: Any = self.sample_params(step.images, step.labels, saliency, generator=step.generator)
        return params if adversarial is None else self.with_noise(params, *adversarial)

    def with_noise(self, params: PuzzleMixParams, draw: AdversarialDraw, noise: Tensor) -> PuzzleMixParams:
        """``params`` that add ``noise`` to x_i and / or x_perm (as drawn) before the mix."""
        return dataclasses.replace(params, noise=noise, noise_source=draw.source, noise_dest=draw.dest)

    def _masks(self, cost_keep: Tensor, cost_swap: Tensor, pw_x: Tensor, pw_y: Tensor, lam: Tensor, beta: float):
        """Solve every sample's multi-label graph cut; returns the ``[B, n, n]`` masks (1 keeps ``x_i``)."""
        batch, n = cost_keep.shape[:2]
        levels = self.n_labels - 1
        large = 1000.0 * n * n
        weights = torch.linspace(1, 0, self.n_labels, device=lam.device)  # mask value of label l
        # Prior: -log of the binomial probability of label l under lambda, times eta / n^2.
        label = torch.arange(self.n_labels, device=lam.device, dtype=torch.float32)
        binomial = torch.tensor([math.comb(levels, int(v)) for v in label], device=lam.device, dtype=torch.float32)
        prob = binomial * lam[:, None] ** (levels - label) * (1 - lam[:, None]) ** label
        prior = -torch.log(prob + 1e-8) * self.eta / (n * n)  # [B, L]
        unary = weights * cost_keep[..., None] + (1 - weights) * cost_swap[..., None] + prior[:, None, None, :]
        # Integer energies: the label cost (l1 - l2)^2 / levels^2 is scaled by levels^2 into the edge weights.
        unary_np = (large * unary).round().to(torch.int32).cpu().numpy()
        edges_v = (large * (pw_x + beta) / levels**2).round().to(torch.int32).cpu().numpy()
        edges_h = (large * (pw_y + beta) / levels**2).round().to(torch.int32).cpu().numpy()
        pairwise = ((np.arange(self.n_labels)[:, None] - np.arange(self.n_labels)[None, :]) ** 2).astype(np.int32)
        chunks = np.array_split(np.arange(batch), min(self.workers, batch))
        if len(chunks) == 1:
            labels = _graph_cuts(unary_np, pairwise, edges_v, edges_h)
        else:
            if self._pool is None:
                self._pool = _process_pool(self.workers)
            parts = [self._pool.submit(_graph_cuts, unary_np[c], pairwise, edges_v[c], edges_h[c]) for c in chunks]
            labels = np.concatenate([part.result() for part in parts])
        return 1.0 - torch.from_numpy(labels).float().view(batch, n, n).to(cost_keep.device) / levels

    def _sample(
        self, images: Tensor, saliency: Tensor | None, perm: Tensor, generator: torch.Generator | None
    ) -> PuzzleMixParams:
        assert saliency is not None
        batch, _, height, width = images.shape
        device = images.device
        if height != width:
            C.fail(ValueError, self, "images", "square (the mask is a square block grid)", f"{height}x{width}")
        grids = grids_for(width) if self.block_nums is None else self.block_nums
        bad = [n for n in grids if width % n != 0]
        if bad:
            C.fail(
                ValueError,
                self,
                "images",
                f"square with a side divisible by the block grid {bad[0]} (block_nums "
                f"{grids}; leave block_nums out for grids that follow the side)",
                f"{height}x{width}",
            )
        pick = int(torch.randint(len(grids), (), generator=generator, device=MF.draw_device(generator)))
        n = grids[pick]
        lam = MF.sample_beta(self.alpha, (batch,), generator, device)
        block = width // n
        # Pooling sizes must divide the block (the official code assumes so; gcd keeps e.g. 48 px images working).
        neigh = math.gcd(min(self.neigh_size, block), block)
        size = (4 if width <= 64 else None) if self.t_size == "auto" else self.t_size
        assert not isinstance(size, str)  # t_size is "auto", None or an int (checked in __init__)
        beta, gamma = self.beta / n / 16, self.gamma  # the official code normalises beta only
        sal = (
            F.interpolate(saliency.float().unsqueeze(1), size=(height, width), mode="bilinear")
            if (saliency.shape[-2:] != (height, width))
            else saliency.float().unsqueeze(1)
        )

        def pooled_unary(size: int) -> Tensor:
            pooled = F.avg_pool2d(sal, size).squeeze(1)
            return pooled / pooled.flatten(1).sum(1).clamp_min(1e-12).view(-1, 1, 1)

        unary_i = pooled_unary(block)
        unary_j = unary_i.index_select(0, perm)
        pool_i = F.avg_pool2d(self._pixels(images), neigh)
        pool_j = pool_i.index_select(0, perm)
        k = block // neigh
        # pw[a][b]: cost across a boundary with image a above / left and image b below / right (1: x_i, 0: x_j).
        pairs = {
            (a, b): _neighbour_penalty(pool_i if a else pool_j, pool_i if b else pool_j, k)
            for a in (0, 1)
            for b in (0, 1)
        }
        px = {key: beta * gamma * value[0] for key, value in pairs.items()}
        py = {key: beta * gamma * value[1] for key, value in pairs.items()}
        cost_keep, cost_swap = unary_j.clone(), unary_i.clone()  # keeping x_i loses x_j's saliency, and back
        cost_keep[:, :-1, :] += (px[1, 0] + px[1, 1]) / 2
        cost_swap[:, :-1, :] += (px[0, 1] + px[0, 0]) / 2
        cost_keep[:, 1:, :] += (px[0, 1] + px[1, 1]) / 2
        cost_swap[:, 1:, :] += (px[1, 0] + px[0, 0]) / 2
        cost_keep[:, :, :-1] += (py[1, 0] + py[1, 1]) / 2
        cost_swap[:, :, :-1] += (py[0, 1] + py[0, 0]) / 2
        cost_keep[:, :, 1:] += (py[0, 1] + py[1, 1]) / 2
        cost_swap[:, :, 1:] += (py[1, 0] + py[0, 0]) / 2
        pw_x = (px[1, 0] + px[0, 1] - px[1, 1] - px[0, 0]) / 2
        pw_y = (py[1, 0] + py[0, 1] - py[1, 1] - py[0, 0]) / 2
        region = self._masks(cost_keep, cost_swap, pw_x, pw_y, lam, beta)

        plan_source = plan_dest = None
        if self.transport:
            t_num = transport_grid(width, n, size)
            t_mask = F.interpolate(region.unsqueeze(1), size=t_num, mode="nearest").squeeze(1)
            t_unary_i = pooled_unary(width // t_num)
            plan_source = transport_plan(t_mask, t_unary_i, self.t_eps)
            plan_dest = transport_plan(1 - t_mask, t_unary_i.index_select(0, perm), self.t_eps)
        mask = F.interpolate(region.unsqueeze(1), size=(height, width), mode="nearest").to(images.dtype)
        return PuzzleMixParams(
            perm=perm,
            mask=mask,
            lam=mask.flatten(1).float().mean(1),
            block_num=n,
            region_mask=region,
            plan_source=plan_source,
            plan_dest=plan_dest,
        )

    def _mix_images(self, images: Tensor, params: MixParams) -> Tensor:
        assert isinstance(params, PuzzleMixParams) and params.mask is not None
        partner = images.index_select(0, params.perm)
        if params.noise is not None and params.noise_source:
            images = self._add_noise(images, params.noise)
        if params.noise is not None and params.noise_dest:
            partner = self._add_noise(partner, params.noise.index_select(0, params.perm))
        if params.plan_source is not None and params.plan_dest is not None:
            t_num = math.isqrt(params.plan_source.shape[-1])
            images = transport_blocks(images, params.plan_source, t_num)
            partner = transport_blocks(partner, params.plan_dest, t_num)
        return torch.lerp(partner, images, params.mask)

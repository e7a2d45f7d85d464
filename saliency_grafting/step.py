"""One training step of any method, usable from any loop: clean loss (by the objective) + the method's mixed losses."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from saliency_grafting._validation import check_int
from saliency_grafting.config import OBJECTIVES
from saliency_grafting.mixing.base import Mixer, MixParams, SaliencyKind
from saliency_grafting.saliency.forward import mode
from saliency_grafting.saliency.sources import SaliencySource, create_source

__all__ = ["MIX_STATS", "OBJECTIVES", "LossTerm", "MixStep", "StepInputs", "passes_per_step"]

MIX_STATS = ("mix_area", "mix_lambda", "mix_gap", "mix_empty")  # per-epoch means of the mixing diagnostics
_DEFAULT_SOURCE = {SaliencyKind.FORWARD: "forward", SaliencyKind.INPUT_GRADIENT: "input_gradient"}


@dataclass
class LossTerm:
    """One part of a step's loss: ``loss`` over ``samples`` forwarded samples; ``logits`` for the clean term."""

    loss: Tensor
    samples: int
    logits: Tensor | None = None


@dataclass
class StepInputs:
    """What a mixer's step hooks (``prepare``, ``mixed_loss``) see of one step.

    ``net`` is the network to score mixed batches with (DDP- or compile-wrapped); ``model`` the bare one for extra
    saliency passes. ``saliency(images)`` asks the step's saliency source (``None`` when there is none).
    """

    net: nn.Module
    model: nn.Module
    images: Tensor
    labels: Tensor
    generator: torch.Generator | None
    clean_logits: Tensor | None
    source: SaliencySource | None
    train_clean: bool
    autocast: Callable[[], contextlib.AbstractContextManager]
    stats: Tensor | None = field(default=None, repr=False)

    def saliency(self, images: Tensor | None = None, *, return_gradient: bool = False) -> Any:
        """The source's map of ``images`` (default: the batch); backward sources run in the objective's mode."""
        if self.source is None:
            return None
        images = self.images if images is None else images
        if not self.source.backward:
            return self.source(self.model, images, self.labels)
        # An extra forward + backward outside DDP: in train mode when the clean loss is trained on (its BN
        # statistics are the clean pass's anyway), in eval mode otherwise (PuzzleMix's official CIFAR recipe).
        with mode(self.model, self.train_clean), self.autocast():
            if return_gradient:
                return self.source.with_gradient(self.model, images, self.labels)  # type: ignore[attr-defined]
            return self.source(self.model, images, self.labels)

    def with_batch(self, images: Tensor, labels: Tensor, *, observe: bool = True) -> StepInputs:
        """The same step on another batch (a chain's later stages); ``observe=False``: without diagnostics."""
        return dataclasses.replace(self, images=images, labels=labels, stats=self.stats if observe else None)

    def observe(self, params: MixParams) -> None:
        """Accumulate the mixing diagnostics on the device (no host sync): area of x_i, lambda, |lambda - area|,
        empty grafts (nothing of x_i kept)."""
        if self.stats is None:
            return
        lam = params.lam.float()
        area = params.mask.flatten(1).float().mean(1) if params.mask is not None else lam
        batch = torch.full_like(lam[:1], lam.shape[0])
        row = torch.cat(
            [
                area.sum(0, True),
                lam.sum(0, True),
                (lam - area).abs().sum(0, True),
                (area == 0).float().sum(0, True),
                batch,
            ]
        )
        self.stats += row


@dataclass(frozen=True)
class _Plan:
    """How a step acts as one mixer: its objective and its saliency source."""

    mixer: Mixer
    objective: str
    source: SaliencySource | None

    @property
    def needs_clean_pass(self) -> bool:
        """Whether its mixing steps run the clean forward pass (for the loss or the forward saliency)."""
        return self.objective == "clean+mixed" or (self.source is not None and self.source.from_clean_pass)


def _source_name(mixer: Mixer, name: str) -> str | None:
    """The saliency source ``name`` (``"auto"``: the one ``mixer`` declares, or none) for one of a step's mixers."""
    kinds = mixer.saliency_kinds
    if name == "auto":
        chosen = [_DEFAULT_SOURCE[k] for k in kinds if k in _DEFAULT_SOURCE]
        return chosen[0] if chosen else None
    if not kinds:
        raise ValueError(f"--saliency {name}: {type(mixer).__name__} uses no saliency")
    return name


def passes_per_step(mixer: Mixer, *, objective: str = "auto", saliency: str = "auto", mix_times: int = 1) -> float:
    """The forward/backward sample passes, in batches, of one mixing step as ``MixStep`` runs it: the clean loss
    (when the objective trains on it), a backward saliency source's own pass (PuzzleMix's input gradient, Grad-CAM),
    and ``mix_times`` mixed batches of ``mixer.mix_passes`` each; for a random choice, the expectation over its
    choices, each with its own objective and saliency under ``"auto"``. A forward-only clean pass (the forward
    saliency under the mixed-only objective) is not counted."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    mix_times = check_int(mix_times, "mix_times", low=1)
    several = len(mixer.choices) > 1
    expected = 0.0
    for choice, weight in zip(mixer.choices, mixer.choice_weights, strict=True):
        clean = (choice.default_objective if objective == "auto" else objective) == "clean+mixed"
        source = None if several and not choice.saliency_kinds else _source_name(choice, saliency)
        backward = source is not None and create_source(source).backward
        expected += weight * (int(clean) + int(backward) + mix_times * choice.mix_passes)
    return expected


class MixStep:
    """The loss of one batch for any mixer, as a sequence of ``LossTerm``s.

    ``objective``: ``"clean+mixed"`` adds the cross-entropy of the clean batch (the paper's SG recipe),
    ``"mixed"`` trains on mixed batches only, ``"auto"`` is the mixer's own paper's (``mixer.default_objective``).
    ``saliency``: a source name (``forward``, ``input_gradient``, ``grad_cam``, ``static``) or ``"auto"`` (the one the
    mixer declares). ``mix_times`` mixed batches per step, their losses summed or averaged (``mix_reduction``).

    In any loop::

        step = MixStep(model, sg.SaliencyGrafting(num_classes=10), generator=torch.Generator().manual_seed(0))
        loss = step(images, labels)  # clean + grafted; a Lightning training_step returns it
        loss.backward()
    """

    def __init__(
        self,
        model: nn.Module,
        mixer: Mixer,
        *,
        net: nn.Module | None = None,
        objective: str = "auto",
        saliency: str = "auto",
        saliency_layer: str | None = None,
        mix_times: int = 1,
        mix_reduction: str = "sum",
        label_smoothing: float | None = None,
        generator: torch.Generator | None = None,
        autocast: Callable[[], contextlib.AbstractContextManager] | None = None,
    ) -> None:
        if not isinstance(mixer, Mixer):
            raise TypeError(f"mixer must be a saliency_grafting Mixer, got {type(mixer).__name__}")
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
        mix_times = check_int(mix_times, "mix_times", low=1)
        if mix_reduction not in ("sum", "mean"):
            raise ValueError(f"mix_reduction must be 'sum' or 'mean', got {mix_reduction!r}")
        self.model, self.mixer = model, mixer
        self.net = net if net is not None else model
        if hasattr(self.net, "_orig_mod") and not mixer.compile_safe:
            raise ValueError(
                f"{type(mixer).__name__} mixes through hooks inside the network: it cannot score a "
                "torch.compile'd net; pass the uncompiled one"
            )
        # One plan per mixer the step may act as (a RandomChoice's choices; else the mixer), each with its own
        # paper's objective and saliency source, so that a choice runs the clean pass only when its mixer needs it.
        several = len(mixer.choices) > 1
        self.plans = [self._plan(m, objective, saliency, saliency_layer, several) for m in mixer.choices]
        if several and not any(plan.source for plan in self.plans) and saliency != "auto":
            raise ValueError(f"--saliency {saliency}: none of {type(mixer).__name__}'s mixers uses saliency")
        self.objective = self.plans[0].objective if not several else mixer.default_objective
        self.source = next((plan.source for plan in self.plans if plan.source is not None), None)
        self.mix_times, self.mix_reduction = mix_times, mix_reduction
        # The clean loss is smoothed as the mixer smooths its soft labels unless told otherwise.
        self.label_smoothing = mixer.label_smoothing if label_smoothing is None else float(label_smoothing)
        self.generator = generator
        self.autocast = autocast or contextlib.nullcontext
        self.stats: Tensor | None = None  # [area, lambda, gap, empty, count] sums since the last read_stats()

    def _plan(self, mixer: Mixer, objective: str, saliency: str, layer: str | None, optional: bool) -> _Plan:
        chosen = mixer.default_objective if objective == "auto" else objective
        if mixer.uses_clean_logits and chosen != "clean+mixed":
            raise ValueError(
                f"{type(mixer).__name__} scores its views against the clean logits: objective must be "
                f"'clean+mixed' or 'auto', got {objective!r}"
            )
        source = None if optional and not mixer.saliency_kinds else self._source(mixer, saliency, layer)
        mixer.check_source(source)
        if source is not None:
            source.attach(self.model)
        return _Plan(mixer, chosen, source)

    @staticmethod
    def _source(mixer: Mixer, name: str, layer: str | None) -> SaliencySource | None:
        chosen = _source_name(mixer, name)
        return create_source(chosen, layer=layer) if chosen else None

    @property
    def needs_clean_pass(self) -> bool:
        """Whether a mixing step runs the clean forward pass (for its loss or for the forward saliency)."""
        return any(plan.needs_clean_pass for plan in self.plans)

    def terms(self, images: Tensor, labels: Tensor, *, mixing: bool = True) -> Iterator[LossTerm]:
        """The step's loss terms in order: clean (if trained on), then each mixed batch. A term may be
        backpropagated as soon as it is yielded (the next one does not need its graph), which frees memory early."""
        plan = self.plans[self.mixer.select(self.generator)] if mixing else self.plans[0]  # one draw per batch
        train_clean = not mixing or plan.objective == "clean+mixed"
        clean_logits, pending = None, None
        if train_clean or (mixing and plan.needs_clean_pass):
            with self.autocast(), torch.set_grad_enabled(train_clean and torch.is_grad_enabled()):
                out = self.net(images)  # the forward source's hook keeps this pass's features
            if train_clean:
                clean_logits = out
                clean = LossTerm(
                    F.cross_entropy(out.float(), labels, label_smoothing=self.label_smoothing), len(images), out
                )
                if not (mixing and plan.mixer.uses_clean_logits):
                    yield clean
                else:
                    pending = clean  # AugMix's JSD backpropagates through the clean logits: one term with them
        if not mixing:
            return
        step = StepInputs(
            self.net,
            self.model,
            images,
            labels,
            self.generator,
            clean_logits,
            plan.source,
            plan.objective == "clean+mixed",
            self.autocast,
            self._stats(images),
        )
        prepared = plan.mixer.prepare(step)
        k = self.mix_times
        for i in range(k):
            with self.autocast():
                loss, samples = plan.mixer.mixed_loss(step, prepared)
            # "mean" keeps the step on augmented data the same size for every k; "sum" grows it with k.
            loss = loss / k if self.mix_reduction == "mean" and k > 1 else loss
            if pending is None:
                yield LossTerm(loss, samples)
                continue
            pending = LossTerm(pending.loss + loss, pending.samples + samples, pending.logits)
            if i == k - 1:  # every term that reads the clean logits goes into one backward with the clean loss
                yield pending

    def __call__(self, images: Tensor, labels: Tensor, *, mixing: bool = True) -> Tensor:
        """The step's whole loss (sum of ``terms``), for loops that call ``backward`` themselves."""
        return torch.stack([term.loss for term in self.terms(images, labels, mixing=mixing)]).sum()

    def _stats(self, images: Tensor) -> Tensor:
        if self.stats is None or self.stats.device != images.device:
            self.stats = torch.zeros(5, device=images.device)
        return self.stats

    def read_stats(self) -> dict[str, float]:
        """The mixing diagnostics since the last call (one host sync), then reset: ``MIX_STATS`` keys."""
        if self.stats is None:
            return {}
        area, lam, gap, empty, count = self.stats.tolist()
        self.stats = None
        if count == 0:
            return {}
        return dict(zip(MIX_STATS, (area / count, lam / count, gap / count, empty / count), strict=True))

    def close(self) -> None:
        """Detach the saliency source (the forward hook) from the model."""
        for plan in self.plans:
            if plan.source is not None:
                plan.source.detach()

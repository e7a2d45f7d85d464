"""Mixers applied one after another (the paper's Cutout + Mixup, Cutout + Manifold Mixup)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from saliency_grafting.mixing import _checks as C
from saliency_grafting.mixing import functional as MF
from saliency_grafting.mixing.base import Mixer, MixParams, SaliencyKind, StepView

if TYPE_CHECKING:
    from saliency_grafting.saliency.sources import SaliencySource

__all__ = ["Chain", "ChainParams"]

_MODEL_KINDS = (SaliencyKind.FORWARD, SaliencyKind.INPUT_GRADIENT)


@dataclass(frozen=True)
class ChainParams(MixParams):
    """The draws of every stage, in order (``stages``); ``apply`` replays them.

    A chain has no single mask: ``mask`` is None, ``perm`` is the last stage's partners and ``lam`` the product of
    the stages' label weights (the weight of ``y_i`` along the path that keeps ``x_i`` at every stage).
    """

    stages: tuple[MixParams, ...] = ()


class Chain(Mixer):
    """``stages[0]``, then ``stages[1]`` on its output images and soft labels, and so on; a mixer like the others.

    ``sample_params`` draws every stage in order (a later stage is drawn on the images the earlier ones mixed) and
    returns ``ChainParams``; ``apply`` replays them; ``forward(model, ...)`` replays all but the last stage and lets
    the last one score the batch (Manifold Mixup mixes inside the network). The saliency passed in is the clean
    batch's: only the first stage sees the clean batch, so a stage that needs the model's saliency (forward or
    input gradient) must come first, and there can be one such stage. Stages that compute saliency from pixels
    (SaliencyMix) compute it from the images they receive. Manifold Mixup and AugMix can only be last. Label
    smoothing (which the stages must agree on) is applied once, to the final labels. ``Chain(stages)`` takes the
    stages positionally; nested chains are flattened.
    """

    params_type = ChainParams

    def __init__(self, stages: Sequence[Mixer]) -> None:
        form = "a list or tuple of at least two Mixer instances"
        if isinstance(stages, (str, bytes)) or not isinstance(stages, Sequence):
            C.fail(TypeError, self, "stages", form, f"{stages!r} ({type(stages).__name__})")
        flat: list[Mixer] = []
        for stage in stages:
            if not isinstance(stage, Mixer):
                C.fail(TypeError, self, "stages", form, f"a {type(stage).__name__} among them")
            flat.extend(stage.stages if isinstance(stage, Chain) else [stage])
        if len(flat) < 2:
            C.fail(ValueError, self, "stages", form + " (a chain needs at least two mixers)", f"{len(flat)}")
        for name in ("num_classes", "label_smoothing"):
            values = sorted({getattr(stage, name) for stage in flat})
            if len(values) != 1:
                C.fail(ValueError, self, "stages", f"mixers that agree on {name}", f"{name} {values}")
        self._check_order(flat)
        super().__init__(
            num_classes=flat[0].num_classes,
            label_smoothing=flat[0].label_smoothing,
            validate=any(stage.validate for stage in flat),
        )
        self.stages: list[Mixer] = flat
        model = [k for k, stage in enumerate(flat) if stage.saliency_kind in _MODEL_KINDS]
        first = flat[0].saliency_kind
        # The stage that gets the saliency passed to the chain: the model-saliency one, else a first pixel one.
        self._saliency_stage = model[0] if model else (0 if first is SaliencyKind.IMAGE else None)
        pixels = any(stage.saliency_kind is SaliencyKind.IMAGE for stage in flat)
        self.saliency_kind = flat[model[0]].saliency_kind if model else SaliencyKind((pixels and "image") or "none")
        self.finite_images = any(stage.finite_images for stage in flat)

    def _check_order(self, stages: list[Mixer]) -> None:
        """Reject chains that cannot work, before the first mixed step finds out."""
        names = " + ".join(type(stage).__name__ for stage in stages)
        model = [k for k, stage in enumerate(stages) if stage.saliency_kind in _MODEL_KINDS]
        if len(model) > 1:
            C.fail(
                ValueError,
                self,
                "stages",
                "a chain with at most one stage that needs the model's saliency "
                "(it is computed once, from the clean batch)",
                names,
            )
        if model and model[0] != 0:
            stage = stages[model[0]]
            C.fail(
                ValueError,
                self,
                "stages",
                f"a chain whose {type(stage).__name__} (it needs the model's "
                f"'{stage.saliency_kind.value}' saliency, which describes the clean batch that only the first "
                "stage sees) comes first",
                names,
            )
        for stage in stages[:-1]:
            if stage.last_stage_only:
                C.fail(
                    ValueError,
                    self,
                    "stages",
                    f"a chain with {type(stage).__name__} last ({stage.last_stage_only})",
                    names,
                )

    @property
    def saliency_kinds(self) -> tuple[SaliencyKind, ...]:
        """Every kind of saliency the chain's stages use, in stage order."""
        return tuple(dict.fromkeys(kind for stage in self.stages for kind in stage.saliency_kinds))

    def __call__(
        self,
        images: Tensor,
        labels: Tensor,
        saliency: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Draw and apply every stage in turn (the same result as ``sample_params`` then ``apply``)."""
        _, saliency = self._check_sample(images, labels, saliency, generator, None)
        targets = MF.to_targets(labels, self.num_classes)
        for k, stage in enumerate(self.stages):
            params = stage._draw(images, saliency if k == self._saliency_stage else None, None, generator)
            images, targets = stage._mix_images(images, params), stage.mix_labels(targets, params)
        return images, MF.smooth_targets(targets, self.label_smoothing)

    def _draw(
        self, images: Tensor, saliency: Tensor | None, perm: Tensor | None, generator: torch.Generator | None
    ) -> ChainParams:
        drawn: list[MixParams] = []
        for k, stage in enumerate(self.stages):
            drawn.append(stage._draw(images, saliency if k == self._saliency_stage else None, perm, generator))
            if k < len(self.stages) - 1:  # the next stage is drawn on the images mixed so far
                images = stage._mix_images(images, drawn[-1])
        lam = drawn[0].lam.float()
        for params in drawn[1:]:
            lam = lam * params.lam.float().to(lam.device)
        return ChainParams(perm=drawn[-1].perm, mask=None, lam=lam, stages=tuple(drawn))

    def sample_params(
        self,
        images: Tensor,
        labels: Tensor,
        saliency: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        perm: Tensor | None = None,
    ) -> ChainParams:
        """Draw every stage in order; ``perm`` fixes the partners of every stage that pairs images."""
        return super().sample_params(images, labels, saliency, generator=generator, perm=perm)  # type: ignore[return-value]

    def apply(self, images: Tensor, labels: Tensor, params: MixParams) -> tuple[Tensor, Tensor]:
        """Replay ``ChainParams``: every stage's draw on the images and labels the previous stages produced."""
        images, targets = self._replay(images, labels, params, len(self.stages))
        return images, MF.smooth_targets(targets, self.label_smoothing)

    def forward(
        self, model: Callable[[Tensor], Tensor], images: Tensor, labels: Tensor, params: MixParams
    ) -> tuple[Tensor, Tensor]:
        """Replay all stages but the last, whose ``forward`` gives ``model``'s logits and the soft labels."""
        images, targets = self._replay(images, labels, params, len(self.stages) - 1)
        assert isinstance(params, ChainParams)
        return self.stages[-1].forward(model, images, targets, params.stages[-1])

    def _replay(self, images: Tensor, labels: Tensor, params: MixParams, count: int) -> tuple[Tensor, Tensor]:
        self._check_batch(images, labels)
        if not isinstance(params, ChainParams) or len(params.stages) != len(self.stages):
            C.fail(
                TypeError,
                self,
                "params",
                f"ChainParams of {len(self.stages)} stages from sample_params",
                type(params).__name__,
            )
        targets = MF.to_targets(labels, self.num_classes)
        for stage, drawn in zip(self.stages[:count], params.stages[:count], strict=True):
            C.check_params(drawn, images, stage, stage.params_type, binary=stage.binary_mask, validate=self.validate)
            images, targets = stage._mix_images(images, drawn), stage.mix_labels(targets, drawn)
        return images, targets

    # -- the training step: earlier stages mix the pixels, the last one scores the batch (e.g. Manifold Mixup) --

    @property
    def default_objective(self) -> str:  # type: ignore[override]
        # a stage whose paper learns from the clean batch too (SG, AugMix) keeps that in the chain
        own = {stage.default_objective for stage in self.stages}
        return "clean+mixed" if "clean+mixed" in own else "mixed"

    @property
    def compile_safe(self) -> bool:  # type: ignore[override]
        return all(stage.compile_safe for stage in self.stages)

    @property
    def mix_passes(self) -> int:  # type: ignore[override]
        return self.stages[-1].mix_passes  # the last stage scores the batch the others mixed

    @property
    def uses_clean_logits(self) -> bool:  # type: ignore[override]
        return any(stage.uses_clean_logits for stage in self.stages)

    def bind_data(self, mean: Tensor, std: Tensor) -> None:
        for stage in self.stages:
            stage.bind_data(mean, std)

    def check_source(self, source: SaliencySource | None) -> None:
        if source is not None and self._saliency_stage is None:
            raise ValueError(
                f"no stage of {self!r} takes the clean batch's saliency (only a first stage can), so a "
                f"saliency source ({source.name}) would go unused"
            )
        if self._saliency_stage is not None:
            self.stages[self._saliency_stage].check_source(source)

    def prepare(self, step: StepView) -> list[Any]:
        """The first stage's preparation from the clean batch (its saliency); the other stages get ``None``."""
        return [stage.prepare(step) if k == self._saliency_stage else None for k, stage in enumerate(self.stages)]

    def mixed_loss(self, step: StepView, prepared: Any) -> tuple[Tensor, int]:
        """Earlier stages draw and mix in turn (labels unsmoothed); the last one mixes and scores the batch."""
        images, targets = step.images, MF.to_targets(step.labels, self.num_classes)
        observed = False  # the diagnostics describe the saliency stage's mix when there is one (SG's empty grafts)
        for k, (stage, ready) in enumerate(zip(self.stages[:-1], prepared[:-1], strict=True)):
            params = stage.draw(step.with_batch(images, targets), ready)
            if k == self._saliency_stage:
                step.observe(params)
                observed = True
            images, targets = stage._mix_images(images, params), stage.mix_labels(targets, params)
        last = step.with_batch(images, targets, observe=not observed)
        return self.stages[-1].mixed_loss(last, prepared[-1])

    def __repr__(self) -> str:
        return " + ".join(repr(stage) for stage in self.stages)

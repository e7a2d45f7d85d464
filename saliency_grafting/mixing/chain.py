"""Mixers applied one after another (the paper's Cutout + Mixup, Cutout + Manifold Mixup)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from saliency_grafting.mixing.base import Mixer, SaliencyKind

__all__ = ["Chain"]


class Chain(Mixer):
    """``stages[0]``, then ``stages[1]`` on its output images and soft labels, and so on.

    The saliency passed in (if any) is the clean batch's and goes to every stage that needs it. The combined
    result is not one mask and partner per sample, so ``sample_params`` is not defined for a chain; call it.
    """

    def __init__(self, stages: Sequence[Mixer]) -> None:
        if len(stages) < 2:
            raise ValueError(f"a chain needs at least two mixers, got {len(stages)}")
        classes = {stage.num_classes for stage in stages}
        if len(classes) != 1:
            raise ValueError(f"the chained mixers disagree on num_classes: {sorted(classes)}")
        super().__init__(num_classes=classes.pop(), validate=stages[0].validate)
        self.stages = list(stages)
        kinds = [s.saliency_kind for s in self.stages if s.saliency_kind is not SaliencyKind.NONE]
        self.saliency_kind = kinds[0] if kinds else SaliencyKind.NONE

    def __call__(
        self,
        images: Tensor,
        labels: Tensor,
        saliency: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        for stage in self.stages:
            needs = stage.saliency_kind is not SaliencyKind.NONE
            images, labels = stage(images, labels, saliency if needs else None, generator=generator)
        return images, labels

    def sample_params(self, *args: object, **kwargs: object) -> None:
        raise NotImplementedError("a Chain has no single MixParams; call the chain, or each stage")

    def __repr__(self) -> str:
        return " + ".join(repr(stage) for stage in self.stages)

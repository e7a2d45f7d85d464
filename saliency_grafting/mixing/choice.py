"""One of several mixers per batch, drawn at random: torchvision's ``RandomChoice([MixUp(), CutMix()])``, timm's
``switch_prob``, the Mixup / CutMix recipe of DeiT and ConvNeXt.

``RandomChoice([Mixup(...), CutMix(...)], probabilities=(0.5, 0.5))`` draws the mixer of each batch from its
generator (on the generator's device; a CPU generator costs no host sync), then behaves as that mixer: its params,
pixels and labels. In the training step (``MixStep``) each choice keeps its own paper's objective and saliency, so
Saliency Grafting among the choices runs the clean pass (for its saliency and loss) only on the batches it mixes.
By name: ``create_mixer("mixup|cutmix", 10)``, with weights ``"mixup:0.2|cutmix:0.8"``.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from saliency_grafting.mixing import _checks as C
from saliency_grafting.mixing import functional as MF
from saliency_grafting.mixing.base import Mixer, MixParams, SaliencyKind

__all__ = ["ChoiceParams", "RandomChoice"]


@dataclass(frozen=True)
class ChoiceParams(MixParams):
    """The chosen mixer (``index`` into ``choices``) and its own params (``drawn``); ``perm``, ``mask`` and ``lam``
    are the chosen mixer's."""

    index: int = 0
    drawn: MixParams | None = None


class RandomChoice(Mixer):
    """One mixer of ``mixers`` per batch, with ``probabilities`` (default: uniform); see the module."""

    params_type = ChoiceParams

    def __init__(self, mixers: Sequence[Mixer], probabilities: Sequence[float] | None = None) -> None:
        form = "a list or tuple of at least two Mixer instances"
        if isinstance(mixers, (str, bytes)) or not isinstance(mixers, Sequence):
            C.fail(TypeError, self, "mixers", form, f"{mixers!r} ({type(mixers).__name__})")
        if len(mixers) < 2 or not all(isinstance(m, Mixer) and not isinstance(m, RandomChoice) for m in mixers):
            C.fail(ValueError, self, "mixers", form + ", none a RandomChoice itself", repr(list(mixers)))
        for name in ("num_classes", "label_smoothing"):
            values = sorted({getattr(mixer, name) for mixer in mixers})
            if len(values) != 1:
                C.fail(ValueError, self, "mixers", f"mixers that agree on {name}", f"{name} {values}")
        if probabilities is None:
            probabilities = [1.0] * len(mixers)
        weights = C.check_number_sequence(probabilities, "probabilities", self, low=0)
        if len(weights) != len(mixers) or sum(weights) <= 0:
            C.fail(ValueError, self, "probabilities", f"{len(mixers)} weights >= 0 with a positive sum", weights)
        super().__init__(
            num_classes=mixers[0].num_classes,
            label_smoothing=mixers[0].label_smoothing,
            validate=any(m.validate for m in mixers),
        )
        self.mixers = list(mixers)
        total = sum(weights)
        self.probabilities = tuple(w / total for w in weights)
        self._edges = [sum(self.probabilities[: k + 1]) for k in range(len(self.probabilities))]
        self.finite_images = any(m.finite_images for m in self.mixers)

    @property
    def choices(self) -> tuple[Mixer, ...]:
        return tuple(self.mixers)

    @property
    def choice_weights(self) -> tuple[float, ...]:
        return self.probabilities

    def select(self, generator: torch.Generator | None) -> int:
        """The index of this batch's mixer, drawn from ``generator`` (one value)."""
        u = float(MF.sample_uniform((), generator))  # drawn where the generator lives: no sync for a CPU one
        return min(bisect.bisect_right(self._edges, u), len(self.mixers) - 1)

    @property
    def saliency_kinds(self) -> tuple[SaliencyKind, ...]:
        return tuple(dict.fromkeys(kind for mixer in self.mixers for kind in mixer.saliency_kinds))

    @property
    def default_objective(self) -> str:  # type: ignore[override]
        own = {mixer.default_objective for mixer in self.mixers}
        return "clean+mixed" if "clean+mixed" in own else "mixed"

    @property
    def compile_safe(self) -> bool:  # type: ignore[override]
        return all(mixer.compile_safe for mixer in self.mixers)

    def bind_data(self, mean: Tensor, std: Tensor) -> None:
        for mixer in self.mixers:
            mixer.bind_data(mean, std)

    def sample_params(
        self,
        images: Tensor,
        labels: Tensor,
        saliency: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        perm: Tensor | None = None,
    ) -> ChoiceParams:
        """Draw the batch's mixer, then its params (the saliency goes to a mixer that uses one)."""
        C.check_generator(generator, self)
        index = self.select(generator)
        chosen = self.mixers[index]
        given = saliency if chosen.saliency_kinds else None
        drawn = chosen.sample_params(images, labels, given, generator=generator, perm=perm)
        return ChoiceParams(perm=drawn.perm, mask=drawn.mask, lam=drawn.lam, index=index, drawn=drawn)

    def apply(self, images: Tensor, labels: Tensor, params: MixParams) -> tuple[Tensor, Tensor]:
        chosen, drawn = self._chosen(params)
        return chosen.apply(images, labels, drawn)

    def _chosen(self, params: MixParams) -> tuple[Mixer, MixParams]:
        if not isinstance(params, ChoiceParams) or params.drawn is None:
            C.fail(TypeError, self, "params", "ChoiceParams from sample_params", type(params).__name__)
        if not 0 <= params.index < len(self.mixers):
            C.fail(ValueError, self, "params.index", f"an index into {len(self.mixers)} mixers", params.index)
        return self.mixers[params.index], params.drawn

    def _mix_images(self, images: Tensor, params: MixParams) -> Tensor:
        chosen, drawn = self._chosen(params)
        return chosen._mix_images(images, drawn)

    def mix_labels(self, targets: Tensor, params: MixParams) -> Tensor:
        chosen, drawn = self._chosen(params)
        return chosen.mix_labels(targets, drawn)

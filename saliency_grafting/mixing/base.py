"""The mixer API shared by every augmentation: draw the randomness once (``sample_params``), then ``apply`` it."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import Tensor

from saliency_grafting.losses import soft_target_cross_entropy
from saliency_grafting.mixing import _checks as C
from saliency_grafting.mixing import functional as MF

if TYPE_CHECKING:
    from torch import nn

    from saliency_grafting.saliency.sources import SaliencySource

__all__ = ["BetaMixer", "Masking", "MixParams", "Mixer", "NoMix", "SaliencyKind", "StepView"]


class SaliencyKind(str, enum.Enum):
    """Which saliency a mixer needs, so a training loop can provide it without knowing the method."""

    NONE = "none"  # no saliency
    FORWARD = "forward"  # sum_c |A_c| of the training network's last conv stage, from the clean forward pass
    INPUT_GRADIENT = "input_gradient"  # sqrt(mean_c grad^2) of the loss w.r.t. the input: one extra backward
    IMAGE = "image"  # computed by the mixer itself from the pixels (static saliency); the loop passes nothing


@dataclass(frozen=True)
class MixParams:
    """The random draws of one batch, shared by every mixer.

    ``mixed[i] = mask[i] * images[i] + (1 - mask[i]) * images[perm[i]]`` (``mask is None``: ``lam[i]`` is the
    mask) and ``soft_labels[i] = lam[i] * onehot(labels[i]) + (1 - lam[i]) * onehot(labels[perm[i]])``.
    """

    perm: Tensor  # long [B]: the partner j of each sample i
    mask: Tensor | None  # [B, 1, H, W] in [0, 1], images' dtype; None means lam is a scalar mask per sample
    lam: Tensor  # float32 [B]: the label weight of images[i]


class StepView(Protocol):
    """What a mixer's step hooks (``prepare``, ``draw``, ``mixed_loss``) see of one training step.

    ``saliency_grafting.step.StepInputs`` is the training step's; a mixer needs nothing else from the loop. ``net``
    scores mixed batches (DDP- or compile-wrapped), ``model`` is the bare network for extra saliency passes.
    """

    net: nn.Module
    model: nn.Module
    images: Tensor
    labels: Tensor
    generator: torch.Generator | None
    clean_logits: Tensor | None
    source: SaliencySource | None

    def saliency(self, images: Tensor | None = None, *, return_gradient: bool = False) -> Any:
        """The step's saliency of ``images`` (default: the batch); None without a source."""
        ...

    def observe(self, params: MixParams) -> None:
        """Accumulate the mixing diagnostics of drawn ``params``."""
        ...

    def with_batch(self, images: Tensor, labels: Tensor, *, observe: bool = True) -> StepView:
        """The same step on another batch (a chain's later stages); ``observe=False``: without diagnostics."""
        ...


def _name(mixer: object) -> str:
    return type(mixer).__name__


class Mixer(metaclass=C.KeywordOnly):
    """Base class: validates input, draws ``MixParams`` and applies them to images and labels.

    Subclasses implement ``_sample`` (and, when the second image is not ``images[perm]``, ``_mix_images``).
    Constructors take keyword arguments only. Bad arguments raise a ``TypeError`` (wrong type) or ``ValueError``
    (wrong value) naming the argument, the mixer and the expected form. Checks that need a host sync (label range,
    finite saliency) run only with ``validate=True``; the training loop passes ``validate=False``.
    """

    saliency_kind: SaliencyKind = SaliencyKind.NONE
    binary_mask: bool = False  # its masks are 0/1: pixels are selected (torch.where), never interpolated
    finite_images: bool = False  # its mask is computed from the pixels: validate=True rejects NaN/inf images
    last_stage_only: str | None = None  # why it can only be the last stage of a Chain (None: any position)
    params_type: type[MixParams] = MixParams  # what ``apply`` takes

    def __init__(self, *, num_classes: int, label_smoothing: float = 0.0, validate: bool = True) -> None:
        self.num_classes = C.check_int(num_classes, "num_classes", self, low=1)
        self.label_smoothing = C.check_number(label_smoothing, "label_smoothing", self, low=0, high=1, high_open=True)
        self.validate = C.check_flag(validate, "validate", self)

    def __call__(
        self,
        images: Tensor,
        labels: Tensor,
        saliency: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Mix a batch: ``(images [B, C, H, W], labels [B] or [B, K]) -> (mixed images, soft labels [B, K])``."""
        params = self.sample_params(images, labels, saliency, generator=generator)
        return self._mix_images(images, params), self.soft_labels(labels, params)  # params checked by drawing them

    def sample_params(
        self,
        images: Tensor,
        labels: Tensor,
        saliency: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        perm: Tensor | None = None,
    ) -> MixParams:
        """Draw the batch's randomness (permutation, mask, label weights) without touching the pixels.

        ``perm`` fixes the partners instead of drawing them (e.g. to show several mixers on the same pairs).
        """
        perm, saliency = self._check_sample(images, labels, saliency, generator, perm)
        return self._draw(images, saliency, perm, generator)

    def apply(self, images: Tensor, labels: Tensor, params: MixParams) -> tuple[Tensor, Tensor]:
        """Apply drawn ``params`` to a batch: returns ``(mixed_images, soft_labels)``."""
        self._check_batch(images, labels)
        C.check_params(params, images, self, self.params_type, binary=self.binary_mask, validate=self.validate)
        return self._mix_images(images, params), self.soft_labels(labels, params)

    def preview(
        self, images: Tensor, labels: Tensor, params: MixParams, *, mean: Tensor, std: Tensor, seed: int = 0
    ) -> tuple[Tensor, Tensor]:
        """What a picture of the mixer shows for drawn ``params``: the mixed batch and its soft labels (a mixer whose
        work is not the mixed batch shows that work instead). ``mean``/``std``: the images' normalisation."""
        return self.apply(images, labels, params)

    def forward(
        self, model: Callable[[Tensor], Tensor], images: Tensor, labels: Tensor, params: MixParams
    ) -> tuple[Tensor, Tensor]:
        """``model``'s logits of the batch mixed by ``params``, and the soft labels (Manifold Mixup mixes inside)."""
        mixed, soft = self.apply(images, labels, params)
        return model(mixed), soft

    def soft_labels(self, labels: Tensor, params: MixParams) -> Tensor:
        """``lam[i] * onehot(labels[i]) + (1 - lam[i]) * onehot(labels[perm[i]])``, then label smoothing."""
        return MF.smooth_targets(self.mix_labels(MF.to_targets(labels, self.num_classes), params), self.label_smoothing)

    def mix_labels(self, targets: Tensor, params: MixParams) -> Tensor:
        """``lam[i] * targets[i] + (1 - lam[i]) * targets[perm[i]]`` for label rows ``[B, K]``, without smoothing."""
        return MF.mix_targets(targets, params.perm, params.lam.to(targets.device))

    # -- the training step (saliency_grafting.step.MixStep calls these; methods override what they change) -----

    default_objective: str = "mixed"  # the objective of the method's paper: "mixed" only or "clean+mixed"
    mixes: bool = True  # False for NoMix: its steps are plain clean steps
    compile_safe: bool = True  # False when it mixes through hooks inside the network (torch.compile traces them)
    uses_clean_logits: bool = False  # its mixed loss reads the clean pass's logits (AugMix's JSD)
    mix_passes: int = 1  # forward/backward sample passes of one mixed batch (AugMix: its two augmented views)

    @property
    def choices(self) -> tuple[Mixer, ...]:
        """The mixers a training step may act as, one per batch (``RandomChoice``'s); a plain mixer is its own."""
        return (self,)

    @property
    def choice_weights(self) -> tuple[float, ...]:
        """The probability of each of ``choices`` acting for a batch (a plain mixer: always itself)."""
        return (1.0,)

    def select(self, generator: torch.Generator | None) -> int:
        """The index into ``choices`` of the mixer of the next batch (a plain mixer: 0, drawing nothing)."""
        return 0

    @property
    def saliency_kinds(self) -> tuple[SaliencyKind, ...]:
        """Every kind of saliency the mixer can use (a chain's: its stages'); empty when it uses none."""
        return () if self.saliency_kind is SaliencyKind.NONE else (self.saliency_kind,)

    def bind_data(self, mean: Tensor, std: Tensor) -> None:
        """Learn the dataset's normalisation (for mixers that work on pixel values); a no-op by default."""

    def check_source(self, source: SaliencySource | None) -> None:
        """Raise ``ValueError`` if this mixer cannot use the saliency ``source`` (checked once, building a step)."""

    def prepare(self, step: StepView) -> Any:
        """What every mixed batch of one step shares, computed once per step: the step's saliency by default."""
        return step.saliency()

    def draw(self, step: StepView, prepared: Any) -> MixParams:
        """One mixed batch's params for ``step.images``, from what ``prepare`` returned (the saliency by default)."""
        return self.sample_params(step.images, step.labels, prepared, generator=step.generator)

    def mixed_loss(self, step: StepView, prepared: Any) -> tuple[Tensor, int]:
        """One mixed batch scored by ``step.net``: ``(soft-target cross-entropy, samples forwarded)``."""
        params = self.draw(step, prepared)
        step.observe(params)
        mixed, soft = self.apply(step.images, step.labels, params)
        return soft_target_cross_entropy(step.net(mixed), soft), mixed.shape[0]

    # -- for subclasses -------------------------------------------------------------------------------------

    def _sample(
        self, images: Tensor, saliency: Tensor | None, perm: Tensor, generator: torch.Generator | None
    ) -> MixParams:
        """Draw the method's mask and label weights for partners ``perm``."""
        raise NotImplementedError

    def _draw(
        self, images: Tensor, saliency: Tensor | None, perm: Tensor | None, generator: torch.Generator | None
    ) -> MixParams:
        """Draw the partners (unless given), then the method's params, for checked arguments."""
        if perm is None:
            perm = MF.random_permutation(images.shape[0], generator, images.device)
        return self._sample(images, saliency, perm.to(images.device), generator)

    def _mix_images(self, images: Tensor, params: MixParams) -> Tensor:
        if params.mask is None:
            return MF.mix_images(images, params.perm, params.lam.view(-1, 1, 1, 1))
        if self.binary_mask:  # each pixel from exactly one image, bit for bit, whatever the other holds
            return MF.select_images(images, params.perm, params.mask)
        return MF.mix_images(images, params.perm, params.mask)

    # -- validation -----------------------------------------------------------------------------------------

    def _check_batch(self, images: Tensor, labels: Tensor) -> None:
        C.check_images(images, self, finite=self.finite_images and self.validate)
        C.check_labels(labels, images.shape[0], self.num_classes, self, validate=self.validate)

    def _check_sample(
        self,
        images: Tensor,
        labels: Tensor,
        saliency: Tensor | None,
        generator: torch.Generator | None,
        perm: Tensor | None,
    ) -> tuple[Tensor | None, Tensor | None]:
        """Check ``sample_params``' arguments; returns ``(perm, saliency)`` ready to draw with."""
        self._check_batch(images, labels)
        C.check_generator(generator, self)
        perm = C.check_perm(perm, images.shape[0], self, validate=self.validate)
        if saliency is not None:
            saliency = self._check_saliency(saliency, images)
        elif self.saliency_kind in (SaliencyKind.FORWARD, SaliencyKind.INPUT_GRADIENT):
            raise ValueError(
                f"{_name(self)}: saliency must be given: it needs saliency of kind '{self.saliency_kind.value}', "
                "a tensor [B, h, w] (e.g. from saliency_grafting.ForwardSaliency)"
            )
        return perm, saliency

    def _check_saliency(self, saliency: Tensor, images: Tensor) -> Tensor:
        return C.check_saliency(saliency, images.shape[0], self, validate=self.validate)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{_name(self)}({fields})"


class NoMix(Mixer):
    """No mixing: the images as they are and their (one-hot, optionally smoothed) labels."""

    mixes = False

    def _sample(
        self, images: Tensor, saliency: Tensor | None, perm: Tensor, generator: torch.Generator | None
    ) -> MixParams:
        batch = images.shape[0]
        return MixParams(
            perm=torch.arange(batch, device=images.device),
            mask=None,
            lam=torch.ones(batch, device=images.device),
        )

    def _mix_images(self, images: Tensor, params: MixParams) -> Tensor:
        return images


class Masking(Mixer):
    """A mixer that erases parts of each image and keeps its label (Cutout, SpecAugment).

    In the shared convention the second image is zeros (the dataset mean after normalisation): ``mixed = mask *
    images`` by selection, so a NaN or inf in a hole becomes a zero too; ``lam = 1`` and ``perm = i``. Subclasses
    draw the kept ``mask`` in ``_sample``.
    """

    binary_mask = True

    def _mix_images(self, images: Tensor, params: MixParams) -> Tensor:
        assert params.mask is not None
        return MF.keep_or_zero(images, params.mask)


class BetaMixer(Mixer):
    """A mixer whose mixing ratio is ``lambda ~ Beta(alpha, alpha)``, one per sample or one per batch."""

    def __init__(
        self,
        *,
        num_classes: int,
        alpha: float = 1.0,
        per_sample: bool = True,
        label_smoothing: float = 0.0,
        validate: bool = True,
    ) -> None:
        super().__init__(num_classes=num_classes, label_smoothing=label_smoothing, validate=validate)
        self.alpha = C.check_number(alpha, "alpha", self, low=0, low_open=True)  # lambda ~ Beta(alpha, alpha)
        self.per_sample = C.check_flag(per_sample, "per_sample", self)

    def _draw_lambda(self, batch: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
        """``[batch]`` draws of Beta(alpha, alpha) on ``device`` when ``per_sample``, else ``[1]``."""
        return MF.sample_beta(self.alpha, (batch if self.per_sample else 1,), generator, device)

"""The mixer API shared by every augmentation: draw the randomness once (``sample_params``), then ``apply`` it."""

from __future__ import annotations

import enum
from dataclasses import dataclass

import torch
from torch import Tensor

from saliency_grafting.mixing import functional as MF

__all__ = ["BetaMixer", "MixParams", "Mixer", "NoMix", "SaliencyKind"]


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


def _name(mixer: object) -> str:
    return type(mixer).__name__


class Mixer:
    """Base class: validates input, draws ``MixParams`` and applies them to images and labels.

    Subclasses implement ``_sample`` (and, when the second image is not ``images[perm]``, ``_mix_images``).
    """

    saliency_kind: SaliencyKind = SaliencyKind.NONE

    def __init__(self, *, num_classes: int, label_smoothing: float = 0.0, validate: bool = True) -> None:
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
        self.num_classes = num_classes
        self.label_smoothing = float(label_smoothing)
        self.validate = bool(validate)

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
        return self.apply(images, labels, params)

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
        self._check_batch(images, labels)
        batch = images.shape[0]
        if perm is None:
            perm = MF.random_permutation(batch, generator, images.device)
        elif perm.shape != (batch,) or perm.dtype != torch.long:
            raise ValueError(f"perm must be a LongTensor [{batch}] permutation, got {tuple(perm.shape)} {perm.dtype}")
        if saliency is not None:
            saliency = self._check_saliency(saliency, images)
        elif self.saliency_kind in (SaliencyKind.FORWARD, SaliencyKind.INPUT_GRADIENT):
            raise ValueError(
                f"{_name(self)} needs saliency of kind '{self.saliency_kind.value}': pass saliency=[B, h, w] "
                "(e.g. from saliency_grafting.ForwardSaliency)"
            )
        return self._sample(images, saliency, perm.to(images.device), generator)

    def apply(self, images: Tensor, labels: Tensor, params: MixParams) -> tuple[Tensor, Tensor]:
        """Apply drawn ``params`` to a batch: returns ``(mixed_images, soft_labels)``."""
        self._check_batch(images, labels)
        batch = images.shape[0]
        if params.perm.shape != (batch,) or params.lam.shape != (batch,):
            raise ValueError(f"params: perm and lam must have shape [{batch}], got {tuple(params.perm.shape)}")
        if params.mask is not None and params.mask.shape != (batch, 1, *images.shape[-2:]):
            raise ValueError(
                f"params.mask must have shape [{batch}, 1, {images.shape[-2]}, {images.shape[-1]}], "
                f"got {tuple(params.mask.shape)}"
            )
        return self._mix_images(images, params), self.soft_labels(labels, params)

    def soft_labels(self, labels: Tensor, params: MixParams) -> Tensor:
        """``lam[i] * onehot(labels[i]) + (1 - lam[i]) * onehot(labels[perm[i]])``, then label smoothing."""
        targets = MF.to_targets(labels, self.num_classes)
        soft = MF.mix_targets(targets, params.perm, params.lam.to(targets.device))
        return MF.smooth_targets(soft, self.label_smoothing)

    # -- for subclasses -------------------------------------------------------------------------------------

    def _sample(
        self, images: Tensor, saliency: Tensor | None, perm: Tensor, generator: torch.Generator | None
    ) -> MixParams:
        """Draw the method's mask and label weights for partners ``perm``."""
        raise NotImplementedError

    def _mix_images(self, images: Tensor, params: MixParams) -> Tensor:
        weight = params.mask if params.mask is not None else params.lam.view(-1, 1, 1, 1)
        return MF.mix_images(images, params.perm, weight)

    # -- validation -----------------------------------------------------------------------------------------

    def _check_batch(self, images: Tensor, labels: Tensor) -> None:
        if not isinstance(images, Tensor) or images.ndim != 4 or not images.is_floating_point():
            shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
            raise ValueError(f"images must be a float tensor [B, C, H, W], got {shape}")
        if images.shape[0] == 0:
            raise ValueError("images must hold at least one sample, got an empty batch")
        if not isinstance(labels, Tensor):
            raise ValueError(f"labels must be a tensor [B] of class indices or [B, K] soft labels, got {labels!r}")
        batch = images.shape[0]
        if labels.ndim == 1:
            if labels.is_floating_point() or labels.dtype == torch.bool:
                raise ValueError(f"labels [B] must be integer class indices, got dtype {labels.dtype}")
            if labels.shape[0] != batch:
                raise ValueError(f"labels must have {batch} entries like images, got {labels.shape[0]}")
            if self.validate and ((labels < 0) | (labels >= self.num_classes)).any():  # host sync; validate=False
                raise ValueError(f"labels must lie in [0, {self.num_classes}), got values outside")
        elif labels.ndim == 2:
            if labels.shape != (batch, self.num_classes) or not labels.is_floating_point():
                raise ValueError(
                    f"soft labels must be a float tensor [{batch}, {self.num_classes}], got "
                    f"{tuple(labels.shape)} {labels.dtype}"
                )
        else:
            raise ValueError(f"labels must be [B] class indices or [B, K] soft labels, got {tuple(labels.shape)}")

    def _check_saliency(self, saliency: Tensor, images: Tensor) -> Tensor:
        if saliency.ndim == 4 and saliency.shape[1] == 1:
            saliency = saliency[:, 0]
        if saliency.ndim != 3 or saliency.shape[0] != images.shape[0] or not saliency.is_floating_point():
            raise ValueError(
                f"saliency must be a float tensor [B, h, w] or [B, 1, h, w] with B = {images.shape[0]}, "
                f"got {tuple(saliency.shape)} {saliency.dtype}"
            )
        if self.validate and not torch.isfinite(saliency).all():  # host sync; validate=False skips it
            raise ValueError("saliency must be finite, got NaN or inf values")
        return saliency

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{_name(self)}({fields})"


class NoMix(Mixer):
    """No mixing: the images as they are and their (one-hot, optionally smoothed) labels."""

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
        if not alpha > 0:
            raise ValueError(f"alpha must be > 0 (lambda ~ Beta(alpha, alpha)), got {alpha!r}")
        self.alpha = float(alpha)
        self.per_sample = bool(per_sample)

    def _draw_lambda(self, batch: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
        """``[batch]`` draws of Beta(alpha, alpha) on ``device`` when ``per_sample``, else ``[1]``."""
        return MF.sample_beta(self.alpha, (batch if self.per_sample else 1,), generator, device)

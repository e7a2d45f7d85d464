"""AugMix (Hendrycks et al., ICLR 2020) with the Jensen-Shannon consistency loss; torchvision's chains."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.transforms import v2

from saliency_grafting.mixing import _checks as C
from saliency_grafting.mixing import functional as MF
from saliency_grafting.mixing.base import Mixer, MixParams, StepView

__all__ = ["AugMix", "jensen_shannon"]


def jensen_shannon(*logits: Tensor) -> Tensor:
    """Mean over samples of the Jensen-Shannon divergence between the softmaxes of several logits."""
    probs = [F.softmax(z.float(), dim=1) for z in logits]
    mixture = torch.stack(probs).mean(0).clamp(1e-7, 1).log()
    return torch.stack([F.kl_div(mixture, p, reduction="batchmean") for p in probs]).mean()


class AugMix(Mixer):
    """AugMix views of every image (torchvision's ``AugMix``: ``width`` chains of depth up to ``depth``).

    The image is kept with its own label (``lam = 1``); ``views(images, mean, std, generator)`` makes the two
    augmented views the JSD loss needs, ``loss = CE(clean) + jsd_weight * JS(clean, view 1, view 2)``. The chains run
    per image on the CPU with the global RNG forked and seeded from ``generator``, so runs repeat exactly.
    """

    last_stage_only = "its loss compares views of the images it receives with the clean logits"

    def __init__(
        self,
        *,
        num_classes: int,
        severity: int = 3,
        width: int = 3,
        depth: int = -1,
        alpha: float = 1.0,
        jsd_weight: float = 12.0,
        label_smoothing: float = 0.0,
        validate: bool = True,
    ) -> None:
        super().__init__(num_classes=num_classes, label_smoothing=label_smoothing, validate=validate)
        severity = C.check_int(severity, "severity", self, low=1, high=10)
        width = C.check_int(width, "width", self, low=1)
        depth = C.check_int(depth, "depth", self, low=-1)  # -1: a random depth in [1, 3] per chain
        if depth == 0:
            C.fail(ValueError, self, "depth", "-1 (random in [1, 3]) or an int >= 1", repr(depth))
        alpha = C.check_number(alpha, "alpha", self, low=0, low_open=True)
        self.augment = v2.AugMix(severity=severity, mixture_width=width, chain_depth=depth, alpha=alpha)
        self.severity, self.width, self.depth, self.alpha = severity, width, depth, alpha
        self.jsd_weight = C.check_number(jsd_weight, "jsd_weight", self, low=0)

    def _sample(
        self, images: Tensor, saliency: Tensor | None, perm: Tensor, generator: torch.Generator | None
    ) -> MixParams:
        batch = images.shape[0]
        return MixParams(
            perm=torch.arange(batch, device=images.device), mask=None, lam=torch.ones(batch, device=images.device)
        )

    default_objective = "clean+mixed"  # CE(clean) + jsd_weight * JS(clean, view 1, view 2)
    uses_clean_logits = True
    mix_passes = 2  # the two augmented views

    def bind_data(self, mean: Tensor, std: Tensor) -> None:
        self.mean, self.std = mean, std  # the views are made on pixels: denormalise, augment, renormalise

    def preview(
        self, images: Tensor, labels: Tensor, params: MixParams, *, mean: Tensor, std: Tensor, seed: int = 0
    ) -> tuple[Tensor, Tensor]:
        """The first AugMix view of each image, with its own label: what the JSD loss compares."""
        view = self.views(images, mean, std, torch.Generator().manual_seed(seed), count=1)[0]
        return view, self.soft_labels(labels, params)

    def mixed_loss(self, step: StepView, prepared: Any) -> tuple[Tensor, int]:
        """``jsd_weight * JS(clean, view 1, view 2)``; the step adds the clean cross-entropy."""
        if step.clean_logits is None:
            raise ValueError("AugMix's loss needs the clean logits: train with objective 'clean+mixed'")
        mean = getattr(self, "mean", None)
        if mean is None:
            raise ValueError("AugMix needs the data's normalisation: call bind_data(mean, std) first")
        with torch.autocast(step.images.device.type, enabled=False):  # the image ops run at full precision
            views = self.views(step.images, mean, self.std, step.generator)
        loss = self.jsd_weight * jensen_shannon(step.clean_logits, *(step.net(v) for v in views))
        return loss, step.images.shape[0] * len(views)

    def views(
        self, images: Tensor, mean: Tensor, std: Tensor, generator: torch.Generator | None, count: int = 2
    ) -> list[Tensor]:
        """``count`` AugMix views of normalised ``images`` (denormalised to uint8, augmented, renormalised)."""
        mean, std = mean.to(images.device).view(1, -1, 1, 1), std.to(images.device).view(1, -1, 1, 1)
        pixels = ((images.float() * std + mean).clamp(0, 1) * 255).round().to(torch.uint8).cpu()
        seed = int(torch.randint(2**62, (), generator=generator, device=MF.draw_device(generator)))
        out = []
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for _ in range(count):
                augmented = torch.stack([self.augment(image) for image in pixels])
                out.append(((augmented.to(images.device).float() / 255 - mean) / std).to(images.dtype))
        return out

"""AugMix (Hendrycks et al., ICLR 2020) with the Jensen-Shannon consistency loss; torchvision's chains."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.transforms import v2

from saliency_grafting.mixing import functional as MF
from saliency_grafting.mixing.base import Mixer, MixParams

__all__ = ["AugMix", "jensen_shannon"]


def jensen_shannon(*logits: Tensor) -> Tensor:
    """Mean over samples of the Jensen-Shannon divergence between the softmaxes of several logits."""
    probs = [F.softmax(z.float(), dim=1) for z in logits]
    mixture = torch.stack(probs).mean(0).clamp(1e-7, 1).log()
    return sum(F.kl_div(mixture, p, reduction="batchmean") for p in probs) / len(probs)


class AugMix(Mixer):
    """AugMix views of every image (torchvision's ``AugMix``: ``width`` chains of depth up to ``depth``).

    The image is kept with its own label (``lam = 1``); ``views(images, mean, std, generator)`` makes the two
    augmented views the JSD loss needs, ``loss = CE(clean) + jsd_weight * JS(clean, view 1, view 2)``. The chains run
    per image on the CPU with the global RNG forked and seeded from ``generator``, so runs repeat exactly.
    """

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
        self.augment = v2.AugMix(severity=severity, mixture_width=width, chain_depth=depth, alpha=alpha)
        self.severity, self.width, self.depth, self.alpha = severity, width, depth, float(alpha)
        self.jsd_weight = float(jsd_weight)

    def _sample(
        self, images: Tensor, saliency: Tensor | None, perm: Tensor, generator: torch.Generator | None
    ) -> MixParams:
        batch = images.shape[0]
        return MixParams(perm=torch.arange(batch, device=images.device), mask=None,
                         lam=torch.ones(batch, device=images.device))  # fmt: skip

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

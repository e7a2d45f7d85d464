"""Manifold Mixup (Verma et al., ICML 2019): mix hidden states at a random block boundary, via a forward hook."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from saliency_grafting.losses import soft_target_cross_entropy
from saliency_grafting.mixing import _checks as C
from saliency_grafting.mixing import functional as MF
from saliency_grafting.mixing.base import BetaMixer, MixParams, StepView

__all__ = ["ManifoldMixup", "ManifoldParams", "find_stages"]

# The first two stages of the library's, torchvision's and timm's ResNet-style networks, by module name.
_STAGE_NAMES = (("layer1", "layer2"), ("block1", "block2"), ("stage1", "stage2"), ("stages.0", "stages.1"))


def find_stages(model: nn.Module) -> tuple[str, str]:
    """Names of the modules after which Manifold Mixup may mix (stage 1 and stage 2)."""
    names = {name.removeprefix("module.") for name, _ in model.named_modules()}
    prefix = "module." if any(name.startswith("module.") for name, _ in model.named_modules()) else ""
    for first, second in _STAGE_NAMES:
        if first in names and second in names:
            return prefix + first, prefix + second
    raise ValueError(
        f"Manifold Mixup cannot split {type(model).__name__}: it needs stages named "
        f"{' / '.join(a + ', ' + b for a, b in _STAGE_NAMES)}; pass layers=[...] with module names"
    )


@dataclass(frozen=True)
class ManifoldParams(MixParams):
    """``MixParams`` plus where to mix: ``layer`` 0 is the input, k the output of the k-th stage."""

    layer: int


class ManifoldMixup(BetaMixer):
    """Mixup of hidden states: ``h_i = lam * h_i + (1 - lam) * h_perm[i]`` after a random stage (or of the input).

    ``lam ~ Beta(alpha, alpha)`` (one per batch, as the paper; ``per_sample=True`` for one per sample) and the
    layer is drawn per batch from ``{0, stage 1, stage 2}``. It needs the model: call ``forward(model, images,
    labels, params)`` to get the logits of the mixed pass; calling the mixer on images alone mixes the input.
    """

    last_stage_only = "it mixes hidden states inside the network, so nothing can follow it"

    def __init__(
        self,
        *,
        num_classes: int,
        alpha: float = 2.0,
        per_sample: bool = False,
        layers: Sequence[str] | None = None,
        label_smoothing: float = 0.0,
        validate: bool = True,
    ) -> None:
        super().__init__(
            num_classes=num_classes,
            alpha=alpha,
            per_sample=per_sample,
            label_smoothing=label_smoothing,
            validate=validate,
        )
        if layers is not None:
            form = "None or a non-empty sequence of module names (str)"
            if (
                isinstance(layers, str)
                or not isinstance(layers, Sequence)
                or not all(isinstance(n, str) for n in layers)
            ):
                C.fail(TypeError, self, "layers", form, repr(layers))
            if not layers or not all(layers):
                C.fail(ValueError, self, "layers", form, repr(layers))
        self.layers = tuple(layers) if layers is not None else None

    def _sample(
        self, images: Tensor, saliency: Tensor | None, perm: Tensor, generator: torch.Generator | None
    ) -> ManifoldParams:
        batch = images.shape[0]
        count = 1 + (len(self.layers) if self.layers is not None else 2)
        layer = int(torch.randint(count, (), generator=generator, device=MF.draw_device(generator)))
        lam = self._draw_lambda(batch, generator, images.device).expand(batch)
        return ManifoldParams(perm=perm, mask=None, lam=lam, layer=layer)

    compile_safe = False

    def mixed_loss(self, step: StepView, prepared: Any) -> tuple[Tensor, int]:
        """The mix happens inside ``step.net``: a hook mixes the hidden state at the drawn stage."""
        params: Any = self.sample_params(step.images, step.labels, generator=step.generator)
        step.observe(params)
        logits, soft = self.forward(step.net, step.images, step.labels, params)
        return soft_target_cross_entropy(logits, soft), step.images.shape[0]

    def forward(  # type: ignore[override]
        self, model: nn.Module, images: Tensor, labels: Tensor, params: ManifoldParams
    ) -> tuple[Tensor, Tensor]:
        """The logits of ``model`` with its hidden state mixed at ``params.layer``, and the soft labels."""
        self._check_batch(images, labels)
        if not isinstance(model, nn.Module):
            C.fail(TypeError, self, "model", "an nn.Module (the hidden state is mixed by a hook)", type(model).__name__)
        C.check_params(params, images, self, ManifoldParams, binary=False, validate=self.validate)
        soft = self.soft_labels(labels, params)
        if params.layer == 0:
            return model(self._mix_images(images, params)), soft
        inner: Any = model  # DDP's and torch.compile's wrappers run the inner module, hooks included
        while isinstance(getattr(inner, "module", None), nn.Module) or isinstance(
            getattr(inner, "_orig_mod", None), nn.Module
        ):
            inner = getattr(inner, "module", None) or inner._orig_mod
        name = (self.layers or find_stages(inner))[params.layer - 1]

        def mix(module: nn.Module, inputs: object, output: Tensor) -> Tensor:
            return MF.mix_images(output, params.perm, params.lam.view(-1, 1, 1, 1))

        handle = inner.get_submodule(name).register_forward_hook(mix)
        try:
            return model(images), soft
        finally:
            handle.remove()

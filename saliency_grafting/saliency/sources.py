"""Saliency sources by name for any saliency-guided mixer: ``forward``, ``input_gradient``, ``grad_cam``, ``static``."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn

from saliency_grafting.saliency.forward import ForwardSaliency, resolve_feature_layer
from saliency_grafting.saliency.gradient import grad_cam, input_gradient_saliency
from saliency_grafting.saliency.static import static_saliency

__all__ = [
    "SOURCES",
    "ForwardSource",
    "GradCamSource",
    "InputGradientSource",
    "SaliencySource",
    "StaticSource",
    "create_source",
]


class SaliencySource:
    """Where a mixer's saliency map ``[B, h, w]`` comes from in a training step.

    ``from_clean_pass`` sources read the step's clean forward pass (no extra pass); ``backward`` sources run their
    own forward and backward pass (the step sets the model's mode and autocast around them). ``attach`` is called
    once with the training model, ``detach`` when training ends.
    """

    name: ClassVar[str] = ""
    from_clean_pass: ClassVar[bool] = False
    backward: ClassVar[bool] = False

    def __init__(self, *, layer: str | None = None) -> None:
        self.layer = layer

    def attach(self, model: nn.Module) -> None:
        """Prepare to read ``model`` (a hook, for the forward source)."""

    def detach(self) -> None:
        """Undo ``attach``."""

    def __call__(self, model: nn.Module, images: Tensor, labels: Tensor) -> Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(layer={self.layer!r})"


class ForwardSource(SaliencySource):
    """``sum_c |A_c|`` of the training network's features, kept by a hook from the clean pass (SG's saliency)."""

    name = "forward"
    from_clean_pass = True

    def __init__(self, *, layer: str | None = None) -> None:
        super().__init__(layer=layer)
        self.hook: ForwardSaliency | None = None

    def attach(self, model: nn.Module) -> None:
        self.detach()
        self.hook = ForwardSaliency(model, self.layer)

    def detach(self) -> None:
        if self.hook is not None:
            self.hook.remove()
            self.hook = None

    def __call__(self, model: nn.Module, images: Tensor, labels: Tensor) -> Tensor:
        if self.hook is None:
            raise RuntimeError("the forward saliency source is not attached to a model: call attach(model) first")
        return self.hook.saliency


class InputGradientSource(SaliencySource):
    """``sqrt(mean_c (dL/dx)^2)`` per pixel from one extra forward and backward pass (PuzzleMix's saliency)."""

    name = "input_gradient"
    backward = True

    def __call__(self, model: nn.Module, images: Tensor, labels: Tensor) -> Tensor:
        return input_gradient_saliency(model, images, labels)  # type: ignore[return-value]

    def with_gradient(self, model: nn.Module, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """The saliency and the raw input gradient ``[B, C, H, W]`` (PuzzleMix's adversarial step uses its sign)."""
        return input_gradient_saliency(model, images, labels, return_gradient=True)  # type: ignore[return-value]


class GradCamSource(SaliencySource):
    """Grad-CAM of the true class at ``layer`` (default: the last conv stage), one extra forward and backward."""

    name = "grad_cam"
    backward = True

    def __call__(self, model: nn.Module, images: Tensor, labels: Tensor) -> Tensor:
        if self.layer is None:  # the layer forward saliency would use (deepest map >= 4 x 4), found once
            found = resolve_feature_layer(model, images)
            if found.layout != "nchw":
                raise ValueError(
                    f"grad_cam needs a channels-first feature map; {found.name!r} is {found.layout}: "
                    "pass saliency_layer=<a conv stage>"
                )
            self.layer = found.name
        return grad_cam(model, images, labels, self.layer)


class StaticSource(SaliencySource):
    """Spectral-residual image saliency computed from the pixels (SaliencyMix's), no network pass."""

    name = "static"

    def __call__(self, model: nn.Module, images: Tensor, labels: Tensor) -> Tensor:
        return static_saliency(images, "spectral_residual")


SOURCES: dict[str, type[SaliencySource]] = {
    cls.name: cls for cls in (ForwardSource, InputGradientSource, GradCamSource, StaticSource)
}


def create_source(name: str, *, layer: str | None = None) -> SaliencySource:
    """The saliency source registered as ``name`` (see ``SOURCES``); ``layer`` for the feature-map sources."""
    if name not in SOURCES:
        raise ValueError(f"unknown saliency source {name!r}; valid names: {', '.join(SOURCES)}")
    return SOURCES[name](layer=layer)

"""Forward saliency: ``S = sum_c |A_c|`` of a network's feature map, kept by a hook from the loop's own forward pass."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from saliency_grafting._validation import check_int
from saliency_grafting.saliency.feature_maps import _Probe
from saliency_grafting.saliency.layouts import LAYOUTS, FeatureLayer, reduce_features

__all__ = [
    "FeatureLayer",
    "ForwardSaliency",
    "find_last_conv_stage",
    "mode",
    "reduce_features",
    "resolve_feature_layer",
]


def _last_conv_name(model: nn.Module) -> str | None:
    last = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            last = name
    return last


def find_last_conv_stage(model: nn.Module) -> str:
    """Name of the module holding ``model``'s last ``nn.Conv2d``, guessed without running it (input size unknown).

    That is the top-level child holding the model's last ``nn.Conv2d`` (``layer4`` of a torchvision ResNet,
    ``features`` of a VGG or EfficientNet, ``stages`` of a timm ConvNeXt); single-child wrappers (DDP's
    ``module``, ``nn.Sequential(model)``) are looked through. ``ForwardSaliency`` no longer uses it: that stage
    can be 1x1 at small inputs or sit after global pooling; it chooses from the shapes of a real forward pass.
    """
    last = _last_conv_name(model)
    if last is None:
        raise ValueError(f"model has no nn.Conv2d layer to take forward saliency from: {type(model).__name__}")
    parts = last.split(".")
    depth = 1
    # Look through wrappers that have a single child until a level with several children.
    while depth < len(parts) and len(list(model.get_submodule(".".join(parts[: depth - 1])).children())) == 1:
        depth += 1
    return ".".join(parts[:depth])


class ForwardSaliency:
    """Keeps ``sum_c |A_c|`` (detached, float32, ``[B, h, w]``) of one layer's output on every forward pass.

    ``layer`` is a module name (``"layer2"``, see ``model.named_modules()``) or ``None`` to choose, on the first
    forward pass, the deepest feature map before global pooling whose height and width are both at least
    ``min_size`` (the rule is in ``saliency_grafting.saliency.feature_maps``); ``.layer`` names it from then on
    (``None`` before). Works on CNNs (``[B, C, h, w]``), channels-last stages (``[B, h, w, C]``, Swin) and token
    models (``[B, tokens, C]``, ViT/DeiT: ``sum_c |t_c|`` of the patch tokens, prefix tokens dropped, on the patch
    grid). ``layout`` ("nchw", "nhwc" or "tokens", with a ``layer`` name) overrides the inferred layout. ``layer``
    may also be the ``FeatureLayer`` another hook resolved (its ``.feature_layer``): then no probing pass is made.

    The first forward pass records every module's output through temporary hooks; they are then replaced by one
    hook on the chosen layer, whose cost is ``features.abs().sum(C)`` under ``no_grad``. A map smaller than
    ``min_size``, no map at all, or an explicit ``layer`` that does not fit raises ``ValueError`` on that first
    pass, and so does a later pass (smaller inputs) whose map is smaller than ``min_size``. Use it as a context
    manager or call ``remove()``; ``saliency`` holds the map of the latest forward pass.
    """

    def __init__(
        self, model: nn.Module, layer: str | FeatureLayer | None = None, *, min_size: int = 4, layout: str = "auto"
    ) -> None:
        min_size = check_int(min_size, "min_size", low=2, why="a 1x1 map has no salient region")
        if layout != "auto" and layout not in LAYOUTS:
            raise ValueError(f"layout must be 'auto' or one of {', '.join(LAYOUTS)}, got {layout!r}")
        if layout != "auto" and not isinstance(layer, str):
            raise ValueError(f"layout={layout!r} needs layer= (the name of the module whose output has that layout)")
        if layer is not None and not isinstance(layer, (str, FeatureLayer)):
            raise TypeError(f"layer must be a module name, a FeatureLayer or None, got {type(layer).__name__}")
        if layer is not None:
            name = layer.name if isinstance(layer, FeatureLayer) else layer
            try:
                model.get_submodule(name)
            except AttributeError:
                names = [n for n, m in model.named_modules() if n and isinstance(m, (nn.Sequential, nn.Conv2d))]
                raise ValueError(f"layer {name!r} is not a module of the model; e.g. one of {names[-8:]}") from None
        self.model = model
        self.min_size = min_size
        self.layer: str | None = None
        self.feature_layer: FeatureLayer | None = None
        self._saliency: Tensor | None = None
        self._handle: RemovableHandle | None = None
        self._probe: _Probe | None = None
        if isinstance(layer, FeatureLayer):  # resolved before (``.feature_layer``): no probing pass
            self._resolved(layer, None)
        else:
            self._probe = _Probe(model, min_size=min_size, layer=layer, layout=layout, done=self._resolved)

    def _resolved(self, layer: FeatureLayer, saliency: Tensor | None) -> None:
        """End of the first forward pass: keep its map, drop the probe, hook the chosen layer."""
        if self._probe is not None:
            self._probe.remove()
            self._probe = None
        self.feature_layer, self.layer, self._saliency = layer, layer.name, saliency
        self._handle = self.model.get_submodule(layer.name).register_forward_hook(self._keep)

    def _keep(self, module: nn.Module, inputs: object, output: object) -> None:
        assert self.feature_layer is not None
        features = output[0] if isinstance(output, (tuple, list)) else output
        saliency = reduce_features(features, self.feature_layer)  # type: ignore[arg-type]
        h, w = saliency.shape[-2:]
        if min(h, w) < self.min_size:  # shapes only: no sync
            first = self.feature_layer.size
            raise ValueError(
                f"layer {self.feature_layer.name!r} gives a {h}x{w} map on this pass, smaller than "
                f"min_size={self.min_size} (it was chosen on a pass where it was {first[0]}x{first[1]}): Saliency "
                "Grafting would graft nothing. Attach ForwardSaliency before a pass at the training input size, or "
                "pass layer= (--saliency-layer) naming a layer with a larger map"
            )
        self._saliency = saliency

    @property
    def saliency(self) -> Tensor:
        """The ``[B, h, w]`` map of the latest forward pass."""
        if self._saliency is None:
            where = repr(self.layer) if self.layer is not None else "the model"
            raise RuntimeError(f"no forward pass through {where} has run since the hook was attached")
        return self._saliency

    def remove(self) -> None:
        """Detach the hooks and drop the kept map."""
        if self._probe is not None:
            self._probe.remove()
            self._probe = None
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        self._saliency = None

    def __enter__(self) -> ForwardSaliency:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


@contextlib.contextmanager
def mode(model: nn.Module, training: bool) -> Iterator[nn.Module]:
    """``model`` in train (or eval) mode for the block, then every submodule back in its own mode (a frozen
    BatchNorm of a fine-tuning loop stays frozen)."""
    modes = [(module, module.training) for module in model.modules()]
    model.train(training)
    try:
        yield model
    finally:
        for module, was in modes:
            module.training = was


def resolve_feature_layer(model: nn.Module, images: Tensor, *, min_size: int = 4) -> FeatureLayer:
    """The layer ``ForwardSaliency(model, min_size=min_size)`` chooses for inputs shaped like ``images``.

    Runs one forward pass under ``no_grad`` in eval mode (BN statistics untouched; the mode is restored), e.g. to
    give Grad-CAM the same layer as forward saliency.
    """
    with mode(model, False), ForwardSaliency(model, min_size=min_size) as hook, torch.no_grad():
        model(images)
        assert hook.feature_layer is not None
        return hook.feature_layer

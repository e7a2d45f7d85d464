"""Mixers: one method per module behind one API, and ``create_mixer`` to build one by name."""

from __future__ import annotations

import inspect
from typing import Any

from saliency_grafting.mixing.attentive import AttentiveCutMix
from saliency_grafting.mixing.base import Mixer, MixParams, NoMix, SaliencyKind
from saliency_grafting.mixing.cutmix import CutMix
from saliency_grafting.mixing.cutout import Cutout
from saliency_grafting.mixing.grafting import GraftingParams, SaliencyGrafting, calibrated_lambda, importance
from saliency_grafting.mixing.mixup import Mixup
from saliency_grafting.mixing.saliencymix import SaliencyMix

__all__ = [
    "MIXERS",
    "AttentiveCutMix",
    "CutMix",
    "Cutout",
    "GraftingParams",
    "MixParams",
    "Mixer",
    "Mixup",
    "NoMix",
    "SaliencyGrafting",
    "SaliencyKind",
    "SaliencyMix",
    "calibrated_lambda",
    "create_mixer",
    "importance",
]

MIXERS: dict[str, type[Mixer]] = {
    "none": NoMix,
    "mixup": Mixup,
    "cutmix": CutMix,
    "cutout": Cutout,
    "saliencymix": SaliencyMix,
    "attentive_cutmix": AttentiveCutMix,
    "saliency_grafting": SaliencyGrafting,
}


def create_mixer(name: str, num_classes: int, **kwargs: Any) -> Mixer:
    """Build the mixer registered as ``name`` (see ``MIXERS``) for ``num_classes`` classes."""
    try:
        cls = MIXERS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown mixer {name!r}; valid names: {', '.join(sorted(MIXERS))}") from None
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "num_classes")]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(f"mixer {name!r} got unexpected keyword argument(s) {unknown}; it takes {accepted}")
    return cls(num_classes=num_classes, **kwargs)

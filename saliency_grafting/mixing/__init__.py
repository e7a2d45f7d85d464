"""Mixers: one method per module behind one API, and ``create_mixer`` to build one by name."""

from __future__ import annotations

import inspect
from typing import Any

from saliency_grafting.mixing.attentive import AttentiveCutMix
from saliency_grafting.mixing.augmix import AugMix, jensen_shannon
from saliency_grafting.mixing.base import Masking, Mixer, MixParams, NoMix, SaliencyKind
from saliency_grafting.mixing.chain import Chain, ChainParams
from saliency_grafting.mixing.choice import ChoiceParams, RandomChoice
from saliency_grafting.mixing.cutmix import CutMix
from saliency_grafting.mixing.cutout import Cutout
from saliency_grafting.mixing.grafting import GraftingParams, SaliencyGrafting, calibrated_lambda, importance
from saliency_grafting.mixing.manifold import ManifoldMixup, ManifoldParams, find_stages
from saliency_grafting.mixing.mixup import Mixup
from saliency_grafting.mixing.puzzlemix import PuzzleMix, PuzzleMixParams
from saliency_grafting.mixing.saliencymix import SaliencyMix
from saliency_grafting.mixing.specaugment import SpecAugment

__all__ = [
    "MIXERS",
    "AttentiveCutMix",
    "AugMix",
    "Chain",
    "ChainParams",
    "ChoiceParams",
    "CutMix",
    "Cutout",
    "GraftingParams",
    "ManifoldMixup",
    "ManifoldParams",
    "Masking",
    "MixParams",
    "Mixer",
    "Mixup",
    "NoMix",
    "PuzzleMix",
    "PuzzleMixParams",
    "RandomChoice",
    "SaliencyGrafting",
    "SaliencyKind",
    "SaliencyMix",
    "SpecAugment",
    "calibrated_lambda",
    "create_mixer",
    "find_stages",
    "importance",
    "jensen_shannon",
]

MIXERS: dict[str, type[Mixer]] = {
    "none": NoMix,
    "mixup": Mixup,
    "cutmix": CutMix,
    "cutout": Cutout,
    "saliencymix": SaliencyMix,
    "attentive_cutmix": AttentiveCutMix,
    "saliency_grafting": SaliencyGrafting,
    "puzzlemix": PuzzleMix,
    "manifold_mixup": ManifoldMixup,
    "augmix": AugMix,
    "specaugment": SpecAugment,
}


def create_mixer(name: str, num_classes: int, **kwargs: Any) -> Mixer:
    """Build the mixer registered as ``name`` (see ``MIXERS``) for ``num_classes`` classes.

    ``"a+b"`` chains mixers (``cutout+mixup``); ``kwargs`` then go to every stage that accepts them. ``"a|b"``
    draws one of them per batch (``RandomChoice``), with weights ``"mixup:0.2|cutmix:0.8"`` (default: equal).
    """
    if not isinstance(name, str):
        raise TypeError(
            f"create_mixer: name must be a mixer name (str), one of {', '.join(sorted(MIXERS))}, "
            f"or a chain 'a+b'; got {name!r} ({type(name).__name__})"
        )
    if "|" in name:
        stages, weights = [], []
        for part in name.split("|"):
            stage, _, weight = part.partition(":")
            stages.append(create_mixer(stage, num_classes, **_for(stage, kwargs)))
            try:
                weights.append(float(weight) if weight else 1.0)
            except ValueError:
                raise ValueError(f"mixer {name!r}: the weight of {stage!r} must be a number, got {weight!r}") from None
        _unused(name, kwargs, stages)
        return RandomChoice(stages, weights)
    if "+" in name:
        chained = [create_mixer(part, num_classes, **_for(part, kwargs)) for part in name.split("+")]
        _unused(name, kwargs, chained)
        return Chain(chained)
    try:
        cls = MIXERS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown mixer {name!r}; valid names: {', '.join(sorted(MIXERS))}") from None
    accepted = _accepted(cls)
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(f"mixer {name!r} got unexpected keyword argument(s) {unknown}; it takes {accepted}")
    return cls(num_classes=num_classes, **kwargs)


def _for(name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments that a stage ``name`` (a mixer, or a chain of them) accepts."""
    accepted = set().union(*(_accepted(MIXERS.get(part)) for part in name.split("+")))
    return {k: v for k, v in kwargs.items() if k in accepted}


def _unused(name: str, kwargs: dict[str, Any], stages: list[Mixer]) -> None:
    """A ``ValueError`` for keyword arguments that no stage of ``name`` takes."""
    flat = [inner for stage in stages for inner in (stage.stages if isinstance(stage, Chain) else [stage])]
    unused = sorted(set(kwargs) - set().union(*(_accepted(type(s)) for s in flat)))
    if unused:
        raise ValueError(f"mixer {name!r} got unexpected keyword argument(s) {unused}")


def _accepted(cls: type[Mixer] | None) -> list[str]:
    if cls is None:
        return []
    return [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "num_classes")]

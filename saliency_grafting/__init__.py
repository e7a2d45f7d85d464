"""Saliency Grafting (Park et al., AAAI 2022) and mixup-style augmentations for PyTorch."""

from saliency_grafting.losses import soft_target_cross_entropy
from saliency_grafting.mixing import (
    MIXERS,
    AttentiveCutMix,
    AugMix,
    Chain,
    CutMix,
    Cutout,
    GraftingParams,
    ManifoldMixup,
    Mixer,
    MixParams,
    Mixup,
    NoMix,
    PuzzleMix,
    SaliencyGrafting,
    SaliencyKind,
    SaliencyMix,
    calibrated_lambda,
    create_mixer,
    find_stages,
    importance,
)
from saliency_grafting.saliency import (
    ForwardSaliency,
    find_last_conv_stage,
    grad_cam,
    input_gradient_saliency,
    spectral_residual_saliency,
    static_saliency,
)
from saliency_grafting.saliency.sources import SOURCES, SaliencySource, create_source
from saliency_grafting.step import LossTerm, MixStep, StepInputs

__version__ = "0.2.0"

__all__ = [
    "MIXERS",
    "SOURCES",
    "AttentiveCutMix",
    "AugMix",
    "Chain",
    "CutMix",
    "Cutout",
    "ForwardSaliency",
    "GraftingParams",
    "LossTerm",
    "ManifoldMixup",
    "MixParams",
    "MixStep",
    "Mixer",
    "Mixup",
    "NoMix",
    "PuzzleMix",
    "SaliencyGrafting",
    "SaliencyKind",
    "SaliencyMix",
    "SaliencySource",
    "StepInputs",
    "calibrated_lambda",
    "create_mixer",
    "create_source",
    "find_last_conv_stage",
    "find_stages",
    "grad_cam",
    "importance",
    "input_gradient_saliency",
    "soft_target_cross_entropy",
    "spectral_residual_saliency",
    "static_saliency",
]

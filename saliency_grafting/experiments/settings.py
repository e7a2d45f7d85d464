"""Shared settings of the experiments: the methods by label, each scale's base configs and the tables' method lists."""

from __future__ import annotations

from typing import Any

from saliency_grafting.experiments.core import Cell

__all__ = [
    "CPU_SMALL",
    "IMAGENET",
    "METHODS",
    "OCCLUDED",
    "PYRAMID",
    "SCARCE",
    "TABLE1",
    "TABLE2",
    "TABLE3",
    "TABLE4",
    "TINY",
    "WRN",
    "methods",
]

# Shared settings. "cpu-small" (the first CPU scale, kept so its records stay reproducible): the CIFAR-10 JPEG archive
# (an imagefolder), a 78 k-parameter pre-activation ResNet, 500 images per class, 20 epochs. It never fits its
# training set (vanilla: 30 % training error, 35 % test error), so it tests augmentation where none can help.
CPU_SMALL = {
    "dataset": "imagefolder",
    "model": "resnet_tiny",
    "per_class": 500,
    "epochs": 20,
    "warmup_epochs": 2,
    "batch_size": 128,
    "lr": 0.1,
    "weight_decay": 5e-4,
    "schedule": "cosine",
    "eval_every": 1000,
}
PYRAMID = {
    "dataset": "cifar100",
    "model": "pyramidnet200",
    "epochs": 300,
    "warmup_epochs": 5,
    "batch_size": 64,
    "lr": 0.25,
    "weight_decay": 1e-4,
    "nesterov": False,
    "schedule": "step",
    "eval_every": 10,
}
WRN = {
    "dataset": "cifar100",
    "model": "wrn28_10",
    "epochs": 400,
    "warmup_epochs": 5,
    "batch_size": 100,
    "lr": 0.2,
    "weight_decay": 1e-4,
    "nesterov": False,
    "schedule": "step",
    "eval_every": 10,
}
TINY = {
    "dataset": "tinyimagenet",
    "model": "preactresnet18",
    "epochs": 600,
    "warmup_epochs": 5,
    "batch_size": 100,
    "lr": 0.2,
    "weight_decay": 1e-4,
    "nesterov": False,
    "schedule": "step",
    "eval_every": 10,
}
IMAGENET = {
    "dataset": "imagefolder",
    "model": "resnet50",
    "image_size": 224,
    "epochs": 100,
    "warmup_epochs": 1,
    "batch_size": 256,
    "lr": 0.2,
    "weight_decay": 5e-5,
    "schedule": "onecycle",
    "amp": "bf16",
    "channels_last": True,
    "eval_every": 5,
}

# Methods by label: (mixer, regularizer, extra config).
METHODS: dict[str, dict[str, Any]] = {
    "Vanilla": {"mixer": "none"},
    "Cutout": {"mixer": "cutout"},
    "DropBlock": {"mixer": "none", "regularizer": "dropblock"},
    "Mixup": {"mixer": "mixup"},
    "Manifold Mixup": {"mixer": "manifold_mixup"},
    "ShakeDrop": {"mixer": "none", "regularizer": "shakedrop"},
    "Cutout + Mixup": {"mixer": "cutout+mixup"},
    "Cutout + Manifold Mixup": {"mixer": "cutout+manifold_mixup"},
    "CutMix": {"mixer": "cutmix"},
    "CutMix + ShakeDrop": {"mixer": "cutmix", "regularizer": "shakedrop"},
    "Attentive CutMix (N = 6)": {"mixer": "attentive_cutmix"},
    "SaliencyMix": {"mixer": "saliencymix"},
    "PuzzleMix": {"mixer": "puzzlemix"},
    "AugMix": {"mixer": "augmix"},
    "SpecAugment": {"mixer": "specaugment"},
    "SpecAugment + SG": {"mixer": "saliency_grafting+specaugment"},
    "Saliency Grafting": {"mixer": "saliency_grafting"},
    "Saliency Grafting + ShakeDrop": {"mixer": "saliency_grafting", "regularizer": "shakedrop"},
}
TABLE1 = [
    "Vanilla",
    "Cutout",
    "DropBlock",
    "Mixup",
    "Manifold Mixup",
    "ShakeDrop",
    "Cutout + Mixup",
    "Cutout + Manifold Mixup",
    "CutMix",
    "CutMix + ShakeDrop",
    "Attentive CutMix (N = 6)",
    "SaliencyMix",
    "PuzzleMix",
    "Saliency Grafting",
    "Saliency Grafting + ShakeDrop",
]
TABLE2 = ["Vanilla", "Mixup", "Manifold Mixup", "CutMix", "AugMix", "SaliencyMix", "PuzzleMix", "Saliency Grafting"]
TABLE3 = ["Vanilla", "Mixup", "CutMix", "SaliencyMix", "PuzzleMix", "Saliency Grafting"]
TABLE4 = ["Vanilla", "Mixup", "Manifold Mixup", "CutMix", "AugMix", "PuzzleMix", "Saliency Grafting"]
SCARCE = ["Vanilla", "Mixup", "CutMix", "PuzzleMix", "Saliency Grafting"]
OCCLUDED = ["Vanilla", "CutMix", "SaliencyMix", "PuzzleMix", "Saliency Grafting"]


def methods(names: list[str], base: dict[str, Any], column: str = "") -> list[Cell]:
    """One cell per method label of ``names``: the method's config on top of ``base``."""
    return [Cell(name, column, {**base, **METHODS[name]}) for name in names]

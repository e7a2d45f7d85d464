"""The ``cpu`` scale's base, protocols and pass counts: where augmentation can help (the network memorises its data).

CIFAR-10 JPEGs, a 701 k-parameter PreAct-ResNet-18 (widths 16-128, last stage 4x4), bf16 autocast and channels-last,
50 / 100 / 250 images per class (the analogue of the paper's 10 / 20 / 50 % of CIFAR-100) with about the same number of
optimisation steps at each size (~840 of batch 128; 1.5x that at 250 per class, where ~840 steps leave vanilla at 3 %
training error: the ``network`` experiment). Each comparison is made under three protocols:

- ``paper``: each method with its own paper's objective (SG: clean + grafted; the others: mixed only), equal epochs;
- ``same objective``: every mixer trained on the clean and the mixed batch, equal epochs;
- ``same compute``: every method gets the same number of forward/backward sample passes as the two-pass recipes
  (clean + mixed, or PuzzleMix's input-gradient pass + mixed), so one-pass methods train twice the epochs.

Each experiment builds its cpu cells from these (``grid``, ``protocol_config``, ``sized``) in its own module.
"""

from __future__ import annotations

from typing import Any

from saliency_grafting.experiments.core import Cell
from saliency_grafting.experiments.settings import METHODS

__all__ = [
    "BASE", "EPOCHS", "PROTOCOLS", "SALIENCY_SOURCES", "epoch_passes", "grid", "passes_per_step", "protocol_config",
    "sized",
]  # fmt: skip

# Optimisation steps are held at ~840 per run (7 steps of 128 per epoch at 100 per class, drop-last batches), except
# at 250 per class: 44 epochs (836 steps) left vanilla at 3.0 % training error, 66 epochs (1254 steps) at 0.24 %, and
# the criterion of the scale is at most 2 % (measured by the ``network`` experiment, seed 0).
EPOCHS = {50: 280, 100: 120, 250: 66}
PROTOCOLS = ("paper", "same objective", "same compute")
BASE: dict[str, Any] = {
    "dataset": "imagefolder", "model": "preactresnet18", "model_args": {"widths": [16, 32, 64, 128]},
    "per_class": 100, "epochs": EPOCHS[100], "warmup_epochs": 6, "batch_size": 128, "lr": 0.1, "weight_decay": 5e-4,
    "schedule": "cosine", "amp": "bf16", "channels_last": True, "eval_every": 20,
}  # fmt: skip
# The appendix's saliency comparison: (source name, row label).
SALIENCY_SOURCES = (("forward", "forward saliency"), ("input_gradient", "input gradient"), ("grad_cam", "Grad-CAM"))
_TWO_PASS = 2  # the sample passes per step of the clean + mixed recipe: the budget of "same compute"


def sized(per_class: int, epochs: int | None = None) -> dict[str, Any]:
    """The base at ``per_class`` images per class: warm-up 5 % of the run, about 6 test evaluations per run."""
    epochs = epochs or EPOCHS[per_class]
    return {**BASE, "per_class": per_class, "epochs": epochs, "warmup_epochs": max(1, round(0.05 * epochs)),
            "eval_every": max(1, epochs // 6)}  # fmt: skip


def passes_per_step(config: dict[str, Any]) -> int:
    """Forward/backward sample passes of one mixing step: the clean loss, k mixed batches, a saliency backward."""
    mixer = config.get("mixer", "none")
    if mixer == "none":
        return 1
    objective = config.get("objective", "auto")
    clean = objective == "clean+mixed" or (objective == "auto" and mixer in ("saliency_grafting", "augmix"))
    mixed = 2 if mixer == "augmix" else config.get("mix_times", 1)  # AugMix's two augmented views
    gradient = 1 if "puzzlemix" in mixer else 0  # PuzzleMix's input-gradient forward + backward
    return int(clean) + mixed + gradient


def epoch_passes(config: dict[str, Any]) -> int:
    """Forward/backward passes over the training subset in a run, in epochs: warm-up epochs are clean (one pass)."""
    warmup = min(config.get("warmup_epochs", 0), config["epochs"])
    return warmup + (config["epochs"] - warmup) * passes_per_step(config)


def protocol_config(label: str, protocol: str, per_class: int) -> dict[str, Any]:
    """Method ``label`` at ``per_class`` under ``protocol`` (one of ``PROTOCOLS``)."""
    method = dict(METHODS[label])
    if protocol == "same objective" and method["mixer"] not in ("none", "augmix"):
        method.setdefault("objective", "clean+mixed")
        if method["mixer"] == "saliency_grafting":
            method.pop("objective")  # "auto" is already clean + grafted: the paper cell's run
    config = {**sized(per_class), **method}
    if protocol == "same compute":
        epochs = round(EPOCHS[per_class] * _TWO_PASS / passes_per_step(config))
        config = {**sized(per_class, epochs), **method}
    elif protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    return config


def grid(labels: list[str], sizes: tuple[int, ...], protocols: tuple[str, ...]) -> list[Cell]:
    """Each method of ``labels`` at each size under each protocol, in columns ``"<size> · <protocol>"``."""
    return [Cell(label, f"{size} · {protocol}", protocol_config(label, protocol, size))
            for size in sizes for protocol in protocols for label in labels]  # fmt: skip

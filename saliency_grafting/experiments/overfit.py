"""The ``cpu`` family's cells: where augmentation can help (the network memorises its data).

A ``cpu`` scale (``scales/``) names the dataset, the network and the step budget; these build its cells. Each
comparison is made under three protocols:

- ``paper``: each method with its own paper's objective (SG: clean + grafted; the others: mixed only), equal epochs;
- ``same objective``: every mixer trained on the clean and the mixed batch, equal epochs;
- ``same compute``: every method gets the same number of forward/backward sample passes as the two-pass recipes
  (clean + mixed, or PuzzleMix's input-gradient pass + mixed), so one-pass methods train twice the epochs.

Each experiment builds its cpu cells from these (``grid``, ``protocol_config``, ``sized``) in its own module.
"""

from __future__ import annotations

from typing import Any

from saliency_grafting.experiments.core import Cell
from saliency_grafting.experiments.scales import PROTOCOLS, Scale
from saliency_grafting.experiments.settings import METHODS

__all__ = [
    "PROTOCOLS",
    "SALIENCY_SOURCES",
    "column",
    "epoch_passes",
    "grid",
    "passes_per_step",
    "protocol_config",
    "sized",
]

# The appendix's saliency comparison: (source name, row label).
SALIENCY_SOURCES = (("forward", "forward saliency"), ("input_gradient", "input gradient"), ("grad_cam", "Grad-CAM"))
_TWO_PASS = 2  # the sample passes per step of the clean + mixed recipe: the budget of "same compute"


def sized(scale: Scale, per_class: int, epochs: int | None = None) -> dict[str, Any]:
    """The scale's base at ``per_class`` images per class: its budget's epochs (or ``epochs``), warm-up 5 % of the
    run, about 6 test evaluations per run."""
    epochs = epochs or scale.epochs(per_class)
    return {
        **scale.data(),
        **scale.base,
        "per_class": per_class,
        "epochs": epochs,
        "warmup_epochs": max(1, round(0.05 * epochs)),
        "eval_every": max(1, epochs // 6),
    }


def passes_per_step(config: dict[str, Any]) -> int:
    """Forward/backward sample passes of one mixing step: the clean loss, k mixed batches, a saliency backward."""
    mixer = config.get("mixer", "none")
    if mixer == "none":
        return 1
    objective = config.get("objective", "auto")
    own_clean = {"saliency_grafting", "augmix"} & set(mixer.split("+"))  # their papers learn from the clean batch too
    clean = objective == "clean+mixed" or (objective == "auto" and bool(own_clean))
    mixed = 2 if mixer == "augmix" else config.get("mix_times", 1)  # AugMix's two augmented views
    gradient = 1 if "puzzlemix" in mixer else 0  # PuzzleMix's input-gradient forward + backward
    return int(clean) + mixed + gradient


def epoch_passes(config: dict[str, Any]) -> int:
    """Forward/backward passes over the training subset in a run, in epochs: warm-up epochs are clean (one pass)."""
    warmup = min(config.get("warmup_epochs", 0), config["epochs"])
    return warmup + (config["epochs"] - warmup) * passes_per_step(config)


def protocol_config(scale: Scale, label: str, protocol: str, per_class: int) -> dict[str, Any]:
    """Method ``label`` at ``per_class`` under ``protocol`` (one of ``PROTOCOLS``) on ``scale``."""
    method = dict(METHODS[label])
    if protocol == "same objective" and method["mixer"] not in ("none", "augmix"):
        method.setdefault("objective", "clean+mixed")
        if method["mixer"] == "saliency_grafting":
            method.pop("objective")  # "auto" is already clean + grafted: the paper cell's run
    config = {**sized(scale, per_class), **method}
    if protocol == "same compute":
        epochs = round(scale.epochs(per_class) * _TWO_PASS / passes_per_step(config))
        config = {**sized(scale, per_class, epochs), **method}
    elif protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    return config


def column(size: int, protocol: str) -> str:
    """The report's label of the cells at ``size`` images per class under ``protocol``."""
    return f"{size} · {protocol}"


def grid(scale: Scale, labels: list[str], sizes: tuple[int, ...], protocols: tuple[str, ...]) -> list[Cell]:
    """Each method of ``labels`` at each size under each protocol of the scale (columns ``"<size> · <protocol>"``)."""
    return [
        Cell(label, column(size, protocol), protocol_config(scale, label, protocol, size), size=size, protocol=protocol)
        for size in sizes
        for protocol in protocols
        if protocol in scale.protocols
        for label in labels
    ]

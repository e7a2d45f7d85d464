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
from saliency_grafting.mixing import Mixer, create_mixer
from saliency_grafting.step import passes_per_step as step_passes

__all__ = [
    "PROTOCOLS",
    "SALIENCY_SOURCES",
    "column",
    "epoch_passes",
    "grid",
    "passes_per_step",
    "passes_text",
    "protocol_config",
    "row_label",
    "sized",
]

# The appendix's saliency comparison: (source name, row label).
SALIENCY_SOURCES = (("forward", "forward saliency"), ("input_gradient", "input gradient"), ("grad_cam", "Grad-CAM"))
_TWO_PASS = 2  # the sample passes per step of the clean + mixed recipe: the budget of "same compute"
_ANY_CLASSES = 2  # a mixer built only to read what it declares (objective, passes), which the classes do not change


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


def passes_per_step(config: dict[str, Any]) -> float:
    """Forward/backward sample passes of one mixing step of a run's ``config``, as its ``MixStep`` runs it (see
    ``saliency_grafting.step.passes_per_step``; a random choice ``"a:0.2|b:0.8"``: the expectation)."""
    if config.get("mixer", "none") == "none":
        return 1
    passes = step_passes(
        _mixer(config),
        objective=config.get("objective", "auto"),
        saliency=config.get("saliency", "auto"),
        mix_times=config.get("mix_times", 1),
    )
    return int(passes) if float(passes).is_integer() else passes


def passes_text(passes: float) -> str:
    """A pass count as a report prints it: whole counts as integers, a recipe's expected count to two decimals."""
    return str(int(passes)) if float(passes).is_integer() else f"{passes:.2f}"


def epoch_passes(config: dict[str, Any]) -> float:
    """Forward/backward passes over the training subset in a run, in epochs: warm-up epochs are clean (one pass)."""
    warmup = min(config.get("warmup_epochs", 0), config["epochs"])
    return warmup + (config["epochs"] - warmup) * passes_per_step(config)


def protocol_config(scale: Scale, label: str, protocol: str, per_class: int) -> dict[str, Any]:
    """Method ``label`` (or a scale's recipe, a mixer spec) at ``per_class`` under ``protocol`` (one of
    ``PROTOCOLS``) on ``scale``."""
    method = dict(METHODS[label]) if label in METHODS else {"mixer": label}
    if protocol == "same objective" and method["mixer"] != "none" and not _learns_from_clean(method):
        # a recipe whose paper already learns from the clean batch (SG, AugMix, a chain with SG) keeps "auto", so its
        # cell is the paper cell's run, not a second training of the same recipe under another key
        method.setdefault("objective", "clean+mixed")
    config = {**sized(scale, per_class), **method}
    if protocol == "same compute":
        epochs = round(scale.epochs(per_class) * _TWO_PASS / passes_per_step(config))
        config = {**sized(scale, per_class, epochs), **method}
    elif protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    return config


def _mixer(method: dict[str, Any]) -> Mixer:
    """The mixer a config or method names, built to read its declared protocol."""
    return create_mixer(method["mixer"], _ANY_CLASSES, **method.get("mixer_args", {}))


def _learns_from_clean(method: dict[str, Any]) -> bool:
    """Whether the method's own objective trains on the clean batch at every step: under ``"auto"`` each choice of a
    random choice keeps its own paper's objective, so ``"mixup|saliency_grafting"`` does not."""
    return all(choice.default_objective == "clean+mixed" for choice in _mixer(method).choices)


def row_label(method: str) -> str:
    """The report's row of a suite method (its label) or of a recipe: ``"mixup:0.2|cutmix:0.8"`` reads
    ``"choice of mixup:0.2, cutmix:0.8"`` (a ``|`` would split a markdown table's cell)."""
    return method if "|" not in method else "choice of " + ", ".join(method.split("|"))


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

"""``sgraft compare``: which augmentation for my data, fairly, with evidence and its cost.

A comparison is the experiments ``tune`` and ``tuned`` run on a scale made from the user's data (``comparison_scale``):
each method gets the same tuning budget over its own paper's choices (``tuning.GRID``: seven configurations each),
evaluated on a validation split held out from the training images; each method's default and validation-selected
configuration then trains on fresh seeds and is tested. Other protocols than the paper's (``same objective``,
``same compute``) add the experiment ``compare``: the same defaults and selections under those protocols. The runs
are ordinary runs of the experiment runner, keyed by config and data, so a comparison on the CIFAR-10 archive with
the ``cpu`` scale's network reuses the ``tune`` / ``tuned`` records, and an interrupted one resumes.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from saliency_grafting._validation import check_int
from saliency_grafting.config import ConfigError
from saliency_grafting.experiments import claims
from saliency_grafting.experiments.core import Cell, Experiment, register
from saliency_grafting.experiments.overfit import passes_text, protocol_config, row_label
from saliency_grafting.experiments.scales import PROTOCOLS, Scale
from saliency_grafting.experiments.scales.base import CPU_TRAINING
from saliency_grafting.experiments.tuning import GRID, TUNED_SEED_OFFSET, select_tuned
from saliency_grafting.mixing import create_mixer

__all__ = ["MIXER_METHODS", "Comparison", "comparison_scale", "difference", "recommend"]

# The mixers a comparison takes, by the method label of the experiments (each tuned over ``GRID`` but Vanilla).
MIXER_METHODS = {
    "none": "Vanilla",
    "mixup": "Mixup",
    "cutmix": "CutMix",
    "puzzlemix": "PuzzleMix",
    "saliency_grafting": "Saliency Grafting",
}


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """What ``sgraft compare`` was asked: the data, the methods, the network, the budget, the seeds, the protocols.

    ``steps``: optimisation steps per run (epochs follow from the data size); ``epochs`` overrides it. ``amp`` and
    ``channels_last``: the CPU fast path (bf16 autocast and channels-last trained 1.6-2.3x faster here).
    """

    dataset: str
    mixers: tuple[str, ...]
    per_class: int
    val_per_class: int | None = None  # None: min(500, the smallest class's images - per_class), set when run
    dataset_args: Mapping[str, Any] = field(default_factory=dict)
    model: str = "preactresnet18"
    model_args: Mapping[str, Any] = field(default_factory=lambda: {"widths": [16, 32, 64, 128]})
    image_size: int | None = None
    steps: int = 840
    epochs: int | None = None
    batch_size: int = 128
    seeds: int = 3
    tune_seeds: int = 1
    protocols: tuple[str, ...] = ("paper",)
    amp: str = "bf16"
    channels_last: bool = True

    def __post_init__(self) -> None:
        for mixer in self.mixers:
            if mixer not in MIXER_METHODS:
                _check_recipe(mixer)
        if not self.mixers:
            raise ConfigError("mixers", "mixers: give at least one mixer to compare")
        if unknown := [p for p in self.protocols if p not in PROTOCOLS]:
            raise ConfigError("protocols", f"protocols: {unknown[0]!r} is not one of {', '.join(PROTOCOLS)}")
        if "paper" not in self.protocols:
            raise ConfigError("protocols", "protocols: the paper protocol is the one tuned and must be among them")
        for name in ("per_class", "val_per_class", "steps", "seeds", "tune_seeds", "batch_size"):
            value = getattr(self, name)
            if value is None and name == "val_per_class":
                continue
            error = partial(ConfigError, name)
            object.__setattr__(self, name, check_int(value, name, low=1, error=error, type_error=error))
        if self.epochs is not None:
            error = partial(ConfigError, "epochs")
            epochs = check_int(self.epochs, "epochs", low=1, why="or None", error=error, type_error=error)
            object.__setattr__(self, "epochs", epochs)

    @property
    def methods(self) -> list[str]:
        return [MIXER_METHODS.get(m) or row_label(m) for m in self.mixers]

    @property
    def recipes(self) -> tuple[str, ...]:
        """The random choices among the mixers (``"mixup:0.2|cutmix:0.8"``), compared as given (untuned)."""
        return tuple(m for m in self.mixers if m not in MIXER_METHODS)


def _check_recipe(mixer: str) -> None:
    """A ``ConfigError`` unless ``mixer`` is a method of ``MIXER_METHODS`` or a random choice among them that builds."""
    valid = f"valid: {', '.join(MIXER_METHODS)}, or a random choice of them per batch such as 'mixup:0.2|cutmix:0.8'"
    if not isinstance(mixer, str) or "|" not in mixer:
        raise ConfigError("mixers", f"mixers: {mixer!r} cannot be compared; {valid}")
    if unknown := [s for s in (p.partition(":")[0] for p in mixer.split("|")) if s not in MIXER_METHODS]:
        raise ConfigError("mixers", f"mixers: {mixer!r} chooses {unknown[0]!r}, which cannot be compared; {valid}")
    try:
        create_mixer(mixer, 2)
    except (TypeError, ValueError, ImportError) as err:
        raise ConfigError("mixers", f"mixers: {mixer!r} is not a random choice of mixers ({err}); {valid}") from None


def comparison_scale(comparison: Comparison, *, num_classes: int, fingerprint: str | None) -> Scale:
    """The scale of a comparison: the user's data (by its fingerprint), network and budget, at one data size."""
    if comparison.val_per_class is None:
        raise ConfigError("val_per_class", "val_per_class: set it (run_comparison sets it from the data)")
    held_out = comparison.val_per_class
    base: dict[str, Any] = {
        **CPU_TRAINING,
        "model": comparison.model,
        "model_args": dict(comparison.model_args),
        "batch_size": comparison.batch_size,
        "amp": comparison.amp,
        "channels_last": comparison.channels_last,
    }
    if comparison.image_size is not None:
        base["image_size"] = comparison.image_size
    steps = comparison.steps
    if comparison.epochs is not None:  # the budget that gives exactly these epochs
        steps = comparison.epochs * max(1, comparison.per_class * num_classes // comparison.batch_size)
    return Scale(
        name=f"compare-{comparison.dataset}",
        family="cpu",
        dataset=comparison.dataset,
        dataset_args=dict(comparison.dataset_args),
        fingerprint=fingerprint,
        num_classes=num_classes,
        description="a comparison on your data",
        base=base,
        steps=steps,
        sizes=(comparison.per_class,),
        main_size=comparison.per_class,
        protocols=comparison.protocols,
        val_per_class=held_out,
        recipes=comparison.recipes,
    )


def _other_protocols(scale: Scale, records: Path | None) -> list[Cell]:
    """Each method's default and selected configuration under the scale's protocols other than the paper's."""
    chosen = select_tuned(records, scale) if records is not None else {}
    cells = []
    for protocol in (p for p in scale.protocols if p != "paper"):
        typed: dict[str, Any] = {"seed_offset": TUNED_SEED_OFFSET, "size": scale.main_size, "protocol": protocol}
        for method in ["Vanilla", *GRID, *scale.recipes]:
            default = protocol_config(scale, method, protocol, scale.main_size)
            cells.append(Cell(row_label(method), f"default · {protocol}", default, **typed))
            if method in chosen:
                config = {**default, **chosen[method]["overrides"]}
                cells.append(Cell(method, f"tuned · {protocol}", config, **typed))
    return cells


register(
    Experiment(
        name="compare",
        title="Each method's default and selected configuration under the other protocols",
        claim="(a comparison) which method has the lowest test error at equal objective or compute",
        kind="table",
        check=claims.best_per_column(),
        cells={"cpu": _other_protocols},
        in_suite=False,
    )
)


def recommend(table: Mapping[str, Mapping[str, Any]]) -> str:
    """One sentence from ``{label: {"errors": [...], "seeds": [...], "passes": int}}``: which to use and by how much,
    or that the data cannot tell the best apart from the others (paired differences within 2 s.e.)."""
    finished = {label: row for label, row in table.items() if row["errors"]}
    if not finished:
        return "No run has finished yet."
    ranked = sorted(finished, key=lambda label: statistics.fmean(finished[label]["errors"]))
    best = ranked[0]
    tied = [label for label in ranked[1:] if not _beyond_noise(finished[best], finished[label])]
    if len(ranked) == 1:
        return f"Only {best} has finished runs."
    mean = statistics.fmean(finished[best]["errors"])
    if not tied:
        runner = ranked[1]
        gap = statistics.fmean(finished[runner]["errors"]) - mean
        return (
            f"Use {best}: {mean:.2f} % test error, {gap:.2f} points below the next best ({runner}), beyond 2 "
            "standard errors of the paired difference."
        )
    cheapest = min([best, *tied], key=lambda label: (finished[label]["passes"], label))
    return (
        f"The data cannot tell {best} ({mean:.2f} %) apart from {', '.join(tied)} (within 2 standard errors); "
        f"the cheapest of them is {cheapest} ({passes_text(finished[cheapest]['passes'])} sample passes per run, in "
        "epochs)."
    )


def difference(best: Mapping[str, Any], other: Mapping[str, Any]) -> tuple[float, float | None, bool]:
    """``other`` minus ``best`` in mean error: ``(difference, standard error, paired)``. Paired over the seeds both
    finished (the same seed shares subset, initialisation and data order), else unpaired; no s.e. under 2 seeds."""
    xa, xb = best["errors"], other["errors"]
    common = sorted(set(best["seeds"]) & set(other["seeds"]))
    if len(common) >= 2:
        pa, pb = dict(zip(best["seeds"], xa, strict=True)), dict(zip(other["seeds"], xb, strict=True))
        diff, se = claims.mean_se([pb[s] - pa[s] for s in common])
        return diff, se, True
    diff = statistics.fmean(xb) - statistics.fmean(xa)
    if len(xa) < 2 or len(xb) < 2:
        return diff, None, False
    return diff, (claims.mean_se(xa)[1] ** 2 + claims.mean_se(xb)[1] ** 2) ** 0.5, False


def _beyond_noise(best: Mapping[str, Any], other: Mapping[str, Any]) -> bool:
    """Whether ``other`` is worse than ``best`` by more than 2 standard errors of the difference."""
    diff, se, _ = difference(best, other)
    return se is not None and diff > 2 * se

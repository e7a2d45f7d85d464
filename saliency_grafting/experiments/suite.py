"""The paper's experiments as data: for each table and figure, its cells at paper scale and at CPU scale."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["EXPERIMENTS", "METHODS", "SCALES", "Cell", "Experiment", "cells_for"]

SCALES = ("paper", "cpu", "cpu-small")

# Shared settings. "cpu-small" (the first CPU scale, kept so its records stay reproducible): the CIFAR-10 JPEG archive
# (an imagefolder), a 78 k-parameter pre-activation ResNet, 500 images per class, 20 epochs. It never fits its
# training set (vanilla: 30 % training error, 35 % test error), so it tests augmentation where none can help.
_CPU = {"dataset": "imagefolder", "model": "resnet_tiny", "per_class": 500, "epochs": 20, "warmup_epochs": 2,
        "batch_size": 128, "lr": 0.1, "weight_decay": 5e-4, "schedule": "cosine", "eval_every": 1000}  # fmt: skip
_PYRAMID = {"dataset": "cifar100", "model": "pyramidnet200", "epochs": 300, "warmup_epochs": 5, "batch_size": 64,
            "lr": 0.25, "weight_decay": 1e-4, "nesterov": False, "schedule": "step", "eval_every": 10}  # fmt: skip
_WRN = {"dataset": "cifar100", "model": "wrn28_10", "epochs": 400, "warmup_epochs": 5, "batch_size": 100, "lr": 0.2,
        "weight_decay": 1e-4, "nesterov": False, "schedule": "step", "eval_every": 10}  # fmt: skip
_TINY = {"dataset": "imagefolder", "model": "preactresnet18", "epochs": 600, "warmup_epochs": 5, "batch_size": 100,
         "lr": 0.2, "weight_decay": 1e-4, "nesterov": False, "schedule": "step", "eval_every": 10}  # fmt: skip
_IMAGENET = {"dataset": "imagefolder", "model": "resnet50", "image_size": 224, "epochs": 100, "warmup_epochs": 1,
             "batch_size": 256, "lr": 0.2, "weight_decay": 5e-5, "schedule": "onecycle", "amp": "bf16",
             "channels_last": True, "eval_every": 5}  # fmt: skip

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
    "Saliency Grafting": {"mixer": "saliency_grafting"},
    "Saliency Grafting + ShakeDrop": {"mixer": "saliency_grafting", "regularizer": "shakedrop"},
}
_TABLE1 = [
    "Vanilla", "Cutout", "DropBlock", "Mixup", "Manifold Mixup", "ShakeDrop", "Cutout + Mixup",
    "Cutout + Manifold Mixup", "CutMix", "CutMix + ShakeDrop", "Attentive CutMix (N = 6)", "SaliencyMix", "PuzzleMix",
    "Saliency Grafting", "Saliency Grafting + ShakeDrop",
]  # fmt: skip
_TABLE2 = ["Vanilla", "Mixup", "Manifold Mixup", "CutMix", "AugMix", "SaliencyMix", "PuzzleMix", "Saliency Grafting"]
_TABLE3 = ["Vanilla", "Mixup", "CutMix", "SaliencyMix", "PuzzleMix", "Saliency Grafting"]
_TABLE4 = ["Vanilla", "Mixup", "Manifold Mixup", "CutMix", "AugMix", "PuzzleMix", "Saliency Grafting"]
_SCARCE = ["Vanilla", "Mixup", "CutMix", "PuzzleMix", "Saliency Grafting"]
_OCCLUDED = ["Vanilla", "CutMix", "SaliencyMix", "PuzzleMix", "Saliency Grafting"]
_CPU_ONLY = ("tune", "tuned", "fastpath")  # experiments about the cpu scale itself


@dataclass(frozen=True)
class Cell:
    """One row (and column, for grids) of a table or one point of a figure: a config on top of the scale's base."""

    row: str
    column: str
    config: dict[str, Any]
    seed_offset: int = 0  # the cell's seeds are seed_offset, seed_offset + 1, ... (fresh seeds for a second stage)


@dataclass(frozen=True)
class Experiment:
    """A table or figure of the paper, the claim it supports, and how its cells are laid out."""

    name: str
    title: str
    claim: str
    kind: str  # "table" (rows x columns of top-1 / top-5) or "line" (x = column, one line per row)
    metrics: tuple[str, ...] = ("top1_error",)
    occlusion: bool = False  # report error after occluding the top 0 / 12.5 / 25 % salient regions
    notes: dict[str, str] = field(default_factory=dict)


def _methods(names: list[str], base: dict[str, Any], column: str = "") -> list[Cell]:
    return [Cell(name, column, {**base, **METHODS[name]}) for name in names]


def cells_for(name: str, scale: str, *, records: Path | None = None) -> list[Cell]:
    """The cells of experiment ``name`` at ``scale`` (``"paper"``, ``"cpu"`` or ``"cpu-small"``).

    ``records``: the output folder whose ``tune`` records choose the ``tuned`` cells (without it, only the defaults).
    An experiment that is not defined at ``scale`` has no cells.
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
    if scale == "cpu":
        from saliency_grafting.experiments.overfit import overfit_cells

        return overfit_cells(name, records=records)
    if name in _CPU_ONLY:
        return []
    cpu = scale == "cpu-small"
    if name in ("table1", "table2", "table3", "table4"):
        methods = {"table1": _TABLE1, "table2": _TABLE2, "table3": _TABLE3, "table4": _TABLE4}[name]
        base = _CPU if cpu else {"table1": _PYRAMID, "table2": _WRN, "table3": _TINY, "table4": _IMAGENET}[name]
        return _methods(methods, base)
    if name == "table5":
        cells = []
        for fraction, per_class in (("10 %", 50), ("20 %", 100), ("50 %", 250)):
            # CPU: the paper's per-class counts, epochs scaled to 60 % of the base run's optimisation steps.
            extra = {"per_class": per_class, "epochs": round(12 * 500 / per_class)} if cpu else {"per_class": per_class}
            cells += _methods(_SCARCE, {**(_CPU if cpu else _WRN), **extra}, f"{per_class} ({fraction})")
        return cells
    if name == "table6":
        return _methods(_OCCLUDED, _CPU if cpu else _TINY)
    if name == "table7":
        base = [("WRN28-10", _WRN), ("PyramidNet-200", _PYRAMID)] if not cpu else [("resnet_tiny", _CPU)]
        variants = {
            "Deterministic + area labels": {"selection": "deterministic", "label_mixing": "area"},
            "Stochastic + area labels": {"label_mixing": "area"},
            "Stochastic + saliency labels": {},
        }
        return [Cell(row, column, {**cfg, "mixer": "saliency_grafting", "mixer_args": args})
                for column, cfg in base for row, args in variants.items()]  # fmt: skip
    if name == "fig3":
        # k augmented batches per step on 20 % of the data (CPU: 100 images per class, 30 epochs, and k in
        # {1, 2, 4, 6}: PuzzleMix's graph cuts grow with k, and k = 1..6 would take ~85 min, over the 1 h budget).
        base = {**_CPU, "per_class": 100, "epochs": 30} if cpu else {**_WRN, "per_class": 100, "epochs": 200}
        ks = (1, 2, 4, 6) if cpu else range(1, 7)
        return [Cell(label, str(k), {**base, **METHODS[label], "mix_times": k})
                for label in ("PuzzleMix", "Saliency Grafting") for k in ks]  # fmt: skip
    if name == "fig4":
        # sigma relative to sigma_mean = 1 / g^2 on a fixed 8 x 8 grid; CutMix as the reference line.
        base = _CPU if cpu else _WRN
        cells = [Cell("Saliency Grafting", f"{f:g}", {**base, "mixer": "saliency_grafting",
                                                        "mixer_args": {"grid_sizes": [8], "threshold": f / 64}})
                 for f in (0.0, 0.5, 0.75, 1.0, 1.25)]  # fmt: skip
        return [*cells, *(Cell("CutMix", column.column, {**base, **METHODS["CutMix"]}) for column in cells)]
    if name == "recipe":
        # Not in the paper: SG learns from the clean and the grafted batch, the baselines from the mixed batch only.
        # Each method under both objectives ("auto" is each method's own recipe, so those cells are Table 1's runs).
        base = _CPU if cpu else _WRN
        cells = []
        for label in ("Mixup", "CutMix", "Saliency Grafting"):
            sg = label == "Saliency Grafting"
            both, mixed = ({}, {"objective": "mixed"}) if sg else ({"objective": "clean+mixed"}, {})
            cells += [Cell(label, "clean + mixed", {**base, **METHODS[label], **both}),
                      Cell(label, "mixed only", {**base, **METHODS[label], **mixed})]  # fmt: skip
        return cells
    if name == "wallclock":
        return [] if cpu else _methods(_SCARCE, {**_WRN, "per_class": 100})
    if name == "saliency":
        # The appendix: SG with forward vs backward saliency (CPU-small: not run; it tests the underfit regime).
        from saliency_grafting.experiments.overfit import SALIENCY_SOURCES

        sg = {**_WRN, **METHODS["Saliency Grafting"]}
        return [] if cpu else [Cell(f"SG + {label}", "", {**sg, **({"saliency": s} if s != "forward" else {})})
                               for s, label in SALIENCY_SOURCES]  # fmt: skip
    if name == "sweep":
        # One at a time around SG's defaults: temperature, alpha, warm-up epochs, region grids.
        base = {**(_CPU if cpu else _WRN), "mixer": "saliency_grafting"}
        variants: list[tuple[str, dict[str, Any]]] = [("defaults (T = 0.5, alpha = 1, grids drawn per batch)", {})]
        variants += [(f"temperature = {t:g}", {"mixer_args": {"temperature": t}}) for t in (0.1, 0.25, 1.0, 2.0)]
        variants += [(f"alpha = {a:g}", {"mixer_args": {"alpha": a}}) for a in (0.5, 2.0)]
        variants += [(f"warm-up epochs = {w}", {"warmup_epochs": w}) for w in (0, 5)]
        variants += [(f"grid fixed at {g} x {g}", {"mixer_args": {"grid_sizes": [g]}}) for g in (4, 8, 16)]
        return [Cell(label, "", {**base, **extra}) for label, extra in variants]
    raise ValueError(f"unknown experiment {name!r}; valid names: {', '.join(EXPERIMENTS)}")


EXPERIMENTS: dict[str, Experiment] = {
    "table1": Experiment("table1", "Table 1: PyramidNet-200 on CIFAR-100, all methods",
                         "SG (and SG + ShakeDrop) has the lowest error", "table", ("top1_error", "top5_error")),
    "table2": Experiment("table2", "Table 2: WRN28-10 on CIFAR-100", "SG has the lowest error", "table",
                         ("top1_error", "top5_error")),
    "table3": Experiment("table3", "Table 3: ResNet-18 on Tiny-ImageNet", "SG has the lowest top-1 and top-5 error",
                         "table", ("top1_error", "top5_error")),
    "table4": Experiment("table4", "Table 4: ResNet-50 on ImageNet", "SG has the lowest error", "table",
                         ("top1_error", "top5_error")),
    "table5": Experiment("table5", "Table 5: data scarcity (images per class)",
                         "SG has the lowest error at every data size", "table"),
    "table6": Experiment("table6", "Table 6: occlusion of the top-k % salient regions",
                         "SG is the most robust as more of the salient area is removed", "table", occlusion=True),
    "table7": Experiment("table7", "Table 7: ablation of selection and label mixing",
                         "stochastic selection + saliency labels is best", "table"),
    "fig3": Experiment("fig3", "Figure 3: k augmented batches per step (sample diversity)",
                       "SG improves as k grows while PuzzleMix does not", "line"),
    "fig4": Experiment("fig4", "Figure 4: threshold sigma (x sigma_mean)",
                       "lowering sigma below sigma_mean degrades SG towards CutMix", "line"),
    "recipe": Experiment("recipe", "Training objective: clean + mixed batch (SG's recipe) vs the mixed batch only",
                         "(not a claim of the paper) SG's edge over the baselines is not its clean loss", "table"),
    "wallclock": Experiment("wallclock", "Test error against training time (beyond the paper)",
                            "(not a claim of the paper) which method is best at each time budget", "curve"),
    "saliency": Experiment("saliency", "Appendix: SG with forward saliency against backward saliency",
                           "forward saliency is as good as backward saliency at no extra pass", "table"),
    "sweep": Experiment("sweep", "SG's free hyper-parameters, one at a time around the defaults",
                        "(not a claim of the paper) the documented defaults are reasonable", "table"),
    "tune": Experiment("tune", "Tuning on a validation split (held-out training images, never the test set)",
                       "(not a claim of the paper) every method gets the same tuning budget", "table"),
    "tuned": Experiment("tuned", "Each method's default and validation-selected configuration, fresh seeds, test set",
                        "(not a claim of the paper) SG's standing survives fair tuning", "table"),
    "fastpath": Experiment("fastpath", "bf16 autocast + channels-last against fp32 (Vanilla, 100 per class)",
                           "(not a claim of the paper) the fast path gives the same accuracy as fp32", "table"),
}  # fmt: skip

"""The ``cpu`` scale: the paper's experiments where augmentation can help (the network memorises its training set).

CIFAR-10 JPEGs, a 701 k-parameter PreAct-ResNet-18 (widths 16-128, last stage 4x4), bf16 autocast and channels-last,
50 / 100 / 250 images per class (the analogue of the paper's 10 / 20 / 50 % of CIFAR-100) with the same number of
optimisation steps at each size (~840 of batch 128). Each comparison is made under three protocols:

- ``paper``: each method with its own paper's objective (SG: clean + grafted; the others: mixed only), equal epochs;
- ``same objective``: every mixer trained on the clean and the mixed batch, equal epochs;
- ``same compute``: every method gets the same number of forward/backward sample passes as the two-pass recipes
  (clean + mixed, or PuzzleMix's input-gradient pass + mixed), so one-pass methods train twice the epochs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from saliency_grafting.experiments.suite import _OCCLUDED, _SCARCE, _TABLE1, METHODS, Cell

__all__ = ["BASE", "EPOCHS", "PROTOCOLS", "epoch_passes", "overfit_cells", "passes_per_step", "protocol_config"]

# Optimisation steps are held at ~840 per run: 7 steps of 128 per epoch at 100 per class (drop-last batches).
EPOCHS = {50: 280, 100: 120, 250: 44}
PROTOCOLS = ("paper", "same objective", "same compute")
BASE: dict[str, Any] = {
    "dataset": "imagefolder", "model": "preactresnet18", "model_args": {"widths": [16, 32, 64, 128]},
    "per_class": 100, "epochs": EPOCHS[100], "warmup_epochs": 6, "batch_size": 128, "lr": 0.1, "weight_decay": 5e-4,
    "schedule": "cosine", "amp": "bf16", "channels_last": True, "eval_every": 20,
}  # fmt: skip
# The appendix's saliency comparison: (source name, row label).
SALIENCY_SOURCES = (("forward", "forward saliency"), ("input_gradient", "input gradient"), ("grad_cam", "Grad-CAM"))
_TWO_PASS = 2  # the sample passes per step of the clean + mixed recipe: the budget of "same compute"


def _sized(per_class: int, epochs: int | None = None) -> dict[str, Any]:
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
    config = {**_sized(per_class), **method}
    if protocol == "same compute":
        epochs = round(EPOCHS[per_class] * _TWO_PASS / passes_per_step(config))
        config = {**_sized(per_class, epochs), **method}
    elif protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    return config


def _grid(labels: list[str], sizes: tuple[int, ...], protocols: tuple[str, ...]) -> list[Cell]:
    return [Cell(label, f"{size} · {protocol}", protocol_config(label, protocol, size))
            for size in sizes for protocol in protocols for label in labels]  # fmt: skip


def overfit_cells(name: str, *, records: Path | None = None) -> list[Cell]:
    """The cells of experiment ``name`` at the ``cpu`` scale (``records``: where ``tuned`` reads its selection)."""
    base = _sized(100)
    if name in ("tune", "tuned"):
        from saliency_grafting.experiments.tuning import tune_cells, tuned_cells

        return tune_cells() if name == "tune" else tuned_cells(records)
    if name == "fastpath":
        # Table 5's Vanilla 100 · paper cell (bf16 autocast + channels-last, the same runs) against fp32.
        fast = protocol_config("Vanilla", "paper", 100)
        return [Cell("Vanilla", "bf16 + channels-last", fast),
                Cell("Vanilla", "fp32", {**fast, "amp": "none", "channels_last": False})]  # fmt: skip
    if name == "table5":
        # Every size under the paper protocol; 100 per class under all three.
        return [*_grid(_SCARCE, (50,), ("paper",)), *_grid(_SCARCE, (100,), PROTOCOLS),
                *_grid(_SCARCE, (250,), ("paper",))]  # fmt: skip
    if name in ("table1", "table2", "table3", "table4"):
        labels = [*_TABLE1, "AugMix"] if name == "table1" else {
            "table2": ["Vanilla", "Mixup", "Manifold Mixup", "CutMix", "AugMix", "SaliencyMix", "PuzzleMix",
                       "Saliency Grafting"],
            "table3": ["Vanilla", "Mixup", "CutMix", "SaliencyMix", "PuzzleMix", "Saliency Grafting"],
            "table4": ["Vanilla", "Mixup", "Manifold Mixup", "CutMix", "AugMix", "PuzzleMix", "Saliency Grafting"],
        }[name]  # fmt: skip
        return _grid(labels, (100,), ("paper",))
    if name == "table6":
        return _grid(_OCCLUDED, (100,), ("paper",))
    if name == "wallclock":
        return _grid(_SCARCE, (100,), ("paper",))
    if name == "table7":
        variants = {
            "Deterministic + area labels": {"selection": "deterministic", "label_mixing": "area"},
            "Stochastic + area labels": {"label_mixing": "area"},
            "Stochastic + saliency labels": {},
        }
        return [Cell(row, "100 · paper", {**base, "mixer": "saliency_grafting", "mixer_args": args})
                for row, args in variants.items()]  # fmt: skip
    if name == "fig3":
        # k mixed batches per step, their losses averaged so that the step size does not grow with k.
        # k = 1 is the same run as Table 5's paper cell.
        return [Cell(label, str(k), {**base, **METHODS[label], **({"mix_times": k, "mix_reduction": "mean"}
                                                                 if k > 1 else {})})
                for label in ("PuzzleMix", "Saliency Grafting") for k in (1, 2, 4)]  # fmt: skip
    if name == "fig4":
        cells = [Cell("Saliency Grafting", f"{f:g}", {**base, "mixer": "saliency_grafting",
                                                        "mixer_args": {"grid_sizes": [8], "threshold": f / 64}})
                 for f in (0.0, 0.5, 0.75, 1.0, 1.25)]  # fmt: skip
        return [*cells, *(Cell("CutMix", c.column, {**base, **METHODS["CutMix"]}) for c in cells)]
    if name == "saliency":
        # The appendix: SG with forward saliency (Table 5's paper cell) against backward saliency.
        sg = protocol_config("Saliency Grafting", "paper", 100)
        return [Cell(f"SG + {label}", "100 · paper", {**sg, **({"saliency": source} if source != "forward" else {})})
                for source, label in SALIENCY_SOURCES]  # fmt: skip
    if name == "recipe":
        return _grid(["Mixup", "CutMix", "Saliency Grafting"], (100,), ("paper", "same objective"))
    if name == "sweep":
        return []  # this scale tunes on a validation split (experiment "tune"), never on the test set
    from saliency_grafting.experiments.suite import EXPERIMENTS

    raise ValueError(f"unknown experiment {name!r}; valid names: {', '.join(EXPERIMENTS)}")

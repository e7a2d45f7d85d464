"""The paper's Figures 3 and 4 as experiments: lines of error against k and against the threshold sigma."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from saliency_grafting.experiments import claims, sections
from saliency_grafting.experiments.core import Cell, Experiment, register
from saliency_grafting.experiments.overfit import sized
from saliency_grafting.experiments.settings import CPU_SMALL, METHODS, WRN

__all__: list[str] = []


def _diversity(base: dict[str, Any], ks: Iterable[int], averaged: bool = False) -> list[Cell]:
    """PuzzleMix and SG with k mixed batches per step (``averaged``: their losses averaged, k = 1 left as is)."""

    def extra(k: int) -> dict[str, Any]:
        if averaged:
            return {"mix_times": k, "mix_reduction": "mean"} if k > 1 else {}
        return {"mix_times": k}

    return [
        Cell(label, str(k), {**base, **METHODS[label], **extra(k)})
        for label in ("PuzzleMix", "Saliency Grafting")
        for k in ks
    ]


register(
    Experiment(
        name="fig3",
        title="Figure 3: k augmented batches per step (sample diversity)",
        claim="SG improves as k grows while PuzzleMix does not",
        kind="line",
        x_label="k",
        check=claims.slopes,
        # k batches on 20 % of the data (CPU-small: 100 images per class, 30 epochs, and k in {1, 2, 4, 6}: PuzzleMix's
        # graph cuts grow with k, and every k of 1..6 would not fit the suite's budget). cpu: the losses averaged so
        # that the step size does not grow with k; k = 1 is the same run as Table 5's paper cell.
        cells={
            "paper": lambda _, __: _diversity({**WRN, "per_class": 100, "epochs": 200}, range(1, 7)),
            "cpu-small": lambda _, __: _diversity({**CPU_SMALL, "per_class": 100, "epochs": 30}, (1, 2, 4, 6)),
            "cpu": lambda scale, _: _diversity(sized(scale, scale.main_size), (1, 2, 4), averaged=True),
        },
        extras=sections.cpu_report(),
    )
)


def _threshold(base: dict[str, Any]) -> list[Cell]:
    """sigma relative to sigma_mean = 1 / g^2 on a fixed 8 x 8 grid; CutMix as the reference line."""
    cells = [
        Cell(
            "Saliency Grafting",
            f"{f:g}",
            {**base, "mixer": "saliency_grafting", "mixer_args": {"grid_sizes": [8], "threshold": f / 64}},
        )
        for f in (0.0, 0.5, 0.75, 1.0, 1.25)
    ]
    return [*cells, *(Cell("CutMix", cell.column, {**base, **METHODS["CutMix"]}) for cell in cells)]


register(
    Experiment(
        name="fig4",
        title="Figure 4: threshold sigma (x sigma_mean)",
        claim="lowering sigma below sigma_mean degrades SG towards CutMix",
        kind="line",
        x_label="sigma / sigma_mean",
        check=claims.slopes,
        cells={
            "paper": lambda _, __: _threshold(WRN),
            "cpu-small": lambda _, __: _threshold(CPU_SMALL),
            "cpu": lambda scale, _: _threshold(sized(scale, scale.main_size)),
        },
        extras=sections.cpu_report(),
    )
)

"""Studies around the paper as experiments: objectives, wall clock, saliency sources, sweeps, tuning, fast path."""

from __future__ import annotations

from typing import Any

from saliency_grafting.experiments import claims, sections
from saliency_grafting.experiments.core import Cell, Experiment, register
from saliency_grafting.experiments.overfit import SALIENCY_SOURCES, column, grid, protocol_config, sized
from saliency_grafting.experiments.scales import Scale
from saliency_grafting.experiments.settings import CPU_SMALL, METHODS, SCARCE, WRN, methods
from saliency_grafting.experiments.tuning import tune_cells, tuned_cells

__all__: list[str] = []

SG = claims.SG


def _recipe(base: dict[str, Any]) -> list[Cell]:
    """Each method under both objectives ("auto" is each method's own recipe, so those cells are Table 1's runs)."""
    cells = []
    for label in ("Mixup", "CutMix", SG):
        both, mixed = ({}, {"objective": "mixed"}) if label == SG else ({"objective": "clean+mixed"}, {})
        cells += [
            Cell(label, "clean + mixed", {**base, **METHODS[label], **both}),
            Cell(label, "mixed only", {**base, **METHODS[label], **mixed}),
        ]
    return cells


# Not in the paper: SG learns from the clean and the grafted batch, the baselines from the mixed batch only.
register(
    Experiment(
        name="recipe",
        title="Training objective: clean + mixed batch (SG's recipe) vs the mixed batch only",
        claim="(not a claim of the paper) SG's edge over the baselines is not its clean loss",
        kind="table",
        check=claims.best_per_column(claims.paired_rows("clean + mixed", "mixed only")),
        cells={
            "paper": lambda _, __: _recipe(WRN),
            "cpu-small": lambda _, __: _recipe(CPU_SMALL),
            "cpu": lambda scale, _: grid(
                scale, ["Mixup", "CutMix", SG], (scale.main_size,), ("paper", "same objective")
            ),
        },
        extras=sections.cpu_report(),
    )
)

register(
    Experiment(
        name="wallclock",
        title="Test error against training time (beyond the paper)",
        claim="(not a claim of the paper) which method is best at each time budget",
        kind="curve",
        check=claims.sg_rank(),
        cells={
            "paper": lambda _, __: methods(SCARCE, {**WRN, "per_class": 100}),
            "cpu": lambda scale, _: grid(scale, SCARCE, (scale.main_size,), ("paper",)),
        },
        extras=sections.cpu_report(sections.wallclock),
    )
)


def _saliency(sg: dict[str, Any], column: str) -> list[Cell]:
    """SG with each saliency source (forward: the default, so the same run as SG's cell on that base)."""
    return [
        Cell(f"SG + {label}", column, {**sg, **({"saliency": source} if source != "forward" else {})})
        for source, label in SALIENCY_SOURCES
    ]


# The appendix: SG with forward vs backward saliency (cpu-small: not run; it tests the underfit regime).
register(
    Experiment(
        name="saliency",
        title="Appendix: SG with forward saliency against backward saliency",
        claim="forward saliency is as good as backward saliency at no extra pass",
        kind="table",
        check=claims.against(f"SG + {SALIENCY_SOURCES[0][1]}"),
        cells={
            "paper": lambda _, __: _saliency({**WRN, **METHODS[SG]}, ""),
            "cpu": lambda scale, _: _saliency(
                protocol_config(scale, SG, "paper", scale.main_size), column(scale.main_size, "paper")
            ),
        },
        extras=sections.cpu_report(),
    )
)


def _sweep(base: dict[str, Any]) -> list[Cell]:
    """One at a time around SG's defaults: temperature, alpha, warm-up epochs, region grids."""
    base = {**base, "mixer": "saliency_grafting"}
    variants: list[tuple[str, dict[str, Any]]] = [("defaults (T = 0.5, alpha = 1, grids drawn per batch)", {})]
    variants += [(f"temperature = {t:g}", {"mixer_args": {"temperature": t}}) for t in (0.1, 0.25, 1.0, 2.0)]
    variants += [(f"alpha = {a:g}", {"mixer_args": {"alpha": a}}) for a in (0.5, 2.0)]
    variants += [(f"warm-up epochs = {w}", {"warmup_epochs": w}) for w in (0, 5)]
    variants += [(f"grid fixed at {g} x {g}", {"mixer_args": {"grid_sizes": [g]}}) for g in (4, 8, 16)]
    return [Cell(label, "", {**base, **extra}) for label, extra in variants]


# The cpu scale tunes on a validation split (experiment "tune") instead, never on the test set.
register(
    Experiment(
        name="sweep",
        title="SG's free hyper-parameters, one at a time around the defaults",
        claim="(not a claim of the paper) the documented defaults are reasonable",
        kind="table",
        check=claims.best_per_column(),
        cells={"paper": lambda _, __: _sweep(WRN), "cpu-small": lambda _, __: _sweep(CPU_SMALL)},
    )
)

register(
    Experiment(
        name="tune",
        title="Tuning on a validation split (held-out training images, never the test set)",
        claim="(not a claim of the paper) every method gets the same tuning budget",
        kind="table",
        table=sections.tune_table,
        error_label="Validation",
        check=claims.tune_best,
        cells={"cpu": lambda scale, _: tune_cells(scale)},
    )
)

register(
    Experiment(
        name="tuned",
        title="Each method's default and validation-selected configuration, fresh seeds, test set",
        claim="(not a claim of the paper) SG's standing survives fair tuning",
        kind="table",
        check=claims.sg_rank(claims.paired_rows("tuned", "default")),
        cells={"cpu": lambda scale, records: tuned_cells(scale, records)},
        extras=sections.cpu_report(sections.tuned_selection),
    )
)


def _fastpath(scale: Scale) -> list[Cell]:
    """Table 5's Vanilla cell at the main size (bf16 autocast + channels-last, the same runs) against fp32."""
    fast = protocol_config(scale, "Vanilla", "paper", scale.main_size)
    return [
        Cell("Vanilla", "bf16 + channels-last", fast),
        Cell("Vanilla", "fp32", {**fast, "amp": "none", "channels_last": False}),
    ]


register(
    Experiment(
        name="fastpath",
        title="bf16 autocast + channels-last against fp32 (Vanilla, 100 per class)",
        claim="(not a claim of the paper) the fast path gives the same accuracy as fp32",
        kind="table",
        check=claims.fastpath_speed,
        cells={"cpu": lambda scale, _: _fastpath(scale)},
        extras=sections.cpu_report(),
    )
)


# Narrower networks than the cpu scale's (widths 16-128), for the criterion "the smallest that overfits", and at
# 250 per class a longer schedule as well (1.5x the steps), as ~840 steps leave the training error just above 2 %.
NETWORK_WIDTHS = ((8, 16, 32, 64), (16, 32, 64, 128))


def _schedules(scale: Scale) -> list[tuple[int, int]]:
    """(images per class, epochs) at every size, and at a size given more steps its plain budget as well."""
    pairs = []
    for size in scale.sizes:
        pairs += [(size, scale.epochs(size, longer=False))] * (size in scale.longer) + [(size, scale.epochs(size))]
    return pairs


def _network(scale: Scale) -> list[Cell]:
    """Vanilla per width and (images per class, epochs); the scale's own cells are Table 5's Vanilla runs."""
    cells = []
    for per_class, epochs in _schedules(scale):
        for widths in NETWORK_WIDTHS:
            config = {**sized(scale, per_class, epochs), **METHODS["Vanilla"]}
            if list(widths) != config["model_args"]["widths"]:
                config = {**config, "model_args": {"widths": list(widths)}}
            cells.append(Cell(f"widths {'-'.join(map(str, widths))}", f"{per_class} ({epochs} epochs)", config))
    return cells


register(
    Experiment(
        name="network",
        title="Which network overfits: Vanilla's training and test error by width and images per class",
        claim="(the cpu scale's criterion) the smallest network with training error <= 2 % and test error >= 15 "
        "points higher at every size",
        kind="table",
        check=claims.overfit_criterion,
        cells={"cpu": lambda scale, _: _network(scale)},
    )
)

"""An experiment as one object (its cells per scale, claim check, table, report extras, plot axis) and the registry.

Adding an experiment is one ``register(Experiment(...))`` in one place, the module of its family (``tables``,
``figures``, ``studies``): ``cells_for``, ``plan``, ``render`` and ``check_claim`` look it up and call what it carries.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from saliency_grafting.experiments.scales import SCALES, Scale, get_scale
from saliency_grafting.experiments.scales.base import FAMILIES

__all__ = [
    "EXPERIMENTS",
    "SCALES",
    "Cell",
    "Cells",
    "CellsBuilder",
    "Check",
    "Experiment",
    "ReportContext",
    "Section",
    "cells_for",
    "get_experiment",
    "register",
]


@dataclass(frozen=True)
class Cell:
    """One row (and column, for grids) of a table or one point of a figure: a config on top of the scale's base.

    ``row`` / ``column`` are the labels a report prints; ``size`` (images per class) and ``protocol`` (one of
    ``scales.PROTOCOLS``) are the cell's identity where it has them, read by the report instead of its labels.
    """

    row: str
    column: str
    config: dict[str, Any]
    seed_offset: int = 0  # the cell's seeds are seed_offset, seed_offset + 1, ... (fresh seeds for a second stage)
    size: int | None = None
    protocol: str | None = None


# Aggregated cells: {(row, column): {metric: [value per finished seed]}} (see ``report.aggregate``).
Cells = dict[tuple[str, str], dict[str, list[float]]]
# The cells of an experiment at one scale, given the output folder of earlier records (``tuned`` reads ``tune``'s).
CellsBuilder = Callable[[Scale, Path | None], list[Cell]]
# A factual reading of the claim from the aggregated cells (called once some cell has a finished run).
Check = Callable[[Cells], str]


@dataclass(frozen=True, kw_only=True)
class ReportContext:
    """What a report section sees: the experiment, where its records are, and its aggregated cells."""

    experiment: Experiment
    scale: Scale
    seeds: int
    out: Path
    cells: Cells
    rows: list[str]
    columns: list[str]
    layout: Mapping[tuple[str, str], Cell]  # (row, column) -> the cell, with its typed size and protocol
    plot_dir: Path | None  # None when nothing is to be plotted (no folder given, or no finished run)


# Markdown lines for one part of an experiment's report section.
Section = Callable[[ReportContext], list[str]]


@dataclass(frozen=True, kw_only=True)
class Experiment:
    """A table or figure of the paper, the claim it supports, and everything its report needs.

    ``cells``: scale family (``paper``, ``cpu``, ``cpu-small``) -> builder of the cells from the scale (a family left
    out: not defined there), so that one builder serves every scale of its family. ``check``: the claim check.
    ``table``: the main table (None: one column of ``metrics`` per row, or rows x columns of top-1 error).
    ``extras``: family -> report sections after the claim check. ``kind``: ``"table"``, ``"line"`` (x = column,
    one line per row, plotted with ``x_label``) or ``"curve"``. ``occlusion``: error after occluding the top 0 /
    12.5 / 25 % salient regions is what it reports (and reference occlusion applies to it).
    """

    name: str
    title: str
    claim: str
    kind: str
    cells: Mapping[str, CellsBuilder]
    check: Check
    metrics: tuple[str, ...] = ("top1_error",)
    occlusion: bool = False
    table: Section | None = None
    extras: Mapping[str, tuple[Section, ...]] = field(default_factory=dict)
    x_label: str = ""
    error_label: str = "Top-1"  # what the error of the table is measured on ("Validation" for tuning runs)
    # family -> the fewest seeds per cell, where 3 seeds left 2 s.e. of the paired differences above the effects
    min_seeds: Mapping[str, int] = field(default_factory=dict)
    localization: bool = False  # WSOL scores of its runs are what it reports (added post hoc: ``localization``)
    in_suite: bool = True  # part of ``reproduce all`` (False: run by another command, e.g. ``sgraft compare``)

    def __post_init__(self) -> None:
        if self.kind not in ("table", "line", "curve"):
            raise ValueError(f"kind must be 'table', 'line' or 'curve', got {self.kind!r}")
        if unknown := set(self.cells) - set(FAMILIES) or set(self.extras) - set(FAMILIES):
            raise ValueError(f"cells and extras are keyed by family ({', '.join(FAMILIES)}), got {sorted(unknown)}")
        if unknown := set(self.min_seeds) - set(FAMILIES):
            raise ValueError(f"min_seeds is keyed by family ({', '.join(FAMILIES)}), got {sorted(unknown)}")
        if bad := {family: n for family, n in self.min_seeds.items() if not isinstance(n, int) or n < 1}:
            raise ValueError(f"min_seeds: expected an int >= 1 per family, got {bad}")
        if self.kind == "line" and not self.x_label:
            raise ValueError(f"experiment {self.name!r}: a line plot needs x_label")


EXPERIMENTS: dict[str, Experiment] = {}


def register(experiment: Experiment) -> Experiment:
    """Add ``experiment`` to ``EXPERIMENTS`` (in the report's order); a name is registered once."""
    if not isinstance(experiment, Experiment):
        raise TypeError(f"experiment must be an Experiment, got {type(experiment).__name__}")
    if experiment.name in EXPERIMENTS:
        raise ValueError(f"experiment {experiment.name!r} is already registered")
    EXPERIMENTS[experiment.name] = experiment
    return experiment


def cells_for(name: str, scale: str | Scale, *, records: Path | None = None) -> list[Cell]:
    """The cells of experiment ``name`` at ``scale`` (a name of ``SCALES``, or a ``Scale``).

    ``records``: the output folder whose ``tune`` records choose the ``tuned`` cells (without it, only the defaults).
    An experiment that is not defined for the scale's family has no cells.
    """
    scale = get_scale(scale)
    builder = get_experiment(name).cells.get(scale.family)
    return [] if builder is None else builder(scale, records)


def get_experiment(name: str) -> Experiment:
    """The registered experiment ``name`` (the suite registers every experiment on the first lookup)."""
    if name not in EXPERIMENTS:
        import saliency_grafting.experiments.suite  # noqa: F401
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; valid names: {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]

"""The paper's experiments, one object each: importing this module registers every family in ``EXPERIMENTS``.

To add an experiment, register one ``Experiment`` (cells per scale family, claim check, plot axis, report extras) in
the module of its family (``tables``, ``figures``, ``studies``, ``localization``, ``speech``, ``compare``), or in a
new module added to ``FAMILIES``; nothing else dispatches on experiment names.
"""

from __future__ import annotations

from saliency_grafting.experiments import compare, figures, localization, speech, studies, tables, warmup
from saliency_grafting.experiments.core import EXPERIMENTS, SCALES, Cell, Experiment, cells_for, register
from saliency_grafting.experiments.settings import METHODS

__all__ = ["EXPERIMENTS", "FAMILIES", "METHODS", "SCALES", "Cell", "Experiment", "cells_for", "register"]

# The families in the report's order. A module may have been imported (and registered its experiments) before this
# one, so the registry is put in this order here: by family, then in each family's order of registration.
FAMILIES = (tables, figures, studies, warmup, localization, speech, compare)


def _family(experiment: Experiment) -> int:
    modules = [family.__name__ for family in FAMILIES]
    where = next(iter(experiment.cells.values())).__module__ if experiment.cells else ""
    return modules.index(where) if where in modules else len(modules)


_ordered = sorted(EXPERIMENTS.values(), key=_family)  # stable: each family keeps its order
EXPERIMENTS.clear()
EXPERIMENTS.update((experiment.name, experiment) for experiment in _ordered)

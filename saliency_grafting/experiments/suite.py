"""The paper's experiments, one object each: importing this module registers every family in ``EXPERIMENTS``.

To add an experiment, register one ``Experiment`` (cells per scale, claim check, plot axis, report extras) in the
module of its family (``tables``, ``figures``, ``studies``), or in a new module imported below; nothing else
dispatches on experiment names.
"""

from __future__ import annotations

# isort: off
# Each family registers its experiments when imported, and the report lists them in that order.
from saliency_grafting.experiments import tables  # noqa: F401
from saliency_grafting.experiments import figures  # noqa: F401
from saliency_grafting.experiments import studies  # noqa: F401
from saliency_grafting.experiments import localization  # noqa: F401
from saliency_grafting.experiments import speech  # noqa: F401
from saliency_grafting.experiments import compare  # noqa: F401

# isort: on
from saliency_grafting.experiments.core import EXPERIMENTS, SCALES, Cell, Experiment, cells_for, register
from saliency_grafting.experiments.settings import METHODS

__all__ = ["EXPERIMENTS", "METHODS", "SCALES", "Cell", "Experiment", "cells_for", "register"]

"""Scales as registered objects: the dataset, network and budget an experiment's cells are built on.

A scale is one ``Scale`` registered in one file of this package (plus its import line below). Its ``family`` says
which of an experiment's cell builders apply: ``paper`` (the paper's own settings), ``cpu-small`` (the first,
underfitting CPU scale) or ``cpu`` (a CPU scale chosen by measurement so that the network memorises its data; any
dataset). An experiment builds its cells as a function of the scale, so a new ``cpu``-family scale runs every
``cpu`` experiment on its dataset: ``sgraft reproduce table3 --scale cpu-tiny --data-dir DIR``.
"""

from __future__ import annotations

from saliency_grafting.experiments.scales.base import PROTOCOLS, SCALES, Scale, get_scale, register_scale

# isort: off
# Each file registers its scales when imported.
from saliency_grafting.experiments.scales import paper  # noqa: F401
from saliency_grafting.experiments.scales import cifar10  # noqa: F401
from saliency_grafting.experiments.scales import tinyimagenet  # noqa: F401
from saliency_grafting.experiments.scales import fsdd  # noqa: F401

# isort: on

__all__ = ["PROTOCOLS", "SCALES", "Scale", "get_scale", "register_scale"]

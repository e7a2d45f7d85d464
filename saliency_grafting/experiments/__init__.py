"""The paper's experiments: definitions at paper and CPU scale, a resumable runner, and the report."""

from saliency_grafting.experiments.report import aggregate, mean_se, render
from saliency_grafting.experiments.runner import plan, record_path, run_cell, run_experiment, run_key
from saliency_grafting.experiments.suite import EXPERIMENTS, SCALES, Cell, Experiment, cells_for

__all__ = [
    "EXPERIMENTS",
    "SCALES",
    "Cell",
    "Experiment",
    "aggregate",
    "cells_for",
    "mean_se",
    "plan",
    "record_path",
    "render",
    "run_cell",
    "run_experiment",
    "run_key",
]

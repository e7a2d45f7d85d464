"""The paper's experiments: definitions at paper and CPU scale, a resumable runner, and the report."""

from saliency_grafting.experiments.report import aggregate, check_claim, mean_se, render, setting
from saliency_grafting.experiments.runner import plan, record_path, run_cell, run_experiment, run_key
from saliency_grafting.experiments.suite import EXPERIMENTS, SCALES, Cell, Experiment, cells_for, register

__all__ = [
    "EXPERIMENTS",
    "SCALES",
    "Cell",
    "Experiment",
    "aggregate",
    "cells_for",
    "check_claim",
    "mean_se",
    "plan",
    "record_path",
    "register",
    "render",
    "run_cell",
    "run_experiment",
    "run_key",
    "setting",
]

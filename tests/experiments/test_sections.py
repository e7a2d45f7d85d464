"""Report sections: the binomial standard error of one run beside the spread over seeds."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saliency_grafting.experiments.core import ReportContext, get_experiment
from saliency_grafting.experiments.scales import get_scale
from saliency_grafting.experiments.sections import binomial_se


def _context(cells: dict) -> ReportContext:
    rows = sorted({row for row, _ in cells})
    columns = sorted({column for _, column in cells})
    return ReportContext(
        experiment=get_experiment("speech"),
        scale=get_scale("cpu-speech"),
        seeds=2,
        out=Path("."),
        cells=cells,
        rows=rows,
        columns=columns,
        layout={},
        plot_dir=None,
    )


@given(
    errors=st.lists(st.floats(min_value=0, max_value=100), min_size=1, max_size=6),
    n=st.integers(min_value=1, max_value=10_000),
)
def test_binomial_se_matches_the_formula_at_the_mean_error(errors, n):
    cells = {("Vanilla", "a"): {"top1_error": errors, "evaluated": [n] * len(errors)}}
    (line, blank) = binomial_se(_context(cells))
    p = sum(errors) / len(errors) / 100
    assert f"a: ±{100 * math.sqrt(p * (1 - p) / n):.2f} (n = {n}," in line
    assert blank == ""


def test_binomial_se_pools_rows_and_keeps_columns_apart():
    cells = {
        ("SG", "official"): {"top1_error": [10.0], "evaluated": [300]},
        ("Vanilla", "official"): {"top1_error": [30.0], "evaluated": [300]},
        ("SG", "speaker 0"): {"top1_error": [50.0], "evaluated": [500]},
    }
    line = binomial_se(_context(cells))[0]
    assert "official: ±2.31 (n = 300, p = 20.0 %)" in line  # sqrt(0.2 * 0.8 / 300)
    assert "speaker 0: ±2.24 (n = 500, p = 50.0 %)" in line  # sqrt(0.25 / 500)


@pytest.mark.parametrize(
    "cells",
    [
        {("SG", "a"): {"top1_error": [10.0]}},  # records from before the count was kept
        {("SG", "a"): {"top1_error": [10.0, 12.0], "evaluated": [300, 500]}},  # two test sets in one column
        {("SG", "a"): {}},  # nothing finished
    ],
)
def test_binomial_se_says_nothing_without_one_test_set_size(cells):
    assert binomial_se(_context(cells)) == []

"""Report sections: the binomial standard error of one run beside the spread over seeds."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saliency_grafting.experiments.core import ReportContext, cells_for, get_experiment
from saliency_grafting.experiments.scales import get_scale
from saliency_grafting.experiments.sections import binomial_se, protocol_verdicts


def _context(cells: dict, layout: dict | None = None) -> ReportContext:
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
        layout=layout or {},
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
    assert ("s.d. over seeds" in line) == (len(errors) > 1)
    assert blank == ""


def test_binomial_se_pools_rows_and_keeps_columns_apart():
    cells = {
        ("SG", "official"): {"top1_error": [10.0, 14.0], "evaluated": [300, 300]},
        ("Vanilla", "official"): {"top1_error": [30.0, 26.0], "evaluated": [300, 300]},
        ("SG", "speaker 0"): {"top1_error": [50.0], "evaluated": [500]},
    }
    line = binomial_se(_context(cells))[0]
    assert "official: ±2.31 (n = 300, p = 20.0 %), s.d. over seeds ±2.83" in line  # sqrt(0.2 * 0.8 / 300); sqrt(8)
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


def test_held_out_speakers_are_judged_apart_from_the_official_split():
    layout = {(c.row, c.column): c for c in cells_for("speech", get_scale("cpu-speech"))}
    cells = {}
    for row, column in layout:
        best = (row == "Saliency Grafting") == (column == "15 · paper")  # SG best on the official split only
        cells[(row, column)] = {"top1_error": [10.0 if best else 20.0, 12.0 if best else 21.0]}
    (line, _) = protocol_verdicts(_context(cells, layout))
    verdicts = line.removeprefix("Verdict by protocol: ").split("; ")
    assert verdicts[0].startswith("15 per class: holds under the paper protocol only (SG ranks paper 1 of 7")
    assert "15 per class, fold 0, split speaker: does not hold" in verdicts[1]
    assert "15 per class, fold 3, split speaker: does not hold" in verdicts[2]

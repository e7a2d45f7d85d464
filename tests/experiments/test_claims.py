"""Claim checks as building blocks: SG's rank, a row against the others, paired columns, slopes."""

from __future__ import annotations

import statistics

from hypothesis import given
from hypothesis import strategies as st

from saliency_grafting.experiments import check_claim
from saliency_grafting.experiments.claims import SG, against, best_per_column, paired_rows, sg_rank, slopes

FORWARD = "SG + forward saliency"


def test_saliency_check_compares_forward_with_each_backward_source() -> None:
    cells = {(FORWARD, "100 · paper"): {"top1_error": [30.0, 31.0], "seed": [0, 1]},
             ("SG + input gradient", "100 · paper"): {"top1_error": [33.0, 33.0], "seed": [0, 1]},
             ("SG + Grad-CAM", "100 · paper"): {}}  # fmt: skip
    assert check_claim("saliency", cells) == (
        f"{FORWARD} at 100 · paper -2.50 points vs SG + input gradient (lower, 2 s.e. = 1.00, paired).")  # fmt: skip
    paper = {(FORWARD, ""): {}, ("SG + Grad-CAM", ""): {"top1_error": [20.0]}}
    assert check_claim("saliency", paper) == f"{FORWARD} has no finished runs yet."
    paper[(FORWARD, "")] = {"top1_error": [21.0]}
    assert against(FORWARD)(paper) == f"{FORWARD} +1.00 points vs SG + Grad-CAM (no test: fewer than 2 seeds)."


def test_composed_checks_append_their_parts() -> None:
    cells = {("Mixup", "default"): {"top1_error": [40.0, 41.0], "seed": [3, 4]},
             ("Mixup", "tuned"): {"top1_error": [38.0, 40.0], "seed": [3, 4]}}  # fmt: skip
    assert sg_rank()(cells) == "SG has no finished runs yet."
    assert sg_rank(paired_rows("tuned", "default"))(cells) == (
        "Mixup: tuned -1.50 points vs default (lower, 2 s.e. = 1.00, paired).")  # fmt: skip
    assert best_per_column()(cells) == "default: best Mixup; tuned: best Mixup."


@given(st.dictionaries(st.sampled_from(["Vanilla", "Mixup", "CutMix", SG]), st.integers(0, 100), min_size=1))
def test_sg_rank_counts_the_methods_with_lower_mean_error(errors: dict[str, int]) -> None:
    cells = {(row, ""): {"top1_error": [float(e)]} for row, e in errors.items()}
    text = sg_rank()(cells)
    if SG not in errors:
        assert text == "SG has no finished runs yet."
        return
    lower = sum(e < errors[SG] for row, e in errors.items() if row != SG)
    ties_first = sum(e == errors[SG] for row, e in list(errors.items())[: list(errors).index(SG)])
    assert text.startswith(f"SG ranks {lower + ties_first + 1} of {len(errors)}")


@given(st.floats(-5, 5), st.floats(0, 50), st.lists(st.integers(1, 9), min_size=2, max_size=5, unique=True))
def test_slope_of_a_line_is_its_gradient(slope: float, start: float, xs: list[int]) -> None:
    cells = {("Saliency Grafting", str(x)): {"top1_error": [start + slope * x]} for x in xs}
    reported = float(slopes(cells).split(": ")[1].split(" points")[0])
    ys = [start + slope * x for x in xs]
    mx = statistics.fmean(xs)
    expected = sum((x - mx) * y for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    assert abs(reported - expected) <= 0.005 + 1e-9

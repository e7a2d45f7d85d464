"""Claim checks as building blocks: SG's rank, a row against the others, paired columns, slopes."""

from __future__ import annotations

import re
import statistics

from hypothesis import assume, given
from hypothesis import strategies as st

from saliency_grafting.experiments import check_claim
from saliency_grafting.experiments.claims import (
    SG,
    against,
    best_per_column,
    occlusion_ranking,
    paired_rows,
    sg_rank,
    slopes,
    versus,
)

FORWARD = "SG + forward saliency"


def test_saliency_check_compares_forward_with_each_backward_source() -> None:
    cells = {
        (FORWARD, "100 · paper"): {"top1_error": [30.0, 31.0], "seed": [0, 1]},
        ("SG + input gradient", "100 · paper"): {"top1_error": [33.0, 33.0], "seed": [0, 1]},
        ("SG + Grad-CAM", "100 · paper"): {},
    }
    assert check_claim("saliency", cells) == (
        f"{FORWARD} at 100 · paper -2.50 points vs SG + input gradient (lower, 2 s.e. = 1.00, paired)."
    )
    paper = {(FORWARD, ""): {}, ("SG + Grad-CAM", ""): {"top1_error": [20.0]}}
    assert check_claim("saliency", paper) == f"{FORWARD} has no finished runs yet."
    paper[(FORWARD, "")] = {"top1_error": [21.0]}
    assert against(FORWARD)(paper) == f"{FORWARD} +1.00 points vs SG + Grad-CAM (no test: fewer than 2 seeds)."


def test_a_metric_added_post_hoc_pairs_only_on_the_seeds_it_covers() -> None:
    # the reference occlusion of seed 2 is missing for SG: its two values do not line up with the three seeds
    sg = {"top1_error": [40.0, 42.0, 44.0], "seed": [0, 1, 2], "reference_0.25": [60.0, 62.0], "reference_seed": [0, 1]}
    cutmix = {
        "top1_error": [41.0, 42.0, 47.0],
        "seed": [0, 1, 2],
        "reference_0.25": [61.0, 65.0, 60.0],
        "reference_seed": [0, 1, 2],
    }
    cells = {(SG, "100"): sg, ("CutMix", "100"): cutmix}
    unpaired = statistics.stdev([60.0, 62.0]) ** 2 / 2 + statistics.stdev([61.0, 65.0, 60.0]) ** 2 / 3
    assert versus(cells, (SG, "100"), ("CutMix", "100"), "CutMix", "reference_0.25") == (
        f"-1.00 points vs CutMix (within noise, 2 s.e. = {2 * unpaired**0.5:.2f}, unpaired)"
    )
    sg["reference_0.25"].append(58.0)
    sg["reference_seed"].append(2)  # now every seed: paired, differences -1, -3, -2
    se = statistics.stdev([-1.0, -3.0, -2.0]) / 3**0.5
    assert versus(cells, (SG, "100"), ("CutMix", "100"), "CutMix", "reference_0.25") == (
        f"-2.00 points vs CutMix (lower, 2 s.e. = {2 * se:.2f}, paired)"
    )
    # top-1 error itself still pairs on the run seeds: differences -1, 0, -3
    assert versus(cells, (SG, "100"), ("CutMix", "100"), "CutMix").endswith(
        f"2 s.e. = {2 * statistics.stdev([-1.0, 0.0, -3.0]) / 3**0.5:.2f}, paired)"
    )


def test_composed_checks_append_their_parts() -> None:
    cells = {
        ("Mixup", "default"): {"top1_error": [40.0, 41.0], "seed": [3, 4]},
        ("Mixup", "tuned"): {"top1_error": [38.0, 40.0], "seed": [3, 4]},
    }
    assert sg_rank()(cells) == "SG has no finished runs yet."
    assert sg_rank(paired_rows("tuned", "default"))(cells) == (
        "Mixup: tuned -1.50 points vs default (lower, 2 s.e. = 1.00, paired)."
    )
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


def test_overfit_criterion_needs_a_fitted_training_set_and_a_gap() -> None:
    from saliency_grafting.experiments.claims import overfit_criterion

    cells = {  # fits with a gap of 46; training error above 2 %; a gap of 14.5 < 15; no clean training error
        ("wide", "100"): {
            "top1_error": [46.0, 48.0],
            "seed": [0, 1],
            "train_clean_seed": [0, 1],
            "train_clean_top1_error": [0.0, 1.0],
        },
        ("narrow", "100"): {
            "top1_error": [40.0],
            "seed": [0],
            "train_clean_seed": [0],
            "train_clean_top1_error": [3.0],
        },
        ("wide", "250"): {
            "top1_error": [16.0, 30.0],
            "seed": [0, 1],
            "train_clean_seed": [0],
            "train_clean_top1_error": [1.5],
        },  # seed 1 has none: its test error is left out
        ("wide", "50"): {"top1_error": [50.0], "seed": [0], "train_top1_error": [0.0]},
    }
    text = overfit_criterion(cells)
    assert text.startswith("criterion: training error <= 2 % and test error >= 15 points higher; ")
    assert "wide at 100: train 0.50 %, test 47.00 % (meets; seeds 0, 1)" in text
    assert "narrow at 100: train 3.00 %, test 40.00 % (fails; seeds 0)" in text
    assert "wide at 250: train 1.50 %, test 16.00 % (fails; seeds 0)" in text
    assert text.endswith("no clean training error yet: wide at 50.")  # the running error does not count
    assert overfit_criterion({("wide", "50"): {"top1_error": []}}) == "no finished runs yet."


def test_network_experiment_shares_table5s_vanilla_runs() -> None:
    from saliency_grafting.experiments import plan, run_key
    from saliency_grafting.experiments.scales import SCALES

    network = {(c.row, c.column): run_key(cfg.to_dict()) for c, _, cfg in plan("network", "cpu", 1, "/data")}
    table5 = {c.column: run_key(cfg.to_dict()) for c, _, cfg in plan("table5", "cpu", 1, "/data") if c.row == "Vanilla"}
    for size in ("50", "100", "250"):
        epochs = SCALES["cpu"].epochs(int(size))
        assert network[("widths 16-32-64-128", f"{size} ({epochs} epochs)")] == table5[f"{size} · paper"]
        assert network[("widths 8-16-32-64", f"{size} ({epochs} epochs)")] not in table5.values()
    narrow = [cfg for c, _, cfg in plan("network", "cpu", 1, "/data") if c.row == "widths 8-16-32-64"]
    assert {cfg.model_args["widths"][0] for cfg in narrow} == {8}
    assert {cfg.epochs for cfg in narrow} == {280, 120, 44, 66}


@given(st.lists(st.tuples(st.floats(20, 50), st.floats(-3, 3)), min_size=2, max_size=4))
def test_per_seed_slopes_are_tested_against_their_spread(lines: list[tuple[float, float]]) -> None:
    xs, seeds, per_seed = [1, 2, 4], list(range(len(lines))), [slope for _, slope in lines]
    cells = {("PuzzleMix", str(x)): {"seed": seeds, "top1_error": [a + b * x for a, b in lines]} for x in xs}
    mean, se = statistics.fmean(per_seed), statistics.stdev(per_seed) / len(per_seed) ** 0.5
    assume(abs(abs(mean) - 2 * se) > 1e-6)  # not on the edge of the test, where rounding decides
    found = re.search(r"\(per seed ([-+.\d]+), 2 s\.e\. = ([.\d]+): ([a-z ]+); at 4 (.*) vs at 1 \(", slopes(cells))
    assert found is not None
    assert abs(float(found[1]) - mean) <= 0.005 + 1e-9 and abs(float(found[2]) - 2 * se) <= 0.005 + 1e-9
    assert found[3] == ("flat within noise" if abs(mean) <= 2 * se else ("falls" if mean < 0 else "rises"))
    assert abs(float(found[4].split(" points")[0]) - 3 * mean) <= 0.005 + 1e-9  # k = 4 against k = 1: 3 units
    later = {("PuzzleMix", "4"): {**cells["PuzzleMix", "4"], "seed": [9, *seeds[1:]]}}  # seeds that do not line up
    assert "per seed" not in slopes({**cells, **later}) and "points per unit" in slopes({**cells, **later})


def test_table3_checks_sg_against_the_one_pass_methods_at_equal_compute() -> None:
    seeds = [0, 1, 2]
    cells = {
        ("Vanilla", "50 · paper"): {"top1_error": [64.0, 64.2, 64.4], "seed": seeds},
        ("Saliency Grafting", "50 · paper"): {"top1_error": [60.0, 60.5, 61.0], "seed": seeds},
        ("Vanilla", "50 · same compute"): {"top1_error": [63.0, 63.1, 63.2], "seed": seeds},
        ("Mixup", "50 · same compute"): {"top1_error": [59.0, 59.4, 59.8], "seed": seeds},
    }
    text = check_claim("table3", cells)
    assert "SG ranks 1 of 2 at 50 · paper" in text
    assert "SG at 50 · paper -2.60 points vs Vanilla at 50 · same compute (lower" in text
    assert "SG at 50 · paper +1.10 points vs Mixup at 50 · same compute (higher" in text
    assert "same compute" not in check_claim("table1", cells)  # only Table 3 has the column
    # SG's cell in the column is its paper run (two passes already): ranked there, not compared with itself
    cells["Saliency Grafting", "50 · same compute"] = cells["Saliency Grafting", "50 · paper"]
    text = check_claim("table3", cells)
    assert "SG ranks 2 of 3 at 50 · same compute" in text and "vs Saliency Grafting" not in text


def test_occlusion_reads_the_lowest_error_and_apart_from_it_the_least_rise() -> None:
    # SG starts 4 points lower and stays lowest under occlusion, but loses more than CutMix as regions go
    seeds, column = [0, 1, 2], "100 · paper"
    clean = {SG: [40.0, 41.0, 42.0], "CutMix": [44.0, 45.0, 46.0]}
    at_25 = {SG: [55.0, 57.0, 56.0], "CutMix": [56.0, 58.0, 58.0]}
    cells = {
        (row, column): {
            "seed": seeds,
            "top1_error": clean[row],
            "occluded_0": clean[row],
            "occluded_0.25": at_25[row],
            "rise_0.25": [b - a for a, b in zip(clean[row], at_25[row], strict=True)],
        }
        for row in clean
    }
    text = occlusion_ranking(cells)
    rises = [
        (b - a) - (d - c) for a, b, c, d in zip(clean[SG], at_25[SG], clean["CutMix"], at_25["CutMix"], strict=True)
    ]
    se = statistics.stdev(rises) / len(rises) ** 0.5
    assert f"k = 25 %: lowest {SG} (56.00 %), SG -1.33 points vs CutMix" in text
    expected = f"SG {statistics.fmean(rises):+.2f} points vs CutMix (higher, 2 s.e. = {2 * se:.2f}, paired)"
    assert f"rise at k = 25 %: least rise CutMix (12.33 points), {expected}" in text
    assert "reference" not in text  # no record carries the reference ranking

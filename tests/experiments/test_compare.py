"""``sgraft compare``: the comparison as tune and tuned runs on the user's data, its answer, and the command."""

from __future__ import annotations

import dataclasses
import re
import statistics
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saliency_grafting.cli import main
from saliency_grafting.experiments import plan, run_key
from saliency_grafting.experiments.compare import Comparison, comparison_scale, difference, recommend
from saliency_grafting.experiments.scales import SCALES


def test_a_comparison_on_the_cifar10_archive_is_the_cpu_scales_tune_and_tuned() -> None:
    """Same data, network and budget as the cpu scale: the same run keys, so nothing is trained twice."""
    cpu = SCALES["cpu"]
    comparison = Comparison(
        dataset="imagefolder",
        mixers=("none", "mixup", "cutmix", "saliency_grafting", "puzzlemix"),
        per_class=100,
        val_per_class=500,
    )
    scale = comparison_scale(comparison, num_classes=10, fingerprint=cpu.fingerprint)
    for name in ("tune", "tuned"):
        ours = {run_key(c.to_dict()) for _, _, c in plan(name, scale, 3, "/data")}
        theirs = {run_key(c.to_dict()) for _, _, c in plan(name, "cpu", 3, "/data")}
        assert ours == theirs and ours
    other = comparison_scale(comparison, num_classes=10, fingerprint="0123456789abcdef")
    assert not {run_key(c.to_dict()) for _, _, c in plan("tune", other, 1, "/x")} & {
        run_key(c.to_dict()) for _, _, c in plan("tune", "cpu", 1, "/x")
    }


def test_comparison_arguments_are_checked_by_name() -> None:
    with pytest.raises(ValueError, match="mixers: 'augmix' cannot be compared"):
        Comparison(dataset="synthetic", mixers=("augmix",), per_class=5)
    for recipe in ("mixup:x|cutmix", "mixup:-1|cutmix", "mixup:0|cutmix:0"):
        with pytest.raises(ValueError, match=rf"mixers: {re.escape(repr(recipe))} is not a random choice of mixers"):
            Comparison(dataset="synthetic", mixers=("none", recipe), per_class=5)
    for recipe, stage in (("mixup|nope", "nope"), ("augmix|mixup", "augmix")):
        with pytest.raises(ValueError, match=rf"chooses '{stage}', which cannot be compared"):
            Comparison(dataset="synthetic", mixers=("none", recipe), per_class=5)
    with pytest.raises(ValueError, match="recipes must be random choices of mixers"):
        dataclasses.replace(SCALES["cpu"], name="x", recipes=("mixup",))
    np = pytest.importorskip("numpy")
    assert type(Comparison(dataset="synthetic", mixers=("mixup",), per_class=np.int64(5)).per_class) is int
    with pytest.raises(ValueError, match="the paper protocol is the one tuned"):
        Comparison(dataset="synthetic", mixers=("mixup",), per_class=5, protocols=("same compute",))
    with pytest.raises(ValueError, match="per_class must be an int >= 1, got 0"):
        Comparison(dataset="synthetic", mixers=("mixup",), per_class=0)


def test_a_recipe_is_one_more_method_compared_as_given() -> None:
    """A random choice per batch: no tuning runs, its default cell beside the others' under every protocol."""
    recipe = "mixup:0.2|cutmix:0.8"
    comparison = Comparison(
        dataset="synthetic",
        mixers=("none", "mixup", recipe),
        per_class=10,
        val_per_class=5,
        protocols=("paper", "same compute"),
    )
    assert comparison.methods == ["Vanilla", "Mixup", "choice of mixup:0.2, cutmix:0.8"]
    scale = comparison_scale(comparison, num_classes=4, fingerprint=None)
    assert scale.recipes == (recipe,)
    assert all(cell.row != "choice of mixup:0.2, cutmix:0.8" for cell, _, _ in plan("tune", scale, 1, "/d"))
    for name, column in (("tuned", "default"), ("compare", "default · same compute")):
        rows = {cell.row: (cell, config) for cell, _, config in plan(name, scale, 1, "/d") if cell.column == column}
        cell, config = rows["choice of mixup:0.2, cutmix:0.8"]
        vanilla = rows["Vanilla"][1]
        assert config.mixer == recipe and cell.seed_offset == rows["Vanilla"][0].seed_offset
        assert config.epochs == vanilla.epochs  # one sample pass per step, as Vanilla's: the same budget


def test_a_recipes_passes_are_its_choices_weighted_by_probability() -> None:
    from saliency_grafting.experiments.overfit import passes_per_step, passes_text

    assert passes_per_step({"mixer": "mixup:0.2|cutmix:0.8"}) == 1
    assert passes_per_step({"mixer": "saliency_grafting:0.25|cutmix:0.75"}) == 1.25  # SG learns from the clean too
    assert passes_per_step({"mixer": "saliency_grafting|puzzlemix"}) == 2
    assert passes_per_step({"mixer": "mixup|cutmix", "objective": "clean+mixed"}) == 2
    thirds = passes_per_step({"mixer": "mixup|cutmix|saliency_grafting"})
    assert thirds == pytest.approx(4 / 3) and round(200 * 2 / thirds) == 300  # exact: rounding only when printed
    assert passes_text(thirds) == "1.33" and passes_text(2) == "2" and passes_text(21.900000000000002) == "21.90"


def _row(errors: list[float], seeds: list[int] | None = None, passes: int = 100) -> dict:
    return {"errors": errors, "seeds": seeds or list(range(len(errors))), "passes": passes}


def test_the_answer_names_a_winner_only_beyond_noise() -> None:
    clear = {"A": _row([30.0, 31.0, 32.0]), "B": _row([35.0, 36.5, 37.0])}
    assert recommend(clear).startswith("Use A: 31.00 % test error, 5.17 points below the next best (B)")
    tied = {"A": _row([30.0, 33.0, 31.0], passes=200), "B": _row([31.0, 31.0, 32.0], passes=100)}
    assert recommend(tied) == (
        "The data cannot tell A (31.33 %) apart from B (within 2 standard errors); the "
        "cheapest of them is B (100 sample passes per run, in epochs)."
    )
    assert recommend({"A": _row([])}) == "No run has finished yet."


@given(st.lists(st.tuples(st.floats(20, 60), st.floats(20, 60)), min_size=2, max_size=6))
def test_the_paired_difference_is_the_mean_and_se_of_per_seed_differences(pairs: list[tuple[float, float]]) -> None:
    a, b = [x for x, _ in pairs], [y for _, y in pairs]
    diff, se, paired = difference(_row(a), _row(b))
    per_seed = [y - x for x, y in pairs]
    assert paired and diff == pytest.approx(statistics.fmean(per_seed), abs=1e-9)
    assert se == pytest.approx(statistics.stdev(per_seed) / len(per_seed) ** 0.5, abs=1e-9)
    diff, se, paired = difference(_row(a), _row(b, [s + 100 for s in range(len(b))]))
    assert not paired  # no common seed: unpaired


def test_compare_runs_end_to_end_on_generated_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "compare",
        "--dataset",
        "synthetic",
        "--dataset-arg",
        "synthetic_size=[200,60]",
        "--mixers",
        "none",
        "mixup",
        "mixup|cutmix",
        "--model",
        "convnet_small",
        "--model-arg",
        "width=4",
        "--per-class",
        "6",
        "--epochs",
        "2",
        "--batch-size",
        "20",
        "--seeds",
        "2",
        "--out",
        str(tmp_path),
    ]
    main([*args, "--dry-run"])
    listing = capsys.readouterr().out
    # Mixup's 7 tuning runs; Vanilla's, Mixup's and the recipe's default, 2 seeds
    assert listing.count("\ttodo\t") == 7 + 3 * 2
    main(args)
    capsys.readouterr()
    report = (tmp_path / "compare_synthetic.md").read_text()
    assert report.startswith("# Which augmentation for synthetic") and "| Vanilla (default) |" in report
    assert "| choice of mixup, cutmix (default) |" in report
    assert "Tuning (seven configurations per method, chosen on the validation split): Mixup: " in report
    assert (tmp_path / "compare_synthetic.png").exists()
    assert len(list((tmp_path / "records").glob("*.json"))) >= 7 + 3 * 2
    main([*args, "--dry-run"])  # resumable: everything is done now
    assert "\ttodo\t" not in capsys.readouterr().out


def test_compare_errors_name_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["compare", "--dataset", "synthetic", "--mixers", "none", "--per-class", "0", "--out", str(tmp_path)])
    assert info.value.code == 2 and "--per-class: per_class must be an int >= 1, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["compare", "--dataset", "imagefolder", "--out", str(tmp_path)])
    assert "--data-dir is required for --dataset imagefolder" in capsys.readouterr().err

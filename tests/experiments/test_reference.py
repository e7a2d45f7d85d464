"""Post-hoc occlusion by one reference network, and runs evaluated on the validation split, on tiny synthetic runs."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

import saliency_grafting.experiments.report as report_module
import saliency_grafting.experiments.report_cpu as report_cpu_module
import saliency_grafting.experiments.runner as runner_module
from saliency_grafting.data.synthetic import SHAPES
from saliency_grafting.experiments import EXPERIMENTS, Cell, render, run_experiment
from saliency_grafting.experiments.reference import REFERENCE_KEY, add_reference_occlusion, reference_run
from tests.conftest import held_elsewhere

TINY = {
    "dataset": "synthetic",
    "per_class": 6,
    "epochs": 2,
    "warmup_epochs": 1,
    "batch_size": 30,
    "model": "convnet_small",
    "model_args": {"width": 4},
    "eval_every": 1,
}


@pytest.fixture
def tiny_cells(monkeypatch: pytest.MonkeyPatch) -> list[Cell]:
    """Experiments at every scale are replaced by a few tiny synthetic cells (the table6 layout), any seeds allowed."""
    cells = [
        Cell("Vanilla", "100 · paper", {**TINY, "mixer": "none"}),
        Cell("Saliency Grafting", "100 · paper", {**TINY, "mixer": "saliency_grafting"}),
    ]

    def fake(name: str, scale: str, *, records: Path | None = None) -> list[Cell]:
        return cells

    for module in (runner_module, report_module, report_cpu_module):
        monkeypatch.setattr(module, "cells_for", fake)
    for name, experiment in EXPERIMENTS.items():
        monkeypatch.setitem(EXPERIMENTS, name, dataclasses.replace(experiment, min_seeds={}))
    return cells


def test_reference_occlusion_is_added_to_finished_records(tmp_path: Path, tiny_cells: list[Cell]) -> None:
    runs, logs = tmp_path / "runs", []
    records = run_experiment("table6", "cpu", 2, tmp_path, None, runs_dir=runs, log=logs.append)
    assert add_reference_occlusion("table6", "cpu", 2, tmp_path, runs, log=logs.append) == 4
    reference = reference_run("table6", "cpu", runs)
    assert reference == runs / records[0]["key"] and records[0]["config"]["mixer"] == "none"
    after = {r["key"]: json.loads((tmp_path / "records" / f"{r['key']}.json").read_text()) for r in records}
    for before in records:
        record = after[before["key"]]
        assert {k: v for k, v in record.items() if k not in (REFERENCE_KEY, "occlusion_reference")} == before
        assert record["occlusion_reference"]["run"] == reference.name
        assert set(record[REFERENCE_KEY]) == {"0", "0.125", "0.25"}
        assert record[REFERENCE_KEY]["0"] == record["occlusion_top1_error"]["0"]  # nothing removed: the test error
    # the reference network ranks its own test images exactly as its own saliency does
    assert after[reference.name][REFERENCE_KEY] == after[reference.name]["occlusion_top1_error"]
    assert add_reference_occlusion("table6", "cpu", 2, tmp_path, runs, log=logs.append) == 0  # done before
    other = runs / records[1]["key"]  # another reference recomputes every record; a missing run is skipped
    shutil.rmtree(runs / records[3]["key"])
    assert add_reference_occlusion("table6", "cpu", 2, tmp_path, runs, reference=other, log=logs.append) == 3
    assert any("no checkpoint" in line for line in logs)
    text = render("table6", "cpu", 2, tmp_path)
    assert "Ranked by one reference network's forward saliency" in text and "(reference saliency)" in text
    assert "rise at k = 25 % (reference saliency): least rise" in text
    for values in report_module.aggregate("table6", "cpu", 2, tmp_path).values():  # the rise: per seed, over 0 %
        for prefix, key in (("occluded_", "seed"), ("reference_", "reference_seed")):
            rise = values[prefix.replace("occluded_", "") + "rise_0.25"]
            assert len(rise) == len(values[key]) and len(rise) >= 2
            assert rise == [b - a for a, b in zip(values[prefix + "0"], values[prefix + "0.25"], strict=True)]
    assert text.count("| Saliency Grafting |") == 3  # own saliency, reference saliency, compute per cell


def test_reference_needs_run_files(tmp_path: Path, tiny_cells: list[Cell]) -> None:
    (tmp_path / "records").mkdir()
    with pytest.raises(ValueError, match=r"has not finished \(no record\)"):  # the default reference
        add_reference_occlusion("table6", "cpu", 1, tmp_path, tmp_path / "runs")
    with pytest.raises(ValueError, match=r"nowhere: expected a run directory with config\.yaml and checkpoint\.pt"):
        add_reference_occlusion("table6", "cpu", 1, tmp_path, tmp_path / "runs", reference=tmp_path / "nowhere")


def test_validation_runs_never_see_the_test_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    val = 7
    cell = Cell("Vanilla", "default", {**TINY, "mixer": "none", "val_per_class": val})
    monkeypatch.setattr(runner_module, "cells_for", lambda name, scale, *, records=None: [cell])
    (record,) = run_experiment("tune", "cpu", 1, tmp_path, None, log=lambda line: None)
    assert record["evaluated_on"] == "validation" and record["config"]["val_per_class"] == val
    count = val * len(SHAPES)  # the errors are multiples of 1 / count: the validation set, not the 1000 test images
    errors = [point["top1_error"] for point in record["curve"]] + [record["summary"]["final_top5_error"]]
    for error in errors:
        assert error * count / 100 == pytest.approx(round(error * count / 100), abs=1e-6)
    data = runner_module._dataset(runner_module.TrainConfig.from_dict({**cell.config, "seed": 0}), {})
    assert data.evaluation == "validation" and len(data.test_labels) == count


def test_reproduce_cli_adds_reference_occlusion(tmp_path: Path, tiny_cells: list[Cell]) -> None:
    from saliency_grafting.cli import main

    args = ["reproduce", "table6", "--scale", "cpu", "--seeds", "1", "--out", str(tmp_path)]
    main(args)
    assert not any(REFERENCE_KEY in json.loads(p.read_text()) for p in (tmp_path / "records").glob("*.json"))
    main([*args, "--report-only", "--reference-occlusion"])
    records = [json.loads(p.read_text()) for p in (tmp_path / "records").glob("*.json")]
    assert len(records) == 2 and all(REFERENCE_KEY in r for r in records)
    assert "Ranked by one reference network" in (tmp_path / "report_cpu.md").read_text()


def test_train_error_is_measured_on_each_runs_own_subset(tmp_path: Path, tiny_cells: list[Cell]) -> None:
    from saliency_grafting.experiments.reference import TRAIN_KEY, add_train_error

    runs = tmp_path / "runs"
    run_experiment("table6", "cpu", 1, tmp_path, None, runs_dir=runs, log=lambda line: None)
    measured = {}
    for path in (tmp_path / "records").glob("*.json"):  # records made before runs recorded it themselves
        record = json.loads(path.read_text())
        measured[path.name] = record.pop(TRAIN_KEY)
        path.write_text(json.dumps(record))
    assert add_train_error("table6", "cpu", 1, tmp_path, runs, log=lambda line: None) == 2
    assert add_train_error("table6", "cpu", 1, tmp_path, runs, log=lambda line: None) == 0  # done before
    count = TINY["per_class"] * len(SHAPES)  # a multiple of 1 / 60: the training subset, not the 1000 test images
    records = [json.loads(p.read_text()) for p in (tmp_path / "records").glob("*.json")]
    assert {p.name: json.loads(p.read_text())[TRAIN_KEY] for p in (tmp_path / "records").glob("*.json")} == measured
    for record in records:
        error = record[TRAIN_KEY]
        assert 0 <= error <= 100 and error * count / 100 == pytest.approx(round(error * count / 100), abs=1e-6)
    sg = next(r for r in records if r["config"]["mixer"] == "saliency_grafting")
    text = render("table6", "cpu", 1, tmp_path)
    assert f"| Saliency Grafting | 100 · paper | {sg[TRAIN_KEY]:.1f} |" in text  # the gap of a two-pass method


def test_a_gone_reference_run_is_trained_again_from_its_record(tmp_path: Path, tiny_cells: list[Cell]) -> None:
    runs, logs = tmp_path / "runs", []
    records = run_experiment("table6", "cpu", 1, tmp_path, None, runs_dir=runs, log=logs.append)
    reference = reference_run("table6", "cpu", runs)
    shutil.rmtree(reference)
    before = (tmp_path / "records" / f"{reference.name}.json").read_text()
    with pytest.raises(ValueError, match="--retrain-missing trains it again"):
        add_reference_occlusion("table6", "cpu", 1, tmp_path, runs, log=logs.append)
    assert add_reference_occlusion("table6", "cpu", 1, tmp_path, runs, retrain_missing=True, log=logs.append) == 2
    assert any("training it again" in line for line in logs) and (reference / "checkpoint.pt").exists()
    after = json.loads((tmp_path / "records" / f"{reference.name}.json").read_text())
    # the retrained reference is the recorded network: it ranks its own regions as its own saliency did
    assert after[REFERENCE_KEY] == after["occlusion_top1_error"] == records[0]["occlusion_top1_error"]
    assert {k: v for k, v in after.items() if k not in (REFERENCE_KEY, "occlusion_reference")} == json.loads(before)
    shutil.rmtree(reference)  # every record has it now: the gone reference is neither needed nor trained again
    logs.clear()
    assert add_reference_occlusion("table6", "cpu", 1, tmp_path, runs, retrain_missing=True, log=logs.append) == 0
    assert not logs and not reference.exists()


def test_a_retrained_reference_must_match_its_record(tmp_path: Path, tiny_cells: list[Cell]) -> None:
    runs = tmp_path / "runs"
    run_experiment("table6", "cpu", 1, tmp_path, None, runs_dir=runs, log=lambda line: None)
    reference = reference_run("table6", "cpu", runs)
    shutil.rmtree(reference)
    path = tmp_path / "records" / f"{reference.name}.json"
    record = json.loads(path.read_text())
    record["summary"]["final_top1_error"] += 1.0  # a record that this code does not reproduce
    path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match=r"retrained run \w+ has test error"):
        add_reference_occlusion("table6", "cpu", 1, tmp_path, runs, retrain_missing=True, log=lambda line: None)
    assert not reference.exists()  # nothing of the mismatched run is kept, so the next call checks again
    assert not list(runs.glob(".retrain-*"))


def test_retrain_missing_is_refused_with_report_only(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from tests.conftest import run_cli

    args = ["reproduce", "table6", "--out", str(tmp_path / "out"), "--report-only", "--retrain-missing"]
    code, _, err = run_cli([*args, "--reference-occlusion"], capsys)
    assert code == 2 and "--retrain-missing" in err and "--report-only" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_retrain_missing_trains_gone_runs_again(tmp_path: Path, tiny_cells: list[Cell]) -> None:
    from saliency_grafting.experiments.reference import TRAIN_KEY, add_train_error

    runs, logs = tmp_path / "runs", []
    records = run_experiment("table6", "cpu", 1, tmp_path, None, runs_dir=runs, log=logs.append)
    for record in records:  # records made before runs recorded the training error, their run directories lost
        shutil.rmtree(runs / record["key"])
        path = tmp_path / "records" / f"{record['key']}.json"
        old = {k: v for k, v in record.items() if k != TRAIN_KEY}
        old["summary"] = {**old["summary"], "final_top1_error": old["summary"]["final_top1_error"] + 1e-12}
        path.write_text(json.dumps(old))  # older records hold unrounded floats: the same error to 4 decimals
    assert add_train_error("table6", "cpu", 1, tmp_path, runs, log=logs.append) == 0  # skipped by default
    with held_elsewhere(runs / f"{records[1]['key']}.claim"):  # another process is training the second one
        assert add_train_error("table6", "cpu", 1, tmp_path, runs, retrain_missing=True, log=logs.append) == 1
    assert sum("being trained by another process, skipped" in line for line in logs) == 1
    assert add_train_error("table6", "cpu", 1, tmp_path, runs, retrain_missing=True, log=logs.append) == 1
    assert sum("training it again" in line for line in logs) == 3
    for record in records:  # the same networks again: the same training error as when they were first trained
        assert json.loads((tmp_path / "records" / f"{record['key']}.json").read_text())[TRAIN_KEY] == record[TRAIN_KEY]

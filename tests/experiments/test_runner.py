"""The runner: runs claimed by one process at a time, cell selection by row and column, what a record carries."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import saliency_grafting.experiments.runner as runner_module
from saliency_grafting.data.synthetic import SHAPES
from saliency_grafting.experiments import Cell, plan, run_experiment, run_key
from saliency_grafting.experiments.runner import TRAIN_KEY, claim
from tests.conftest import held_elsewhere, run_cli

TINY = {
    "dataset": "synthetic",
    "per_class": 6,
    "epochs": 1,
    "warmup_epochs": 0,
    "batch_size": 30,
    "model": "convnet_small",
    "model_args": {"width": 4},
}
CELLS = [
    Cell("Vanilla", "a", {**TINY, "mixer": "none"}),
    Cell("CutMix", "a", {**TINY, "mixer": "cutmix"}),
    Cell("CutMix", "b", {**TINY, "mixer": "cutmix", "objective": "clean+mixed"}),
]


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> list[Cell]:
    monkeypatch.setattr(runner_module, "cells_for", lambda name, scale, *, records=None: CELLS)
    return CELLS


def test_a_claim_is_exclusive_while_its_holder_lives(tmp_path: Path) -> None:
    with held_elsewhere(tmp_path / "k1.claim"):
        assert claim(tmp_path, "k1") is None  # another live process holds it
        held = claim(tmp_path, "k2")  # another run is free
        assert held is not None and (tmp_path / "k2.claim").read_text() == f"{os.getpid()}\n"
        held.close()
    again = claim(tmp_path, "k1")  # its holder was killed: the kernel released the lock
    assert again is not None and (tmp_path / "k1.claim").read_text() == f"{os.getpid()}\n"
    assert claim(tmp_path, "k1") is None  # and a second claim, even from this process, waits for it to be closed
    again.close()
    assert claim(tmp_path, "k1") is not None


def test_a_claim_left_by_a_finished_process_is_free(tmp_path: Path) -> None:
    with held_elsewhere(tmp_path / "k.claim", seconds=0):
        pass
    held = claim(tmp_path / "new", "k")  # a runs folder that does not exist yet is made
    assert held is not None and claim(tmp_path, "k") is not None  # the stale file is free: its holder is gone


def test_runs_claimed_by_another_process_are_left_to_it(tmp_path: Path, tiny: list[Cell]) -> None:
    runs, lines = tmp_path / "runs", []
    (_, _, taken), *_ = plan("table5", "cpu", 1, None)
    runs.mkdir()
    with held_elsewhere(runs / f"{run_key(taken.to_dict())}.claim"):
        records = run_experiment("table5", "cpu", 1, tmp_path, None, runs_dir=runs, log=lines.append)
    assert [r["config"]["mixer"] for r in records] == ["cutmix", "cutmix"]  # the Vanilla run was left
    assert sum("being trained by another process" in line for line in lines) == 1
    assert sum(line.endswith(": training") for line in lines) == 2  # only the runs this process claimed
    for record in records:  # ours are released
        free = claim(runs, record["key"])
        assert free is not None
        free.close()


def test_a_run_that_fails_releases_its_claim(tmp_path: Path, tiny: list[Cell], monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(runner_module, "run_cell", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_experiment("table5", "cpu", 1, tmp_path, None, runs_dir=tmp_path / "runs", log=lambda line: None)
    (_, _, first), *_ = plan("table5", "cpu", 1, None)
    assert claim(tmp_path / "runs", run_key(first.to_dict())) is not None
    with pytest.raises(TypeError, match="sequences of labels"):  # a string would match by substring
        run_experiment("table5", "cpu", 1, tmp_path, None, rows="Vanilla")


def test_rows_and_columns_select_cells(tmp_path: Path, tiny: list[Cell]) -> None:
    quiet = {"runs_dir": tmp_path / "runs", "log": lambda line: None}
    only = run_experiment("table5", "cpu", 1, tmp_path, None, columns=["b"], **quiet)
    assert [r["config"]["objective"] for r in only] == ["clean+mixed"]
    both = run_experiment("table5", "cpu", 1, tmp_path, None, rows=["CutMix"], **quiet)
    assert len(both) == 2 and {r["config"]["mixer"] for r in both} == {"cutmix"}
    assert len(list((tmp_path / "records").glob("*.json"))) == 2  # nothing else was trained


def test_records_carry_the_clean_training_error(tmp_path: Path, tiny: list[Cell]) -> None:
    records = run_experiment("table5", "cpu", 1, tmp_path, None, runs_dir=tmp_path / "runs", log=lambda line: None)
    count = TINY["per_class"] * len(SHAPES)  # a multiple of 1 / count: the training subset, not the test images
    for record in records:
        errors = record[TRAIN_KEY] * count / 100
        assert 0 <= record[TRAIN_KEY] <= 100 and errors == pytest.approx(round(errors), abs=1e-6)
        assert json.loads((tmp_path / "records" / f"{record['key']}.json").read_text())[TRAIN_KEY] == record[TRAIN_KEY]


def test_reproduce_selects_cells_by_row_and_column(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["reproduce", "table5", "--scale", "cpu", "--seeds", "2", "--out", str(tmp_path), "--dry-run"]
    code, out, _ = run_cli([*args, "--column", "100 · same compute", "--row", "Mixup"], capsys)
    lines = out.splitlines()
    assert code == 0 and len(lines) == 2 and all("\tMixup\t100 · same compute\t" in line for line in lines)
    assert all("epochs 240" in line for line in lines)  # a one-pass method at twice the epochs


@pytest.mark.parametrize(("flag", "label"), [("--column", "100 paper"), ("--row", "Mixupp")])
def test_reproduce_refuses_an_unknown_row_or_column(
    tmp_path: Path, capsys: pytest.CaptureFixture, flag: str, label: str
) -> None:
    out = tmp_path / "out"
    code, _, err = run_cli(["reproduce", "table5", "--out", str(out), "--data-dir", str(tmp_path), flag, label], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert flag in err and repr(label) in err and "did you mean" in err
    assert not out.exists()  # nothing written

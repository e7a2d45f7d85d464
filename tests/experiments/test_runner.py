"""The runner: runs claimed by one process at a time, cell selection by row and column, what a record carries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import saliency_grafting.experiments.runner as runner_module
from saliency_grafting.data.synthetic import SHAPES
from saliency_grafting.experiments import Cell, plan, run_experiment, run_key
from saliency_grafting.experiments.runner import TRAIN_KEY, claim
from tests.conftest import run_cli

TINY = {"dataset": "synthetic", "per_class": 6, "epochs": 1, "warmup_epochs": 0, "batch_size": 30,
        "model": "convnet_small", "model_args": {"width": 4}}  # fmt: skip
CELLS = [Cell("Vanilla", "a", {**TINY, "mixer": "none"}), Cell("CutMix", "a", {**TINY, "mixer": "cutmix"}),
         Cell("CutMix", "b", {**TINY, "mixer": "cutmix", "objective": "clean+mixed"})]  # fmt: skip


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> list[Cell]:
    monkeypatch.setattr(runner_module, "cells_for", lambda name, scale, *, records=None: CELLS)
    return CELLS


@pytest.fixture
def live_pid() -> int:
    """The pid of another process that is alive for the test's duration."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield child.pid
    child.kill()
    child.wait()


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_claim_is_exclusive_while_its_holder_lives(tmp_path: Path, live_pid: int) -> None:
    (tmp_path / "k1.claim").write_text(f"{live_pid}\n")
    assert claim(tmp_path, "k1") is None  # another live process holds it
    assert (tmp_path / "k1.claim").read_text() == f"{live_pid}\n"  # and it is left untouched
    held = claim(tmp_path, "k2")
    assert held == tmp_path / "k2.claim" and held.read_text() == f"{os.getpid()}\n"


def test_a_dead_holders_claim_is_taken_over(tmp_path: Path) -> None:
    (tmp_path / "k.claim").write_text(f"{_dead_pid()}\n")
    held = claim(tmp_path / "", "k")
    assert held is not None and held.read_text() == f"{os.getpid()}\n"


def test_a_garbled_claim_is_not_taken(tmp_path: Path) -> None:
    (tmp_path / "k.claim").write_text("")  # a claim being written: its writer may be alive
    assert claim(tmp_path, "k") is None


def test_runs_claimed_by_another_process_are_left_to_it(tmp_path: Path, tiny: list[Cell], live_pid: int) -> None:
    runs, lines = tmp_path / "runs", []
    (_, _, taken), *_ = plan("table5", "cpu", 1, None)
    runs.mkdir()
    (runs / f"{run_key(taken.to_dict())}.claim").write_text(f"{live_pid}\n")
    records = run_experiment("table5", "cpu", 1, tmp_path, None, runs_dir=runs, log=lines.append)
    assert [r["config"]["mixer"] for r in records] == ["cutmix", "cutmix"]  # the Vanilla run was left
    assert sum("being trained by another process" in line for line in lines) == 1
    assert sorted(p.name for p in runs.glob("*.claim")) == [f"{run_key(taken.to_dict())}.claim"]  # ours released


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

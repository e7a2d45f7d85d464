"""The GPU check's dry run (benchmarks/gpu_check.py): its phases on the CPU, its JSON, ratios, table and bad input."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import sys
import time
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


gc = _load()


def tiny_check(tmp_path: Path, models: int = 1) -> object:
    sizes = dataclasses.replace(gc.DRY, models=gc.DRY.models[:models])
    return gc.Check(sizes, torch.device("cpu"), tmp_path, time.monotonic() + 120)


def test_dry_run_writes_json_and_markdown_and_prints_the_table_last(tmp_path: Path, capsys) -> None:
    code = gc.main(["--dry-run", "--out", str(tmp_path), "--phases", "sync", "training"])
    assert code == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert {"environment", "budget_seconds", "sync", "training", "phase_seconds", "skipped", "failures"} <= set(results)
    assert results["environment"]["dry_run"] is True and results["failures"] == []
    assert [r["method"] for r in results["sync"]] == list(gc.SYNC_METHODS)
    assert all(r["status"].startswith("ran") for r in results["sync"])  # the CPU cannot check syncs, and says so
    training = results["training"]
    assert training["epochs"] == 1 and [r["method"] for r in training["rows"]] == list(gc.TRAIN_METHODS)
    for row in training["rows"]:
        assert 0 <= row["test_top1_error"] <= 100 and row["images_per_s"] > 0
    assert {(s["phase"], s["reason"]) for s in results["skipped"]} == {
        ("cuda_tests", "not asked for (--phases)"),
        ("throughput", "not asked for (--phases)"),
    }
    markdown = (tmp_path / "results.md").read_text()
    assert "## Short training" in markdown and "| saliency_grafting | " in markdown
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == "| verdict | ok |"
    assert lines[-2].startswith("| test error, preactresnet18 1 epochs | vanilla ")
    assert lines[-6:-4] == ["| check | result |", "|---|---|"]


def test_throughput_reports_every_method_with_ratios_to_vanilla(tmp_path: Path) -> None:
    check = tiny_check(tmp_path)
    rows = gc.measure_throughput(check, budget=60)
    assert [r["method"] for r in rows] == list(gc.THROUGHPUT_METHODS)
    vanilla = rows[0]
    assert vanilla["images_ratio"] == 1.0 and vanilla["samples_ratio"] == 1.0
    for row in rows:
        assert "error" not in row, row
        assert row["steps"] == gc.DRY.steps and row["timer"] == "perf_counter"
        assert row["images_per_s"] == pytest.approx(gc.DRY.batch / (row["ms_per_step"] / 1e3))
        assert row["images_ratio"] == pytest.approx(row["images_per_s"] / vanilla["images_per_s"])
        # SG's recipe learns from the clean and the grafted batch: two samples per image; the others one.
        per_image = 2 if row["method"] == "saliency_grafting" else 1
        assert row["samples_per_s"] == pytest.approx(per_image * row["images_per_s"])
    table = gc.summary_table({"throughput": rows, "environment": {"device": "cpu", "dry_run": True}})
    assert "| step, preactresnet18 32 px, batch 4 | vanilla " in table
    assert re.search(r", SG \d+\.\d\d×, SG grafted only \d+\.\d\d×, PuzzleMix \d", table)


def test_time_steps_counts_warmup_and_cuts_steps_to_the_budget() -> None:
    calls = []

    def step() -> int:
        calls.append(1)
        return 7

    timed = gc.time_steps(step, torch.device("cpu"), warmup=3, steps=10, budget=1e9)
    assert len(calls) == 13 and timed["steps"] == 10 and timed["samples"] == 7 and timed["seconds"] >= 0
    calls.clear()
    timed = gc.time_steps(step, torch.device("cpu"), warmup=3, steps=10, budget=0.0)
    assert len(calls) == 5 and timed["steps"] == 2  # never fewer than two timed steps


def test_a_synchronising_step_is_reported_with_its_op(tmp_path: Path, monkeypatch) -> None:
    real = gc.run_step
    seen: dict[int, int] = {}

    def syncing_second_call(trainer, images, labels):
        seen[id(trainer)] = seen.get(id(trainer), 0) + 1
        if trainer.config.mixer == "cutmix" and seen[id(trainer)] == 2:
            raise RuntimeError("called a synchronizing CUDA operation")
        return real(trainer, images, labels)

    monkeypatch.setattr(gc, "run_step", syncing_second_call)
    monkeypatch.setattr(gc, "SYNC_METHODS", {name: gc.SYNC_METHODS[name] for name in ("vanilla", "cutmix")})
    rows = gc.check_no_sync(tiny_check(tmp_path), budget=60)
    assert rows[0]["status"].startswith("ran") and rows[1]["status"] == "raise"
    assert rows[1]["op"].startswith("test_gpu_check.py:") and "syncing_second_call" in rows[1]["op"]
    failed = gc.failures({"sync": rows})
    assert failed == [f"sync: cutmix raise at {rows[1]['op']}"]
    assert "FAILED: sync: cutmix" in gc.summary_table({"sync": rows, "failures": failed})


def test_parse_junit_counts_and_names_failures(tmp_path: Path) -> None:
    report = tmp_path / "r.xml"
    report.write_text(
        '<testsuites><testsuite tests="5" failures="1" errors="1" skipped="1">'
        '<testcase classname="tests.a" name="test_ok"/><testcase classname="tests.a" name="test_bad"><failure/>'
        '</testcase><testcase classname="tests.b" name="test_err"><error/></testcase></testsuite></testsuites>'
    )
    assert gc.parse_junit(report) == {
        "passed": 2,
        "failed": 1,
        "errors": 1,
        "skipped": 1,
        "failing": ["tests.a::test_bad", "tests.b::test_err"],
    }


@given(
    st.lists(st.floats(1e-4, 1.0), min_size=1, max_size=3),
    st.integers(1, 500),
    st.floats(0.0, 3600.0),
    st.integers(1, 50),
)
def test_plan_epochs_fits_the_budget_and_uses_it(times: list[float], steps: int, budget: float, cap: int) -> None:
    seconds = dict(zip(["vanilla", "cutmix", "saliency_grafting"], times, strict=False))
    epochs = gc.plan_epochs(seconds, steps, budget, cap)
    per_epoch = 1.3 * steps * sum(seconds.values())
    evaluations = len(seconds) * 0.5 * steps * seconds["vanilla"]
    assert 0 <= epochs <= cap
    assert epochs * per_epoch + evaluations <= budget + 1e-6 or epochs == 0
    assert epochs == cap or (epochs + 1) * per_epoch + evaluations > budget - 1e-6


def test_bad_arguments_exit_with_code_2_naming_them(tmp_path: Path, capsys) -> None:
    for argv, word in (
        (["--dry-run", "--out", str(tmp_path), "--data", str(tmp_path / "none")], "--data"),
        (["--dry-run", "--out", str(tmp_path), "--budget", "0"], "--budget"),
        (["--dry-run", "--out", str(tmp_path), "--phases", "bogus"], "--phases"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            gc.main(argv)
        assert exit_info.value.code == 2 and word in capsys.readouterr().err
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit):
            gc.main(["--out", str(tmp_path)])
        assert "--dry-run" in capsys.readouterr().err

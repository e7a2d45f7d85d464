"""The sgraft command line on built-in data: the subcommands, YAML config, and one-line errors with exit code 2."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import yaml
from PIL import Image

from saliency_grafting.cli import build_parser, main
from saliency_grafting.cli_input import _HELP
from saliency_grafting.config import TrainConfig, flag
from tests.conftest import FAST, run_cli


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("cli") / "run"
    main(["train", "--epochs", "2", "--warmup-epochs", "1", *FAST, "--out", str(run)])
    return run


def test_train_writes_a_complete_run_dir(trained: Path) -> None:
    assert {p.name for p in trained.iterdir()} == {
        "config.yaml",
        "checkpoint.pt",
        "checkpoint.pt.sha256",
        "metrics.jsonl",
        "summary.json",
        "panel.png",
    }
    config = yaml.safe_load((trained / "config.yaml").read_text())
    assert config["epochs"] == 2 and config["model_args"] == {"width": 4} and config["mixer"] == "saliency_grafting"
    assert Image.open(trained / "panel.png").size[0] > 300


def test_eval_occlusion_and_show(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run_cli(["eval", "--run", str(trained)], capsys)
    assert code == 0
    summary = json.loads((trained / "summary.json").read_text())
    assert json.loads(out)["top1_error"] == pytest.approx(summary["final_top1_error"])
    code, out, _ = run_cli(["occlusion", "--run", str(trained), "--fractions", "0", "0.5"], capsys)
    assert code == 0 and out.count("occluded") == 2
    report = json.loads((trained / "occlusion.json").read_text())
    assert report["rows"][0]["top1_error"] == pytest.approx(summary["final_top1_error"])
    panel = tmp_path / "p.png"
    code, out, err = run_cli(["show", "--mixer", "saliency_grafting", "mixup", "--out", str(panel)], capsys)
    assert code == 0 and panel.exists() and "static image saliency" in err
    code, _, _ = run_cli(["show", "--run", str(trained), "--out", str(tmp_path / "q.png"), "--count", "3"], capsys)
    assert code == 0 and (tmp_path / "q.png").exists()


def test_yaml_sets_defaults_and_flags_override(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("epochs: 1\nmixer: cutmix\nmixer-args: {alpha: 0.5}\nlr: 0.05\n")
    run = tmp_path / "r"
    code, _, err = run_cli(["train", "--config", str(config), "--lr", "0.02", *FAST, "--out", str(run)], capsys)
    assert code == 0, err
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["mixer"] == "cutmix" and saved["lr"] == 0.02 and saved["mixer_args"] == {"alpha": 0.5}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--model", "vgg"], "unknown model 'vgg'; valid names"),
        (["train", "--mixer", "fmix"], "unknown mixer 'fmix'; valid names"),
        (["train", "--dataset", "mnist"], "invalid choice: 'mnist'"),
        (["train", "--dataset", "imagefolder"], "--data-dir: dataset 'imagefolder' needs a data directory"),
        (["train", "--dataset", "imagefolder", "--data-dir", "/nonexistent/x"], "is not a directory"),
        (["train", "--epochs", "2", "--warmup-epochs", "3"], "--warmup-epochs must be <= --epochs"),
        (["train", "--mix-prob", "1.5"], "--mix-prob must be a number in [0, 1]"),
        (["train", "--mixer-arg", "alpha"], "expected KEY=VALUE"),
        (["train", "--mixer-arg", "temprature=2"], "unexpected keyword argument(s) ['temprature']"),
        (["train", "--mixer-arg", "temperature=-1"], "temperature must be a finite number > 0"),
        (["train", "--config", "/nonexistent.yaml"], "cannot read YAML"),
        (["eval", "--run", "/nonexistent"], "expected a run directory"),
        (["occlusion", "--run", "/nonexistent", "--fractions", "0.1"], "expected a run directory"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    code, _, err = run_cli([*args, *(["--out", str(tmp_path / "x")] if args[0] == "train" else [])], capsys)
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "x").exists()  # nothing half-written


def test_corrupt_image_is_named(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    for split in ("train", "test"):
        (tmp_path / "d" / split / "a").mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(tmp_path / "d" / split / "a" / "ok.png")
    (tmp_path / "d" / "train" / "a" / "bad.jpg").write_bytes(b"\xff\xd8 broken")
    code, _, err = run_cli(
        ["train", "--dataset", "imagefolder", "--data-dir", str(tmp_path / "d"), "--out", str(tmp_path / "x")], capsys
    )
    assert code == 2 and "bad.jpg" in err and not (tmp_path / "x").exists()


def test_existing_run_is_not_overwritten(trained: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = run_cli(["train", *FAST, "--out", str(trained)], capsys)
    assert code == 2 and "pass --resume" in err


def test_help_on_every_subcommand(capsys: pytest.CaptureFixture) -> None:
    for command in ("train", "eval", "occlusion", "show"):
        code, out, _ = run_cli([command, "--help"], capsys)
        assert code == 0 and "usage: sgraft " + command in out
    code, out, _ = run_cli(["train", "--help"], capsys)
    assert "--warmup-epochs" in out and "--per-class" in out and "--resume" in out


def test_reproduce_dry_run_marks_finished_runs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from saliency_grafting.experiments import plan, record_path

    args = ["reproduce", "table7", "--scale", "cpu-small", "--seeds", "2", "--out", str(tmp_path), "--dry-run"]
    code, out, _ = run_cli(args, capsys)
    lines = out.splitlines()
    assert code == 0 and len(lines) == 6 and all(line.startswith("todo\ttable7\t") for line in lines)
    at_cpu = run_cli([*args[:3], "cpu", *args[4:]], capsys)[1].splitlines()  # Table 7 asks for 5 seeds at cpu scale
    assert len(at_cpu) == 15 and {line.split("\t")[4] for line in at_cpu} == {f"seed {s}" for s in range(5)}
    _, _, config = plan("table7", "cpu-small", 2, None)[1]
    record_path(tmp_path, config).parent.mkdir(parents=True)
    record_path(tmp_path, config).write_text("{}")
    _, out, _ = run_cli(args, capsys)
    assert [line.split("\t")[0] for line in out.splitlines()] == ["todo", "done", "todo", "todo", "todo", "todo"]


def test_reproduce_report_only_creates_the_out_dir(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "new" / "dir"
    code, text, _ = run_cli(["reproduce", "table7", "--scale", "cpu", "--out", str(out), "--report-only"], capsys)
    assert code == 0 and "0 of 15 distinct runs finished" in text and (out / "report_cpu.md").read_text() in text


def test_every_flag_has_one_line_of_help_and_its_default() -> None:
    assert set(_HELP) == {f.name for f in dataclasses.fields(TrainConfig)}
    parser = build_parser()
    commands = parser.commands
    train = {o: a for a in commands["train"]._actions for o in a.option_strings}
    for f in dataclasses.fields(TrainConfig):
        text = train[flag(f.name)].help
        assert text and "\n" not in text and "(default: " in text, f.name
    for name, command in commands.items():
        page = command.format_help()
        for action in command._actions:
            if action.option_strings and not isinstance(action, argparse._HelpAction):
                assert action.help, f"{name} {action.option_strings}"
                if action.default is not None and action.default is not argparse.SUPPRESS:
                    assert "default" in command._get_formatter()._get_help_string(action), action.option_strings
        assert "(default: " in page


def test_help_shows_the_config_defaults(capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run_cli(["train", "--help"], capsys)
    text = " ".join(out.split())
    assert code == 0 and "(default: 10)" in text and "(default: cosine)" in text and "(default: 0.1)" in text
    assert "(default: runs/<dataset>_<model>_<mixer>_seed<seed>)" in text


def test_one_line_per_epoch_on_stderr_without_a_terminal(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["train", "--epochs", "2", "--warmup-epochs", "1", *[a for a in FAST if a != "--quiet"]]
    code, _, err = run_cli([*args, "--out", str(tmp_path / "a")], capsys)
    lines = err.splitlines()
    assert code == 0 and len(lines) == 2, err
    assert lines[0].startswith("epoch 1/2  loss ") and lines[1].startswith("epoch 2/2  loss ")
    assert all("train err" in line and "test err" in line and "img/s" in line for line in lines)
    assert "mix_" not in lines[0]  # the warm-up epoch does not mix
    code, _, err = run_cli([*args, "--quiet", "--out", str(tmp_path / "b")], capsys)
    assert code == 0 and err == ""


def test_json_outputs_are_rounded(trained: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, _ = run_cli(["eval", "--run", str(trained), "--quiet"], capsys)
    assert code == 0
    for value in json.loads((trained / "eval.json").read_text()).values():
        assert value == round(value, 4)
    _, err = run_cli(["eval", "--run", str(trained)], capsys)[1:]
    assert err.count("\n") == 2 and err.startswith("evaluating:")  # progress: a start and an end line


def test_resume_removes_orphan_temporary_checkpoints(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    orphans = [run / ".checkpoint.pt.x1y2.tmp", run / ".checkpoint.pt.sha256.a9.tmp"]
    for orphan in orphans:
        orphan.write_bytes(b"half a checkpoint")
    (run / "unrelated.tmp").write_text("kept")
    code, _, err = run_cli(["train", "--resume", str(run)], capsys)
    assert code == 0, err
    assert not any(o.exists() for o in orphans) and (run / "unrelated.tmp").exists()


def test_misspelt_flag_and_names_get_a_close_match(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    for args, hint in [
        (["train", "--warmpu-epochs", "2", "--lrr", "0.1"], "did you mean --warmup-epochs, --lr?"),
        (["train", "--mixer", "saliency_graftin"], "did you mean 'saliency_grafting'?"),
        (["train", "--regularizer", "shakdrop"], "did you mean 'shakedrop'?"),
        (["reproduce", "tabel5", "--dry-run"], "did you mean 'table5'?"),
    ]:
        code, _, err = run_cli([*args, "--out", str(tmp_path / "x")], capsys)
        assert code == 2 and hint in err and err.count("\n") == 1, err


@pytest.mark.parametrize("source", ["input_gradient", "grad_cam", "static"])
def test_sg_trains_with_each_saliency_source_from_the_cli(
    source: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    code, _, err = run_cli(
        ["train", "--epochs", "2", "--warmup-epochs", "1", *FAST, "--saliency", source, "--out", str(tmp_path / "run")],
        capsys,
    )
    assert code == 0, err
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["saliency"] == source
    last = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["mixing"] and 0 < last["mix_area"] < 1 and last["mix_empty"] < 0.9


def test_a_vit_trains_with_sg_from_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("timm")
    args = [
        "train",
        "--epochs",
        "2",
        "--warmup-epochs",
        "1",
        "--per-class",
        "10",
        "--batch-size",
        "50",
        "--quiet",
        "--model",
        "timm:vit_tiny_patch16_224",
        "--model-arg",
        "img_size=32",
        "--model-arg",
        "patch_size=4",
        "--model-arg",
        "depth=1",
        "--model-arg",
        "embed_dim=48",
        "--model-arg",
        "num_heads=2",
    ]
    code, _, err = run_cli([*args, "--out", str(tmp_path / "vit")], capsys)
    assert code == 0, err
    last = json.loads((tmp_path / "vit" / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["mixing"] and last["mix_area"] > 0 and last["mix_empty"] < 0.9  # tokens on an 8 x 8 patch grid


def test_saliency_for_a_mixer_without_saliency_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = run_cli(
        ["train", "--mixer", "mixup", "--saliency", "grad_cam", *FAST, "--out", str(tmp_path / "x")], capsys
    )
    assert code == 2 and err.count("\n") == 1 and "uses no saliency" in err and not (tmp_path / "x").exists()

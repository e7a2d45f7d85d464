"""A sweep of bad command-line input: each ends with exit code 2 and one stderr line naming the flag or file, and
leaves nothing behind (no run directory, no config.yaml; a resumed or evaluated run directory is unchanged)."""

from __future__ import annotations

import hashlib
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from PIL import Image

from saliency_grafting.cli import main
from tests.conftest import FAST, run_cli


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("bad") / "run"
    main(["train", "--epochs", "1", *FAST, "--out", str(run)])
    return run


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` with the sha256 of its bytes (empty when ``root`` does not exist)."""
    if not root.exists():
        return {}
    if root.is_file():
        return {root.name: hashlib.sha256(root.read_bytes()).hexdigest()}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


@dataclass
class Case:
    """``make(tmp, run)`` writes what the case needs and returns ``(args, watched path, text the error names)``."""

    make: Callable[[Path, Path], tuple[list[str], Path, str]]
    needs_run: bool = False


def flags(*args: str, named: str) -> Case:
    """``sgraft train ARGS --out TMP/out``: the error names ``named`` and no run directory appears."""
    return Case(lambda tmp, run: (["train", *args, "--out", str(tmp / "out")], tmp / "out", named))


def yaml_case(text: str, named: str) -> Case:
    def make(tmp: Path, run: Path) -> tuple[list[str], Path, str]:
        (tmp / "c.yaml").write_text(text)
        return ["train", "--config", str(tmp / "c.yaml"), "--out", str(tmp / "out")], tmp / "out", named

    return Case(make)


def folder(tmp: Path, *, bad: Callable[[Path], None]) -> Path:
    """An image folder of two classes with one 8 x 8 PNG each per split, then edited by ``bad``."""
    for split in ("train", "test"):
        for cls in ("cat", "dog"):
            (tmp / "d" / split / cls).mkdir(parents=True)
            Image.new("RGB", (8, 8), (40, 80, 120)).save(tmp / "d" / split / cls / "0.png")
    bad(tmp / "d")
    return tmp / "d"


def folder_case(bad: Callable[[Path], None], named: str) -> Case:
    def make(tmp: Path, run: Path) -> tuple[list[str], Path, str]:
        root = folder(tmp, bad=bad)
        return (
            ["train", "--dataset", "imagefolder", "--data-dir", str(root), "--out", str(tmp / "out")],
            tmp / "out",
            named,
        )

    return Case(make)


def bomb(root: Path) -> None:
    # 12 000 x 12 000 one-bit pixels: 18 MB decoded as bits, 432 MB as RGB, a few kB as a PNG
    Image.new("1", (12_000, 12_000)).save(root / "train" / "cat" / "bomb.png", optimize=False)


def empty_class(root: Path) -> None:
    (root / "train" / "emu").mkdir()
    (root / "test" / "emu").mkdir()
    Image.new("RGB", (8, 8)).save(root / "test" / "emu" / "0.png")


def corrupt(how: str, *, keep_checksum: bool) -> Callable[[Path], None]:
    def edit(checkpoint: Path) -> None:
        data = bytearray(checkpoint.read_bytes())
        if how == "truncated":
            data = data[: len(data) // 2]
        elif how == "empty":
            data = bytearray()
        elif how == "garbage":
            data = bytearray(torch.randint(0, 256, (4096,), generator=torch.Generator().manual_seed(0)).tolist())
        elif how == "flipped":
            for offset in (len(data) // 2, len(data) // 2 + 7, len(data) // 2 + 101):
                data[offset] ^= 0xFF
        checkpoint.write_bytes(bytes(data))
        if not keep_checksum:
            checkpoint.with_name("checkpoint.pt.sha256").unlink()

    return edit


def run_case(command: list[str], edit: Callable[[Path], None] | None, *, config: str | None = None) -> Case:
    """``sgraft COMMAND RUN`` on a copy of the trained run, edited; the error names the checkpoint (or ``config``)."""

    def make(tmp: Path, run: Path) -> tuple[list[str], Path, str]:
        copy = tmp / "run"
        shutil.copytree(run, copy)
        if edit is not None:
            edit(copy / "checkpoint.pt")
        if config is not None:
            (copy / "config.yaml").write_text(config)
        named = str(copy / ("config.yaml" if config is not None else "checkpoint.pt"))
        return [*command, str(copy)], copy, named

    return Case(make, needs_run=True)


# A checkpoint written before checksums ("legacy") is caught when it cannot be unpickled; flipped bytes in its
# tensor data need the checksum.
CORRUPTIONS = {
    f"{how}-{'checked' if keep else 'legacy'}": corrupt(how, keep_checksum=keep)
    for how in ("truncated", "empty", "garbage", "flipped")
    for keep in (True, False)
    if keep or how != "flipped"
}

CASES: dict[str, Case] = {
    # types, finiteness and ranges, as flags
    "epochs-ten": flags("--epochs", "ten", named="--epochs"),
    "epochs-0": flags("--epochs", "0", named="--epochs"),
    "lr-nan": flags("--lr", "nan", named="--lr"),
    "lr-inf": flags("--lr", "inf", named="--lr"),
    "lr-negative": flags("--lr", "-0.1", named="--lr"),
    "lr-fast": flags("--lr", "fast", named="--lr"),
    "batch-size-0": flags("--batch-size", "0", named="--batch-size"),
    "eval-every-0": flags("--eval-every", "0", named="--eval-every"),
    "mix-times-negative": flags("--mix-times", "-1", named="--mix-times"),
    "warmup-negative": flags("--warmup-epochs", "-1", named="--warmup-epochs"),
    "warmup-over-epochs": flags("--epochs", "2", "--warmup-epochs", "3", named="--warmup-epochs"),
    "mix-prob-1.5": flags("--mix-prob", "1.5", named="--mix-prob"),
    "mix-prob-nan": flags("--mix-prob", "nan", named="--mix-prob"),
    "label-smoothing-1": flags("--label-smoothing", "1", named="--label-smoothing"),
    "momentum-negative": flags("--momentum", "-0.5", named="--momentum"),
    "weight-decay-negative": flags("--weight-decay", "-1", named="--weight-decay"),
    "gamma-0": flags("--gamma", "0", named="--gamma"),
    "milestones-over-1": flags("--milestones", "0.5", "2", named="--milestones"),
    "per-class-0": flags("--per-class", "0", named="--per-class"),
    "image-size-0": flags("--image-size", "0", named="--image-size"),
    "workers-negative": flags("--workers", "-1", named="--workers"),
    "seed-negative": flags("--seed", "-1", named="--seed"),
    "val-per-class-alone": flags("--val-per-class", "5", named="--val-per-class"),
    "val-per-class-0": flags("--per-class", "5", "--val-per-class", "0", named="--val-per-class"),
    # choices and names
    "dataset-unknown": flags("--dataset", "mnist", named="--dataset"),
    "schedule-unknown": flags("--schedule", "linear", named="--schedule"),
    "amp-unknown": flags("--amp", "fp8", named="--amp"),
    "objective-unknown": flags("--objective", "both", named="--objective"),
    "mix-reduction-unknown": flags("--mix-reduction", "max", named="--mix-reduction"),
    "regularizer-unknown": flags("--regularizer", "dropout", named="--regularizer"),
    "saliency-unknown": flags("--saliency", "magic", named="--saliency"),
    "device-unknown": flags("--device", "tpu", named="--device"),
    "mixer-unknown": flags("--mixer", "mixpu", named="did you mean 'mixup'"),
    "mixer-chain-unknown": flags("--mixer", "cutout+fmix", named="--mixer"),
    "model-unknown": flags("--model", "resnet_tni", named="did you mean 'resnet_tiny'"),
    "flag-misspelt": flags("--epohcs", "3", named="did you mean --epochs"),
    "command-misspelt": Case(lambda tmp, run: (["trian"], tmp / "out", "did you mean 'train'")),
    # keyword arguments of the mixer, model and regulariser
    "mixer-arg-temperature-hot": flags("--mixer-arg", "temperature=hot", named="--mixer-arg temperature=hot"),
    "mixer-arg-no-value": flags("--mixer-arg", "alpha", named="--mixer-arg"),
    "mixer-arg-misspelt": flags("--mixer-arg", "temprature=2", named="--mixer-arg temprature=2"),
    "mixer-arg-negative": flags("--mixer-arg", "temperature=-1", named="--mixer-arg temperature=-1"),
    "model-arg-negative": flags("--model-arg", "width=-1", named="--model-arg width=-1"),
    "model-arg-misspelt": flags("--model-arg", "widht=3", named="--model-arg widht=3"),
    "regularizer-no-slot": flags("--regularizer", "shakedrop", named="--regularizer shakedrop"),
    # data
    "data-dir-missing": flags("--dataset", "imagefolder", named="--data-dir"),
    "data-dir-nonexistent": flags("--dataset", "imagefolder", "--data-dir", "/nonexistent/x", named="/nonexistent/x"),
    "image-bomb": folder_case(bomb, named="bomb.png"),
    "image-corrupt": folder_case(lambda r: (r / "train" / "cat" / "bad.jpg").write_bytes(b"\xff\xd8 no"), "bad.jpg"),
    "class-folder-empty": folder_case(empty_class, named=str(Path("train") / "emu")),
    "no-test-split": folder_case(lambda r: shutil.rmtree(r / "test"), named="test/ or val/"),
    # YAML configs
    "yaml-epochs-ten": yaml_case("epochs: ten\n", named="--epochs"),
    "yaml-lr-fast": yaml_case("lr: fast\n", named="--lr"),
    "yaml-model-null": yaml_case("model: null\n", named="--model"),
    "yaml-quiet-maybe": yaml_case("quiet: maybe\n", named="--quiet"),
    "yaml-warmup-half": yaml_case("warmup_epochs: 0.5\n", named="--warmup-epochs"),
    "yaml-batch-size-bool": yaml_case("batch-size: true\n", named="--batch-size"),
    "yaml-mixer-args-list": yaml_case("mixer_args: [1, 2]\n", named="--mixer-arg"),
    "yaml-unknown-key": yaml_case("epoch: 3\n", named="did you mean 'epochs'"),
    "yaml-not-a-mapping": yaml_case("- epochs\n", named="c.yaml"),
    "yaml-syntax": yaml_case("epochs: [\n", named="c.yaml"),
    "config-missing": Case(lambda tmp, run: (["train", "--config", str(tmp / "no.yaml")], tmp / "out", "no.yaml")),
    # output paths
    "out-is-a-file": Case(lambda tmp, run: (["train", "--out", str(_file(tmp))], _file(tmp), "--out")),
    "out-under-a-file": Case(lambda tmp, run: (["train", "--out", str(_file(tmp) / "x")], _file(tmp), "--out")),
    "out-not-writable": Case(lambda tmp, run: (["train", "--out", "/proc/sgraft-run"], tmp / "out", "--out")),
    "out-holds-a-run": Case(lambda tmp, run: (["train", *FAST, "--out", str(run)], run, "--resume"), needs_run=True),
    # runs and checkpoints
    "resume-not-a-run": Case(lambda tmp, run: (["train", "--resume", str(tmp)], tmp, "--resume")),
    **{f"resume-{name}": run_case(["train", "--resume"], edit) for name, edit in CORRUPTIONS.items()},
    **{f"eval-{name}": run_case(["eval", "--run"], edit) for name, edit in CORRUPTIONS.items()},
    "eval-bad-config": run_case(["eval", "--run"], None, config="epochs: ten\n"),
    "eval-not-a-run": Case(lambda tmp, run: (["eval", "--run", str(tmp / "none")], tmp / "none", "--run")),
    "occlusion-fraction-2": Case(lambda tmp, run: (["occlusion", "--run", str(tmp), "--fractions", "2"], tmp, "--fr")),
    "occlusion-grid-0": Case(lambda tmp, run: (["occlusion", "--run", str(tmp), "--grid", "0"], tmp, "--grid")),
    "show-count-0": Case(lambda tmp, run: (["show", "--count", "0", "--out", str(tmp / "p.png")], tmp, "--count")),
    "show-out-is-a-dir": Case(lambda tmp, run: (["show", "--out", str(tmp)], tmp, "--out")),
}


def _file(tmp: Path) -> Path:
    path = tmp / "a-file"
    if not path.exists():
        path.write_text("not a directory\n")
    return path


def test_the_sweep_covers_every_case_the_issue_lists() -> None:
    listed = {
        "yaml-epochs-ten",
        "yaml-lr-fast",
        "yaml-model-null",
        "mixer-arg-temperature-hot",
        "batch-size-0",
        "eval-every-0",
        "out-is-a-file",
        "out-under-a-file",
        "out-not-writable",
        "resume-truncated-checked",
        "resume-empty-legacy",
        "resume-garbage-legacy",
        "eval-truncated-legacy",
        "eval-garbage-checked",
        "image-bomb",
        "lr-nan",
        "mix-times-negative",
        "warmup-negative",
        "yaml-quiet-maybe",
        "yaml-warmup-half",
        "class-folder-empty",
        "flipped-checked",
    }
    names = set(CASES) | {n.removeprefix("resume-") for n in CASES}
    assert listed <= names
    assert len(CASES) >= 80


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture, request: pytest.FixtureRequest
) -> None:
    case = CASES[name]
    if name == "out-not-writable" and not (sys.platform.startswith("linux") and Path("/proc").is_dir()):
        pytest.skip("needs Linux's /proc, where no directory can be made")
    run = request.getfixturevalue("trained") if case.needs_run else tmp_path / "none"
    args, watched, named = case.make(tmp_path, run)
    before = snapshot(watched)
    code, out, err = run_cli(args, capsys)
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert named in err, err
    assert snapshot(watched) == before  # nothing created, nothing changed
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_device_cuda_without_cuda_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = run_cli(["train", "--device", "cuda", "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and err.count("\n") == 1 and "--device cuda: CUDA is not available" in err
    assert not (tmp_path / "out").exists()

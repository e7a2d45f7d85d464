"""The training loop: recipes, schedules, metrics, checkpoints and exact resume."""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from saliency_grafting.config import TrainConfig
from saliency_grafting.data import load_dataset
from saliency_grafting.engine import Trainer, lr_factor, occlude_top_regions

SMALL = {"per_class": 12, "batch_size": 40, "model_args": {"width": 4}, "quiet": True}


def small_data():
    return load_dataset("synthetic", per_class=12, synthetic_size=(200, 60))


def test_lr_schedules() -> None:
    assert lr_factor("step", 0.0) == 1 and lr_factor("step", 0.6) == pytest.approx(0.1)
    assert lr_factor("step", 0.8) == pytest.approx(0.01)
    assert lr_factor("cosine", 0.0) == 1 and lr_factor("cosine", 0.5) == pytest.approx(0.5)
    assert lr_factor("cosine", 1.0) == pytest.approx(0.0, abs=1e-12)
    assert lr_factor("onecycle", 0.15) == pytest.approx(1) and lr_factor("onecycle", 0.0) == 0
    assert lr_factor("onecycle", 1.0) == 0
    with pytest.raises(ValueError, match="schedule"):
        lr_factor("linear", 0.5)


def test_sg_recipe_warms_up_then_trains_on_clean_and_grafted(tmp_path: Path) -> None:
    config = TrainConfig(epochs=3, warmup_epochs=1, out=str(tmp_path / "run"), **SMALL)
    trainer = Trainer.from_config(config, data=small_data())
    assert trainer.objective == "clean+mixed" and trainer.step.source.name == "forward"
    summary = trainer.fit()
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m["mixing"] for m in lines] == [False, True, True]
    ratio = [m["samples_per_s"] / m["images_per_s"] for m in lines]
    assert ratio[0] == pytest.approx(1) and ratio[1] == pytest.approx(2)  # clean + grafted
    assert all(0 <= m["test_top1_error"] <= 100 and m["test_top5_error"] <= m["test_top1_error"] for m in lines)
    assert summary["final_top1_error"] == lines[-1]["test_top1_error"]
    assert summary["final_train_top1_error"] == lines[-1]["train_top1_error"] is not None  # SG keeps a clean pass
    assert summary["final_train_loss"] == lines[-1]["train_loss"]
    assert {p.name for p in (tmp_path / "run").iterdir()} >= {
        "config.yaml",
        "checkpoint.pt",
        "metrics.jsonl",
        "summary.json",
    }


def test_baseline_objective_is_mixed_only_and_mix_times_multiplies_samples() -> None:
    config = TrainConfig(epochs=1, mixer="cutmix", mix_times=3, **SMALL)
    trainer = Trainer.from_config(config, data=small_data())
    assert trainer.objective == "mixed" and trainer.step.source is None
    metrics = trainer.train_epoch(0)
    assert metrics["samples_per_s"] / metrics["images_per_s"] == pytest.approx(3)
    assert metrics["train_top1_error"] is None  # no clean pass
    vanilla = Trainer.from_config(TrainConfig(epochs=1, mixer="none", **SMALL), data=small_data()).train_epoch(0)
    assert not vanilla["mixing"] and vanilla["samples_per_s"] == pytest.approx(vanilla["images_per_s"])


def test_mix_prob_zero_never_mixes_and_losses_are_finite() -> None:
    trainer = Trainer.from_config(TrainConfig(epochs=1, mix_prob=0.0, **SMALL), data=small_data())
    metrics = trainer.train_epoch(0)
    assert metrics["samples_per_s"] == pytest.approx(metrics["images_per_s"]) and math.isfinite(metrics["train_loss"])


def test_attentive_cutmix_gets_forward_saliency_with_a_saliency_only_pass() -> None:
    trainer = Trainer.from_config(TrainConfig(epochs=1, mixer="attentive_cutmix", **SMALL), data=small_data())
    metrics = trainer.train_epoch(0)
    # The saliency-only clean pass is overhead, not a training sample.
    assert trainer.objective == "mixed" and metrics["samples_per_s"] / metrics["images_per_s"] == pytest.approx(1)


def test_seeded_runs_repeat_exactly() -> None:
    results = [Trainer.from_config(TrainConfig(epochs=2, **SMALL), data=small_data()).fit() for _ in range(2)]
    assert results[0]["final_top1_error"] == results[1]["final_top1_error"]
    a, b = (Trainer.from_config(TrainConfig(epochs=1, seed=s, **SMALL), data=small_data()) for s in (0, 0))
    a.fit()
    b.fit()
    for pa, pb in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_occlusion_zeroes_the_most_salient_regions() -> None:
    images = torch.ones(2, 3, 8, 8)
    saliency = torch.zeros(2, 4, 4)
    saliency[0, 0, 0] = saliency[1, 3, 3] = 5.0
    saliency[0, 1, 1] = 4.0
    out = occlude_top_regions(images, saliency, 2 / 16, grid=4)
    assert (out[0, :, :2, :2] == 0).all() and (out[0, :, 2:4, 2:4] == 0).all() and out[0].sum() == 3 * (64 - 8)
    assert (out[1, :, 6:, 6:] == 0).all()
    assert torch.equal(occlude_top_regions(images, saliency, 0.0, grid=4), images)
    with pytest.raises(ValueError, match="fraction"):
        occlude_top_regions(images, saliency, 1.5, grid=4)


def _cli(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "saliency_grafting.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


RESUME_ARGS = [
    "train",
    "--epochs",
    "8",
    "--per-class",
    "8",
    "--batch-size",
    "40",
    "--model-arg",
    "width=4",
    "--warmup-epochs",
    "2",
    "--quiet",
]


def _stable(path: Path) -> list[dict]:
    timing = {"seconds", "images_per_s", "samples_per_s"}
    return [{k: v for k, v in json.loads(x).items() if k not in timing} for x in path.read_text().splitlines()]


def test_sigkilled_run_resumes_to_the_same_result(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    full = _cli(*RESUME_ARGS, "--out", str(tmp_path / "full"), env=env)
    victim = _cli(*RESUME_ARGS, "--out", str(tmp_path / "cut"), env=env)
    metrics = tmp_path / "cut" / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (metrics.exists() and metrics.read_text().count("\n") >= 1):
        time.sleep(0.005)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert full.wait() == 0, full.stderr.read()
    done = metrics.read_text().count("\n")
    assert 1 <= done < 8, "the run must be killed part-way"
    resumed = _cli("train", "--resume", str(tmp_path / "cut"), env=env)
    assert resumed.wait() == 0, resumed.stderr.read()
    assert _stable(metrics) == _stable(tmp_path / "full" / "metrics.jsonl")
    full_summary = json.loads((tmp_path / "full" / "summary.json").read_text())
    cut_summary = json.loads((tmp_path / "cut" / "summary.json").read_text())
    assert cut_summary["final_top1_error"] == full_summary["final_top1_error"]


def test_two_process_ddp_with_gloo(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with socket.socket() as probe:  # a free port for the rendezvous
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    args = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        port,
        "-m",
        "saliency_grafting.cli",
        "train",
        "--epochs",
        "2",
        "--per-class",
        "8",
        "--batch-size",
        "20",
        "--model-arg",
        "width=4",
        "--warmup-epochs",
        "1",
        "--quiet",
        "--out",
        str(tmp_path / "ddp"),
    ]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2  # rank 0 alone writes
    summary = json.loads((tmp_path / "ddp" / "summary.json").read_text())
    assert summary["final_top1_error"] is not None


@pytest.mark.parametrize(
    ("mixer", "regularizer", "ratio"),
    [
        ("puzzlemix", "none", 1),  # the input-gradient pass (forward + backward) is extra work, not a sample
        ("puzzlemix", "adversarial", 1),
        ("manifold_mixup", "none", 1),
        ("cutout+manifold_mixup", "none", 1),
        ("cutout+mixup", "none", 1),
        ("augmix", "none", 3),  # clean + two AugMix views
        ("cutmix", "shakedrop", 1),
        ("saliency_grafting", "shakedrop", 2),
        ("mixup", "dropblock", 1),
    ],
)
def test_heavy_baselines_and_combinations_train(mixer: str, regularizer: str, ratio: int) -> None:
    mixer_args = {"adv_p": 1.0} if regularizer == "adversarial" else {}
    regularizer = "none" if regularizer == "adversarial" else regularizer
    config = TrainConfig(
        epochs=1,
        mixer=mixer,
        regularizer=regularizer,
        model="resnet_small",
        mixer_args=mixer_args,
        **{**SMALL, "model_args": {"widths": (4, 8, 8)}},
    )
    trainer = Trainer.from_config(config, data=small_data())
    prepared: list = []
    prepare = trainer.mixer.prepare
    trainer.mixer.prepare = lambda step: prepared.append(prepare(step)) or prepared[-1]
    metrics = trainer.train_epoch(0)
    assert math.isfinite(metrics["train_loss"])
    if mixer_args:  # PuzzleMix's step drew adversarial noise (saliency, (draw, noise)) at every step
        assert prepared and all(p[1] is not None for p in prepared) and trainer.model.training
    assert metrics["samples_per_s"] / metrics["images_per_s"] == pytest.approx(ratio)


def test_tensorboard_callback_writes_every_numeric_metric(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    written: list[tuple[str, float, int]] = []

    class FakeWriter:
        def __init__(self, log_dir: str) -> None:
            self.log_dir = log_dir

        def add_scalar(self, key: str, value: float, step: int) -> None:
            written.append((key, value, step))

        def flush(self) -> None:
            pass

    fake = types.ModuleType("torch.utils.tensorboard")
    fake.SummaryWriter = FakeWriter
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake)  # TensorBoard itself is an optional extra
    config = TrainConfig(epochs=2, tensorboard=True, out=str(tmp_path / "r"), **SMALL)
    Trainer.from_config(config, data=small_data()).fit()
    keys = {key for key, _, _ in written}
    assert {"train_loss", "lr", "test_top1_error", "samples_per_s"} <= keys and "mixing" not in keys
    assert {step for _, _, step in written} == {1, 2}
    assert Trainer.from_config(TrainConfig(epochs=1, **SMALL), data=small_data()).callbacks == []


def test_bf16_autocast_and_channels_last_train_on_cpu() -> None:
    config = TrainConfig(epochs=1, amp="bf16", channels_last=True, **SMALL)
    trainer = Trainer.from_config(config, data=small_data())
    images, _ = next(iter(trainer.train_loader))
    assert images.is_contiguous(memory_format=torch.channels_last)
    metrics = trainer.train_epoch(0)
    assert math.isfinite(metrics["train_loss"]) and trainer.evaluate()["top1_error"] <= 100


def test_each_rank_gets_back_its_own_generators_on_resume() -> None:
    trainer = Trainer.from_config(TrainConfig(epochs=1, **SMALL), data=small_data())
    states = []
    for seed in (11, 22):
        g = torch.Generator().manual_seed(seed)
        states.append({"mix_generator": g.get_state(), "rng": {"cpu": torch.manual_seed(seed).get_state()}})
    state = {**trainer.state_dict(0), "ranks": states}
    trainer.rank, trainer.world_size = 1, 2  # as rank 1 of 2 would load the shared checkpoint
    trainer.load_state_dict(state)
    assert torch.equal(trainer.mix_generator.get_state(), states[1]["mix_generator"])
    assert torch.equal(torch.get_rng_state(), states[1]["rng"]["cpu"])


def test_the_mix_coin_does_not_depend_on_the_rank() -> None:
    a = Trainer.from_config(TrainConfig(epochs=1, mix_prob=0.5, **SMALL), data=small_data())
    b = Trainer.from_config(TrainConfig(epochs=1, mix_prob=0.5, **SMALL), data=small_data())
    b.mix_generator.manual_seed(12345)  # another rank's mixing stream
    assert torch.equal(a.coin_generator.get_state(), b.coin_generator.get_state())
    with pytest.raises(ValueError, match="--compile cannot be combined with manifold_mixup"):
        Trainer.from_config(TrainConfig(epochs=1, mixer="manifold_mixup", compile=True, **SMALL), data=small_data())


def test_empty_grafts_are_counted_and_warned_about(capsys: pytest.CaptureFixture) -> None:
    config = TrainConfig(epochs=2, mixer_args={"threshold": 0.999}, **SMALL)  # no region can pass it
    trainer = Trainer.from_config(config, data=small_data())
    metrics = trainer.train_epoch(0)
    assert metrics["mix_empty"] == 1 and metrics["mix_area"] == 0 and metrics["mix_lambda"] == 0
    assert "kept nothing" not in capsys.readouterr().err  # 3 batches: too few to tell a coarse map from chance
    trainer.train_epoch(1)
    assert "100 % of the mixed samples of epochs 1-2 (6 mixed batches) kept nothing" in capsys.readouterr().err
    healthy_trainer = Trainer.from_config(TrainConfig(epochs=2, **SMALL), data=small_data())
    healthy = healthy_trainer.train_epoch(0)
    healthy_trainer.train_epoch(1)
    assert 0 < healthy["mix_area"] < 1 and healthy["mix_empty"] < 0.9
    assert "kept nothing" not in capsys.readouterr().err


def test_a_trainer_built_from_parts_binds_the_data_normalisation_to_the_mixer() -> None:
    from saliency_grafting.engine.trainer import make_loaders
    from saliency_grafting.mixing import create_mixer
    from saliency_grafting.models import create_model

    config = TrainConfig(epochs=1, mixer="puzzlemix", **SMALL)
    data = small_data()
    loaders = make_loaders(data, config, torch.device("cpu"))
    mixer = create_mixer("puzzlemix", data.num_classes)
    Trainer(create_model("convnet_small", data.num_classes, width=4), mixer, loaders, config)
    assert mixer.mean == pytest.approx(tuple(data.mean.tolist()))
    assert mixer.std == pytest.approx(tuple(data.std.tolist()))

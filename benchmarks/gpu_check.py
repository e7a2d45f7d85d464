"""The GPU check: CUDA tests, no host sync, step throughput of every method, a short real training (docs/gpu.md).

    python benchmarks/gpu_check.py --out DIR [--data CIFAR10_DIR] [--budget 420] [--dry-run]

Phases, each with a share of ``--budget`` seconds (an item that would not fit is skipped, with the reason):
(a) the CUDA tests (``pytest -k cuda``); (b) one training step of SG and each light mixer under
``torch.cuda.set_sync_debug_mode("error")``; (c) step throughput (bf16 autocast, channels-last, batch 256) of
vanilla, CutMix, SG, PuzzleMix and Manifold Mixup on PreAct-ResNet-18 and WRN28-10 at 32 px and ResNet-50 at 224 px,
timed with CUDA events; (d) a short training of vanilla, CutMix and SG on the CIFAR-10 JPEGs. It writes
``results.json`` and ``results.md`` to ``--out`` and prints a short table last. ``--dry-run`` runs the same code on
the CPU with tiny sizes and synthetic data. The training step itself is ``train_step.run_step``.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import math
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_report import environment, failures, parse_junit, render_markdown, summary_table
from train_step import METHODS as STEP_METHODS
from train_step import make_trainer, run_step

from saliency_grafting.config import TrainConfig
from saliency_grafting.data import Dataset, load_dataset
from saliency_grafting.engine import Trainer

ROOT = Path(__file__).resolve().parents[1]
THROUGHPUT_METHODS: dict[str, dict[str, str]] = {**STEP_METHODS, "manifold_mixup": {"mixer": "manifold_mixup"}}
SYNC_METHODS: dict[str, dict[str, str]] = {
    "vanilla": {"mixer": "none"},
    "saliency_grafting": {"mixer": "saliency_grafting"},
    "saliency_grafting (grafted only)": {"mixer": "saliency_grafting", "objective": "mixed"},
    **{name: {"mixer": name} for name in ("mixup", "cutmix", "cutout", "saliencymix", "attentive_cutmix")},
}
TRAIN_METHODS: dict[str, dict[str, str]] = {name: STEP_METHODS[name] for name in ("vanilla", "cutmix")} | {
    "saliency_grafting": STEP_METHODS["saliency_grafting"]
}
PHASE_SHARES = {"cuda_tests": 0.15, "sync": 0.08, "throughput": 0.4}  # training gets what is left


@dataclass(frozen=True)
class Sizes:
    """How big the check is: the GPU sizes, or the dry run's tiny ones."""

    batch: int
    warmup: int
    steps: int
    models: tuple[tuple[str, int, int, dict[str, Any]], ...]  # (model, image px, classes, model args)
    sync_batch: int
    train_model: tuple[str, dict[str, Any]]
    max_epochs: int
    synthetic_train: tuple[int, int] = (8, 8)  # the dry run's training data: (train, test) images
    per_class: int | None = None  # the dry run's subset of --data


GPU = Sizes(
    batch=256,
    warmup=5,
    steps=30,
    sync_batch=64,
    max_epochs=30,
    train_model=("preactresnet18", {}),
    models=(("preactresnet18", 32, 10, {}), ("wrn28_10", 32, 10, {}), ("resnet50", 224, 1000, {})),
)
_TINY_PREACT = {"blocks": [1, 1, 1, 1], "widths": [4, 8, 8, 8]}
DRY = Sizes(
    batch=4,
    warmup=1,
    steps=2,
    sync_batch=4,
    max_epochs=1,
    train_model=("preactresnet18", _TINY_PREACT),
    models=(
        ("preactresnet18", 32, 10, _TINY_PREACT),
        ("wrn28_10", 32, 10, {"depth": 10, "width": 1}),
        ("resnet50", 64, 10, {"width_per_group": 8}),
    ),
    per_class=2,
)


@dataclass
class Check:
    """The state of one run: sizes, device, the deadline and everything measured so far."""

    sizes: Sizes
    device: torch.device
    out: Path
    deadline: float
    results: dict[str, Any] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def skip(self, phase: str, item: str, reason: str) -> None:
        self.skipped.append({"phase": phase, "item": item, "reason": reason})
        print(f"[{phase}] skip {item}: {reason}", flush=True)


def random_data(count: int, size: int, classes: int, seed: int = 0) -> Dataset:
    """``count`` random uint8 images (a throughput input: only the shapes matter), labels cycling the classes."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (count, 3, size, size), generator=g, dtype=torch.uint8)
    labels = torch.arange(count) % classes
    return Dataset(
        name="random",
        classes=[str(c) for c in range(classes)],
        mean=torch.full((3,), 0.5),
        std=torch.full((3,), 0.25),
        image_size=size,
        train_images=images,
        train_labels=labels,
        test_images=images[:1].clone(),
        test_labels=labels[:1].clone(),
    )


def build_trainer(
    check: Check, data: Dataset, *, model: str, model_args: dict[str, Any], batch: int, overrides: dict[str, Any]
) -> Trainer:
    """A trainer of ``model`` on ``data`` with bf16 autocast and channels-last, as on a GPU (also on the CPU)."""
    settings = {
        "model": model,
        "model_args": dict(model_args),
        "batch_size": batch,
        "amp": "bf16",
        "quiet": True,
        "channels_last": True,
        "device": str(check.device),
        "workers": 0,
        **overrides,
    }
    if settings.get("mixer") == "puzzlemix" and data.image_size > 64:  # transport on the mask's blocks at 224 px
        settings["mixer_args"] = {"t_size": None, **settings.get("mixer_args", {})}
    torch.manual_seed(0)
    return make_trainer(TrainConfig.from_dict(settings), data)


def release(trainer: Trainer | None) -> None:
    """Remove the trainer's hook, stop PuzzleMix's worker pool, free the device memory."""
    if trainer is None:
        return
    trainer.close()
    stages = getattr(trainer.mixer, "stages", [trainer.mixer])
    for stage in stages:
        pool = getattr(stage, "_pool", None)  # PuzzleMix's graph-cut processes
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
            stage._pool = None
    del trainer
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(step: Callable[[], int], device: torch.device, *, warmup: int, steps: int, budget: float) -> dict:
    """Median seconds per step (CUDA events on a GPU, ``perf_counter`` otherwise) after ``warmup`` untimed steps.

    The timed steps are cut to what fits in ``budget`` seconds at the warm-up's pace (at least 2).
    """
    start = time.perf_counter()
    samples, pace = 0, 0.0
    for _ in range(warmup):  # the pace is the last warm-up step's: the first ones autotune
        synchronize(device)
        tick = time.perf_counter()
        samples = step()
        synchronize(device)
        pace = time.perf_counter() - tick
    steps = max(2, min(steps, int((budget - (time.perf_counter() - start)) / max(pace, 1e-9))))
    cuda = device.type == "cuda"
    marks: list[Any] = []
    wall = time.perf_counter()
    for _ in range(steps):
        if cuda:
            begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            begin.record()
            samples = step()
            end.record()
            marks.append((begin, end))
        else:
            tick = time.perf_counter()
            samples = step()
            marks.append(time.perf_counter() - tick)
    synchronize(device)
    wall = (time.perf_counter() - wall) / steps
    seconds = [b.elapsed_time(e) / 1e3 for b, e in marks] if cuda else marks
    return {
        "seconds": statistics.median(seconds),
        "wall_seconds": wall,
        "steps": steps,
        "samples": samples,
        "timer": "cuda events" if cuda else "perf_counter",
    }


# -- (a) CUDA tests -------------------------------------------------------------------------------------------


def run_cuda_tests(check: Check, budget: float) -> dict[str, Any]:
    """``pytest -k cuda`` over the test suite (skipped on a CPU), with pass/fail counts from its JUnit report."""
    report = check.out / "cuda_tests.xml"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-k",
        "cuda",
        "-p",
        "no:cacheprovider",
        f"--junitxml={report}",
        "--continue-on-collection-errors",
        "tests",
    ]
    result: dict[str, Any] = {"command": " ".join(command[1:]), "cuda": check.device.type == "cuda"}
    missing = [name for name in ("pytest", "hypothesis") if importlib.util.find_spec(name) is None]
    if missing:
        check.skip("cuda_tests", "pytest", f"{' and '.join(missing)} not installed (pip install -e '.[dev]')")
        return {**result, "missing": missing}
    start = time.monotonic()
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=max(budget, 1), check=False)
    except subprocess.TimeoutExpired:
        check.skip("cuda_tests", "pytest", f"did not finish in its {budget:.0f} s budget")
        return {**result, "timed_out": True}
    (check.out / "cuda_tests.log").write_text(done.stdout + done.stderr)
    result |= {"returncode": done.returncode, "seconds": round(time.monotonic() - start, 1)}
    if not report.exists():
        result["error"] = (done.stdout + done.stderr)[-2000:] or f"pytest exited {done.returncode}"
        return result
    result |= parse_junit(report)
    if check.device.type != "cuda":
        result["note"] = "no CUDA device: the CUDA tests are collected and skipped"
    return result


# -- (b) no host synchronisation ------------------------------------------------------------------------------


def sync_site(err: BaseException) -> str:
    """Where a synchronising op was called: the innermost frame in the library, else the innermost frame."""
    frames = traceback.extract_tb(err.__traceback__)
    ours = [f for f in frames if "saliency_grafting" in f.filename] or frames
    frame = ours[-1]
    return f"{Path(frame.filename).name}:{frame.lineno} {frame.name}: {(frame.line or '').strip()}"


def check_no_sync(check: Check, budget: float) -> list[dict[str, Any]]:
    """One warm-up step, then one step under ``set_sync_debug_mode("error")``, for each method of SYNC_METHODS."""
    end = time.monotonic() + budget
    cuda = check.device.type == "cuda"
    model, model_args = check.sizes.train_model
    data = random_data(check.sizes.sync_batch, 32, 10)
    rows = []
    for name, overrides in SYNC_METHODS.items():
        if time.monotonic() > end:
            check.skip("sync", name, "phase budget spent")
            continue
        row: dict[str, Any] = {"method": name}
        trainer = None
        try:
            trainer = build_trainer(
                check, data, model=model, model_args=model_args, batch=check.sizes.sync_batch, overrides=overrides
            )
            images, labels = next(iter(trainer.train_loader))
            run_step(trainer, images, labels)  # warm-up: first-call allocations and autotuning may sync
            synchronize(check.device)
            if cuda:
                torch.cuda.set_sync_debug_mode("error")
            try:
                run_step(trainer, images, labels)
            finally:
                if cuda:
                    torch.cuda.set_sync_debug_mode("default")
            row["status"] = "pass" if cuda else "ran (the sync check needs CUDA)"
        except RuntimeError as err:
            is_sync = "synchroniz" in str(err)
            row |= {"status": "raise" if is_sync else "error", "op": sync_site(err), "message": str(err)[:300]}
        except Exception as err:
            row |= {"status": "error", "op": sync_site(err), "message": f"{type(err).__name__}: {err}"[:300]}
        finally:
            release(trainer)
        print(f"[sync] {name}: {row['status']} {row.get('op', '')}", flush=True)
        rows.append(row)
    return rows


# -- (c) step throughput --------------------------------------------------------------------------------------


def measure_throughput(check: Check, budget: float) -> list[dict[str, Any]]:
    """Step time of every THROUGHPUT_METHODS entry on every model of the sizes; ratios to vanilla per model."""
    end = time.monotonic() + budget
    items = [(m, name) for m in check.sizes.models for name in THROUGHPUT_METHODS]
    rows: list[dict[str, Any]] = []
    for index, ((model, size, classes, model_args), name) in enumerate(items):
        share = (end - time.monotonic()) / (len(items) - index)
        if share < 1.0:
            check.skip("throughput", f"{model} {name}", f"phase budget spent ({share:.1f} s left for it)")
            continue
        row: dict[str, Any] = {"model": model, "image_size": size, "batch": check.sizes.batch, "method": name}
        trainer = None
        try:
            data = random_data(check.sizes.batch, size, classes)
            trainer = build_trainer(
                check,
                data,
                model=model,
                model_args=model_args,
                batch=check.sizes.batch,
                overrides=THROUGHPUT_METHODS[name],
            )
            images, labels = next(iter(trainer.train_loader))
            timed = time_steps(
                lambda t=trainer, x=images, y=labels: run_step(t, x, y),
                check.device,
                warmup=check.sizes.warmup,
                steps=check.sizes.steps,
                budget=share,
            )
            row |= {
                "ms_per_step": 1e3 * timed["seconds"],
                "wall_ms_per_step": 1e3 * timed["wall_seconds"],
                "images_per_s": check.sizes.batch / timed["seconds"],
                "samples_per_s": timed["samples"] / timed["seconds"],
                "steps": timed["steps"],
                "timer": timed["timer"],
            }
        except ImportError as err:  # PuzzleMix without gco-wrapper
            check.skip("throughput", f"{model} {name}", str(err))
            continue
        except Exception as err:
            row["error"] = f"{type(err).__name__}: {err}"[:300]
        finally:
            release(trainer)
        print(
            f"[throughput] {model} {name}: {row.get('ms_per_step', float('nan')):.2f} ms/step {row.get('error', '')}",
            flush=True,
        )
        rows.append(row)
    for row in rows:
        vanilla = next((r for r in rows if r["model"] == row["model"] and r["method"] == "vanilla"), None)
        if vanilla is not None and "images_per_s" in row and "images_per_s" in vanilla:
            row["images_ratio"] = row["images_per_s"] / vanilla["images_per_s"]
            row["samples_ratio"] = row["samples_per_s"] / vanilla["samples_per_s"]
    return rows


# -- (d) a short real training --------------------------------------------------------------------------------


def plan_epochs(step_seconds: dict[str, float], steps_per_epoch: int, budget: float, max_epochs: int) -> int:
    """The most epochs (1 to ``max_epochs``) for which every method's run fits in ``budget`` seconds together,
    at 1.3x the measured step times (loader, bookkeeping) plus one evaluation; 0 when not even one fits."""
    per_epoch = 1.3 * steps_per_epoch * sum(step_seconds.values())
    evaluation = 0.5 * steps_per_epoch * step_seconds.get("vanilla", min(step_seconds.values()))
    return max(0, min(max_epochs, math.floor((budget - len(step_seconds) * evaluation) / max(per_epoch, 1e-9))))


def train_short(check: Check, data_dir: Path | None, budget: float, throughput: list[dict[str, Any]]) -> dict:
    """Vanilla, CutMix and SG trained for the same epochs on the CIFAR-10 JPEGs (synthetic data in a dry run)."""
    end = time.monotonic() + budget
    dry = check.device.type != "cuda"
    model, model_args = check.sizes.train_model
    if data_dir is None and not dry:
        check.skip("training", "all", "no --data: the short training needs the CIFAR-10 JPEGs")
        return {}
    start = time.monotonic()
    if data_dir is None:
        data = load_dataset("synthetic", synthetic_size=check.sizes.synthetic_train)
    else:
        data = load_dataset("imagefolder", data_dir, per_class=check.sizes.per_class if dry else None)
    result: dict[str, Any] = {
        "dataset": data.name if data_dir is None else str(data_dir),
        "model": model,
        "train_images": data.num_train,
        "load_seconds": time.monotonic() - start,
    }
    batch = min(check.sizes.batch, data.num_train)
    steps_per_epoch = data.num_train // batch
    measured = {
        r["method"]: r["ms_per_step"] / 1e3
        for r in throughput
        if r["model"] == model and r["method"] in TRAIN_METHODS and "ms_per_step" in r
    }
    for name in TRAIN_METHODS:
        if name not in measured:  # phase (c) did not time it here: probe a few steps
            probe = build_trainer(
                check, data, model=model, model_args=model_args, batch=batch, overrides=TRAIN_METHODS[name]
            )
            images, labels = next(iter(probe.train_loader))
            measured[name] = time_steps(
                lambda t=probe, x=images, y=labels: run_step(t, x, y), check.device, warmup=2, steps=3, budget=5.0
            )["seconds"]
            release(probe)
    epochs = 1 if dry else plan_epochs(measured, steps_per_epoch, end - time.monotonic(), check.sizes.max_epochs)
    warmup = 1 if epochs >= 4 else 0  # SG's recipe warms up without mixing; the others train as their papers
    result |= {"epochs": epochs, "batch": batch, "sg_warmup_epochs": warmup, "rows": []}
    if epochs == 0:
        check.skip("training", "all", f"one epoch of the three methods does not fit in {budget:.0f} s")
        return result
    for name, overrides in TRAIN_METHODS.items():
        settings = {
            **overrides,
            "epochs": epochs,
            "eval_every": epochs,
            "lr": 0.1,
            "seed": 0,
            "warmup_epochs": warmup if overrides["mixer"] == "saliency_grafting" else 0,
        }
        trainer = None
        row: dict[str, Any] = {"method": name, "epochs": epochs}
        try:
            trainer = build_trainer(check, data, model=model, model_args=model_args, batch=batch, overrides=settings)
            tick = time.monotonic()
            summary = trainer.fit()
            row |= {
                "test_top1_error": summary["final_top1_error"],
                "test_top5_error": summary["final_top5_error"],
                "train_seconds": summary["train_seconds"],
                "wall_seconds": time.monotonic() - tick,
                "images_per_s": summary["images_per_s"],
                "samples_per_s": summary["samples_per_s"],
            }
        except Exception as err:
            row["error"] = f"{type(err).__name__}: {err}"[:300]
        finally:
            release(trainer)
        print(
            f"[training] {name}: {row.get('test_top1_error')} % test error, {row.get('wall_seconds', 0):.0f} s "
            f"{row.get('error', '')}",
            flush=True,
        )
        result["rows"].append(row)
    return result


# -- the run --------------------------------------------------------------------------------------------------


def run_check(check: Check, *, data_dir: Path | None, phases: tuple[str, ...], budget: float) -> dict[str, Any]:
    """Every phase in ``phases`` within ``budget`` seconds; the results as one JSON-ready dict."""
    results = check.results
    results["environment"] = environment(check.device, check.device.type != "cuda", ROOT)
    results["budget_seconds"] = budget
    spent: dict[str, float] = {}
    phase_runs = {
        "cuda_tests": lambda b: run_cuda_tests(check, b),
        "sync": lambda b: check_no_sync(check, b),
        "throughput": lambda b: measure_throughput(check, b),
        "training": lambda b: train_short(check, data_dir, b, results.get("throughput", [])),
    }
    for phase, run in phase_runs.items():
        if phase not in phases:
            check.skip(phase, "all", "not asked for (--phases)")
            continue
        share = check.left() - 5 if phase == "training" else PHASE_SHARES[phase] * budget
        share = min(share, check.left() - 5)
        if share <= 1:
            check.skip(phase, "all", "the run's budget is spent")
            continue
        print(f"[{phase}] budget {share:.0f} s", flush=True)
        tick = time.monotonic()
        results[phase] = run(share)
        spent[phase] = round(time.monotonic() - tick, 1)
    results["phase_seconds"] = spent
    results["skipped"] = check.skipped
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="results folder (created)")
    parser.add_argument("--data", type=Path, help="the unpacked CIFAR-10 JPEG folder (train/, test/)")
    parser.add_argument("--budget", type=float, default=420.0, help="seconds for all phases (default 420)")
    parser.add_argument("--dry-run", action="store_true", help="the same code on the CPU, tiny sizes")
    parser.add_argument(
        "--phases",
        nargs="+",
        default=["cuda_tests", "sync", "throughput", "training"],
        choices=["cuda_tests", "sync", "throughput", "training"],
    )
    args = parser.parse_args(argv)
    if args.data is not None and not (args.data / "train").is_dir():
        parser.error(f"--data {args.data}: expected a folder with train/ and test/ class folders")
    if not args.budget > 0:
        parser.error(f"--budget must be a positive number of seconds, got {args.budget}")
    if not args.dry_run and not torch.cuda.is_available():
        parser.error("no CUDA device: run with --dry-run to exercise the check on the CPU")
    device = torch.device("cpu") if args.dry_run else torch.device("cuda")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    args.out.mkdir(parents=True, exist_ok=True)
    check = Check(DRY if args.dry_run else GPU, device, args.out, time.monotonic() + args.budget)
    results = run_check(check, data_dir=args.data, phases=tuple(args.phases), budget=args.budget)
    results["failures"] = failures(results)
    (args.out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    markdown = render_markdown(results)
    (args.out / "results.md").write_text(markdown)
    print(markdown)
    print(summary_table(results))  # last, so that it ends the log
    for line in results["failures"]:
        print(f"FAILED {line}", file=sys.stderr)
    return 1 if results["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())

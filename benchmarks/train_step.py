"""Training throughput of vanilla, CutMix, Saliency Grafting and PuzzleMix on one network and batch, in one run.

    python benchmarks/train_step.py [--model resnet_tiny] [--batch-size 128] [--steps 40] [--size 32 ...] [--all]
        [--markdown]

Each method runs the harness's own step (``Trainer.step_batch``: SG = clean + grafted batch with the hook's
saliency, or the grafted batch only; PuzzleMix = an extra forward + backward for the input gradient, graph cuts,
transport, the mixed batch; CutMix = the mixed batch) plus backward and SGD, on synthetic data of each ``--size``
(default 32 px; several sizes are interleaved in the same run, each against vanilla at its size). Images/s counts
dataset images per second; samples/s counts every sample forwarded for the loss (SG's clean + grafted).
``--all`` adds every other method of the reproduction suite (mixers and regularisers, as in Table 1).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import yaml

from saliency_grafting.config import TrainConfig
from saliency_grafting.data import Dataset, load_dataset
from saliency_grafting.engine import Trainer
from saliency_grafting.experiments.suite import METHODS as SUITE_METHODS

# name: config overrides. SG's recipe learns from the clean and the grafted batch; "grafted only" keeps the clean
# pass for the saliency alone (no graph, no backward through it), like the other mixers' recipes.
METHODS: dict[str, dict[str, str]] = {
    "vanilla": {"mixer": "none"},
    "cutmix": {"mixer": "cutmix"},
    "saliency_grafting": {"mixer": "saliency_grafting"},
    "saliency_grafting (grafted only)": {"mixer": "saliency_grafting", "objective": "mixed"},
    "puzzlemix": {"mixer": "puzzlemix"},
}


def make_trainer(config: TrainConfig, data: Dataset) -> Trainer:
    """A trainer of ``config`` on ``data``: with ``run_step``, the one place the benchmarks (this file and
    ``gpu_check.py``) touch the Trainer API."""
    return Trainer.from_config(config, data=data)


def run_step(trainer: Trainer, images: torch.Tensor, labels: torch.Tensor) -> int:
    """One training step of the harness (the trainer's losses and their backward, then SGD); returns the samples
    forwarded for the loss."""
    trainer.optimizer.zero_grad(set_to_none=True)
    _, _, samples = trainer.step_batch(images, labels, trainer.config.mixer != "none")
    trainer.optimizer.step()
    return samples


def one_step(trainer: Trainer, images: torch.Tensor, labels: torch.Tensor) -> tuple[float, int]:
    start = time.perf_counter()
    samples = run_step(trainer, images, labels)
    return time.perf_counter() - start, samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet_tiny", help="resnet_tiny takes every regulariser of --all")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--all", action="store_true", help="every method of the reproduction suite")
    parser.add_argument("--size", type=int, action="append", help="image side in pixels, repeatable (default 32)")
    parser.add_argument(
        "--model-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model keyword (YAML value), e.g. --model-arg 'widths=[16,32,64,128]'",
    )
    parser.add_argument("--amp", choices=("none", "bf16"), default="none")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    model_args = {k: yaml.safe_load(v) for k, _, v in (a.partition("=") for a in args.model_arg)}
    methods = dict(METHODS)
    if args.all:
        known = {tuple(sorted(m.items())) for m in methods.values()}
        methods |= {name: m for name, m in SUITE_METHODS.items() if tuple(sorted(m.items())) not in known}
    sizes = args.size or [32]
    trainers, batches = {}, {}
    for size in sizes:
        data = load_dataset("synthetic", image_size=size, synthetic_size=(2 * args.batch_size, 100))
        for name, overrides in methods.items():
            torch.manual_seed(0)
            config = TrainConfig(
                model=args.model,
                model_args=model_args,
                batch_size=args.batch_size,
                quiet=True,
                amp=args.amp,
                channels_last=args.channels_last,
                **overrides,
            )
            trainers[name, size] = make_trainer(config, data)
        batches[size] = next(iter(trainers["vanilla", size].train_loader))
    times: dict[tuple[str, int], list[float]] = {key: [] for key in trainers}
    samples: dict[tuple[str, int], int] = {}
    for step in range(args.steps + 3):  # interleaved, so that load on the machine hits every method alike
        for (name, size), trainer in trainers.items():
            seconds, samples[name, size] = one_step(trainer, *batches[size])
            if step >= 3:
                times[name, size].append(seconds)
    rows = {}
    for key in trainers:
        seconds = statistics.median(times[key])
        rows[key] = (args.batch_size / seconds, samples[key] / seconds, seconds)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.model} {model_args or ''}, "
        f"amp {args.amp}, channels-last {args.channels_last}, batch {args.batch_size}, "
        f"median of {args.steps} interleaved steps"
    )
    if args.markdown:
        print("| method | ms / step | images/s | samples/s | images/s ÷ vanilla | samples/s ÷ vanilla |")
        print("|---|---:|---:|---:|---:|---:|")
    for (name, size), (images_s, samples_s, seconds) in rows.items():
        vanilla = rows["vanilla", size][0]
        label = name if len(sizes) == 1 else f"{name} @ {size} px"
        if args.markdown:
            print(
                f"| {label} | {1e3 * seconds:.1f} | {images_s:.0f} | {samples_s:.0f} | {images_s / vanilla:.2f} | "
                f"{samples_s / vanilla:.2f} |"
            )
        else:
            print(
                f"{label:40} {1e3 * seconds:8.1f} ms/step {images_s:8.0f} images/s {samples_s:8.0f} samples/s "
                f"{images_s / vanilla:5.2f}x vanilla"
            )
    for size in sizes:
        for name in ("saliency_grafting", "saliency_grafting (grafted only)"):
            ratio = rows["puzzlemix", size][2] / rows[name, size][2]
            print(f"{name} step is {ratio:.2f}x faster than a PuzzleMix step at {size} px")


if __name__ == "__main__":
    main()

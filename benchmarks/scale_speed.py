"""What makes a CPU-scale run cheaper: training throughput of the 701 k PreAct-ResNet by image size, precision,
memory format, batch size, threads and ``torch.compile``, side by side in one run (ratios to the first setting).

    OMP_NUM_THREADS=1 python benchmarks/scale_speed.py [--sizes 32 64] [--steps 15] [--threads 1] [--compile]

Each setting trains ``--steps`` vanilla steps (after 3 warm-up steps) of the harness's own step on generated images
and reports images per second (the median step). Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from saliency_grafting.config import TrainConfig
from saliency_grafting.data import load_dataset
from saliency_grafting.engine import Trainer

NETWORK = {"model": "preactresnet18", "model_args": {"widths": [16, 32, 64, 128]}, "quiet": True, "device": "cpu"}


def throughput(size: int, batch: int, steps: int, mixer: str = "none", **settings: object) -> float:
    """Median images per second of ``steps`` training steps at ``size`` px and ``batch`` images."""
    data = load_dataset("synthetic", image_size=size, synthetic_size=(batch, 10))
    config = TrainConfig.from_dict({**NETWORK, "mixer": mixer, "batch_size": batch, **settings})
    trainer = Trainer.from_config(config, data=data)
    images, labels = next(iter(trainer.train_loader))
    times = []
    for step in range(steps + 3):
        start = time.perf_counter()
        trainer.optimizer.zero_grad(set_to_none=True)
        trainer.step_batch(images, labels, mixer != "none")
        trainer.optimizer.step()
        if step >= 3:
            times.append(time.perf_counter() - start)
    return batch / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (slow to build)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings: list[tuple[str, dict[str, object]]] = [
        ("fp32", {"amp": "none"}),
        ("bf16 + channels-last", {"amp": "bf16", "channels_last": True}),
        ("bf16 + channels-last, batch 256", {"amp": "bf16", "channels_last": True, "batch_size": 256}),
        ("bf16 + channels-last, batch 64", {"amp": "bf16", "channels_last": True, "batch_size": 64}),
    ]
    if args.compile:
        settings.append(("bf16 + channels-last + compile", {"amp": "bf16", "channels_last": True, "compile": True}))
    print(f"threads {args.threads}; vanilla training step; images/s (ratio to fp32 at the first size)")
    first = None
    for size in args.sizes:
        for label, extra in settings:
            batch = int(extra.pop("batch_size", 128))
            rate = throughput(size, batch, args.steps, **extra)
            first = first or rate
            print(f"{size:4d} px  {label:36s} {rate:8.1f} img/s  {rate / first:5.2f}x", flush=True)


if __name__ == "__main__":
    main()

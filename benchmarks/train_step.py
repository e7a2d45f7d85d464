"""Training throughput of vanilla, CutMix, Saliency Grafting and PuzzleMix on one network and batch, in one run.

    python benchmarks/train_step.py [--model convnet_small] [--batch-size 128] [--steps 30] [--markdown]

Each method runs the harness's own step (``Trainer.train_step``: SG = clean + grafted batch with the hook's
saliency; PuzzleMix = an extra forward + backward for the input gradient, graph cuts, transport, the mixed batch;
CutMix = the mixed batch) plus backward and SGD, on synthetic 32 px data. Images/s counts dataset images per
second; samples/s counts every sample forwarded for the loss (SG's clean + grafted).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from saliency_grafting.config import TrainConfig
from saliency_grafting.data import load_dataset
from saliency_grafting.engine import Trainer

METHODS = {"vanilla": "none", "cutmix": "cutmix", "saliency_grafting": "saliency_grafting", "puzzlemix": "puzzlemix"}


def step_seconds(trainer: Trainer, steps: int) -> tuple[float, int]:
    batches = iter(trainer.train_loader)
    images, labels = next(batches)
    times, samples = [], 0
    for step in range(steps + 3):
        start = time.perf_counter()
        loss, _, samples = trainer.train_step(images, labels, mixing=trainer.config.mixer != "none")
        trainer.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        trainer.optimizer.step()
        if step >= 3:
            times.append(time.perf_counter() - start)
    return statistics.median(times), samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="convnet_small")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    data = load_dataset("synthetic", synthetic_size=(2 * args.batch_size, 100))
    rows = {}
    for name, mixer in METHODS.items():
        torch.manual_seed(0)
        config = TrainConfig(model=args.model, mixer=mixer, batch_size=args.batch_size, quiet=True)
        seconds, samples = step_seconds(Trainer(config, data=data), args.steps)
        rows[name] = (args.batch_size / seconds, samples / seconds, seconds)
    vanilla = rows["vanilla"][0]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.model}, batch {args.batch_size}, "
          f"median of {args.steps} steps")  # fmt: skip
    if args.markdown:
        print("| method | ms / step | images/s | samples/s | images/s ÷ vanilla |\n|---|---:|---:|---:|---:|")
    for name, (images_s, samples_s, seconds) in rows.items():
        if args.markdown:
            print(f"| {name} | {1e3 * seconds:.1f} | {images_s:.0f} | {samples_s:.0f} | {images_s / vanilla:.2f} |")
        else:
            print(f"{name:18} {1e3 * seconds:8.1f} ms/step {images_s:8.0f} images/s {samples_s:8.0f} samples/s "
                  f"{images_s / vanilla:5.2f}x vanilla")  # fmt: skip
    speedup = rows["puzzlemix"][2] / rows["saliency_grafting"][2]
    print(f"SG step is {speedup:.2f}x faster than a PuzzleMix step")


if __name__ == "__main__":
    main()

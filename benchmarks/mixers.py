"""Median time per call of every mixer, as ratios to ``images.clone()``, to CutMix and to timm's CutMix (its
``Mixup(cutmix_alpha=1)`` in cutmix mode, which mixes the batch in place: timed with the clone that keeps the input,
as a functional op must), all measured in the same run.

python benchmarks/mixers.py [--repeats 30] [--threads 2] [--markdown]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable
from functools import partial

import torch

import saliency_grafting as sg

SHAPES = [((128, 3, 32, 32), 8), ((64, 3, 224, 224), 7)]  # image batch, side of the last conv stage's map


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, median of {args.repeats} calls")
    rows = []
    for shape, feat in SHAPES:
        g = torch.Generator().manual_seed(0)
        images = torch.randn(shape, generator=g)
        labels = torch.randint(0, 100, (shape[0],), generator=g)
        saliency = torch.rand(shape[0], feat, feat, generator=g)
        gen = torch.Generator().manual_seed(1)
        clone = median_ms(images.clone, args.repeats)
        timings = {}
        pixel_saliency = torch.rand(shape[0], *shape[-2:], generator=g)
        for name in sg.MIXERS:
            kwargs = {"t_size": None} if name == "puzzlemix" and shape[-1] > 64 else {}
            mixer = sg.create_mixer(name, 100, **kwargs)
            sal = {sg.SaliencyKind.FORWARD: saliency, sg.SaliencyKind.INPUT_GRADIENT: pixel_saliency}
            op = partial(mixer, images, labels, sal.get(mixer.saliency_kind), generator=gen)
            if isinstance(mixer, sg.AugMix):  # its work is making the two views of the JSD loss
                op = partial(mixer.views, images, torch.zeros(3), torch.ones(3), gen)
            timings[name] = median_ms(op, args.repeats if name not in ("augmix", "puzzlemix") else 5)
        try:
            from timm.data import Mixup

            timm_cutmix = Mixup(mixup_alpha=0.0, cutmix_alpha=1.0, num_classes=100)
            timm_op = partial(lambda op, x, y: op(x.clone(), y), timm_cutmix, images, labels)
            timings["timm CutMix (clone + op)"] = median_ms(timm_op, args.repeats)
        except ImportError:  # the timm extra
            pass
        reference = timings.get("timm CutMix (clone + op)", math.nan)
        for name, ms in timings.items():
            rows.append((shape, name, ms, ms / clone, ms / timings["cutmix"], ms / reference))
        rows.append((shape, "images.clone()", clone, 1.0, clone / timings["cutmix"], clone / reference))
    if args.markdown:
        print("| batch | mixer | ms / call | × clone | × CutMix | × timm CutMix |\n|---|---|---:|---:|---:|---:|")
        for shape, name, ms, rc, rcm, rt in rows:
            print(f"| {list(shape)} | {name} | {ms:.3f} | {rc:.2f} | {rcm:.2f} | {rt:.2f} |")
    else:
        for shape, name, ms, rc, rcm, rt in rows:
            print(f"{list(shape)!s:20} {name:24} {ms:9.3f} ms  {rc:6.2f}x clone  {rcm:6.2f}x cutmix  {rt:6.2f}x timm")


if __name__ == "__main__":
    main()

"""Forward saliency on every torchvision classification model and a list of timm families, at 32 px and native size.

python benchmarks/saliency_models.py [--sizes 32 224] [--only resnet18 vit_tiny] [--threads 1] [--markdown]

Per model and input size: the layer ``ForwardSaliency`` chooses (``min_size=4``), its layout and map size, and what
``SaliencyGrafting`` does with it on random input (batch 2, 8 draws): the mean grafted area and the share of
non-empty grafts. A model that cannot work gets its reason (the error it raises) instead.
"""

from __future__ import annotations

import argparse
import gc
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
import torchvision
from torch import nn

import saliency_grafting as sg

TIMM = [
    "resnet10t",
    "resnet18",
    "efficientnet_b0",
    "convnext_atto",
    "regnetx_002",
    "mobilenetv3_small_050",
    "vit_tiny_patch16_224",
    "deit_tiny_patch16_224",
    "deit_tiny_distilled_patch16_224",
    "swin_tiny_patch4_window7_224",
]
NATIVE = {"inception_v3": 299}  # every other torchvision builder runs at 224 px
TOKEN_PREFIXES = ("vit_", "deit_", "swin_", "maxvit_")


def torchvision_builder(name: str, size: int) -> Callable[[], nn.Module]:
    kwargs: dict[str, Any] = {"num_classes": 10}
    if name.startswith("vit_"):
        kwargs["image_size"] = size  # torchvision ViTs are built for one input size
    if name in ("googlenet", "inception_v3"):
        kwargs["init_weights"] = False  # scipy's truncated normal init is slow and changes nothing here
    return lambda: torchvision.models.get_model(name, **kwargs)


def timm_builder(name: str, size: int) -> Callable[[], nn.Module]:
    import timm

    kwargs: dict[str, Any] = {"pretrained": False, "num_classes": 10}
    if size != 224 and name.startswith(("vit_", "deit_")):
        kwargs.update(img_size=size, patch_size=4)  # a CIFAR-size ViT: 8x8 patches of 4 px
    if size != 224 and name.startswith("swin_"):
        kwargs.update(img_size=size, patch_size=2, window_size=4)  # 16x16 tokens, windows of 4
    return lambda: timm.create_model(name, **kwargs)


def native_size(name: str) -> int:
    return NATIVE.get(name, 224)


def probe(build: Callable[[], nn.Module], size: int, draws: int) -> dict[str, Any]:
    """Build, run one training-mode forward pass of a batch of 2, graft ``draws`` times."""
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(2, 3, size, size, generator=generator)
    labels = torch.tensor([0, 1])
    try:
        model = build().train()
    except Exception as error:  # a builder that refuses the size
        return {"reason": f"builder: {type(error).__name__}: {str(error).splitlines()[0][:110]}"}
    row: dict[str, Any] = {"params_m": sum(p.numel() for p in model.parameters()) / 1e6}
    try:
        with sg.ForwardSaliency(model) as hook:
            model(images)
            saliency = hook.saliency
            layer = hook.feature_layer
    except Exception as error:
        row["reason"] = f"{type(error).__name__}: {str(error).splitlines()[0][:160]}"
        return row
    assert layer is not None
    mixer = sg.SaliencyGrafting(num_classes=10)
    areas = torch.stack(
        [
            mixer.sample_params(images, labels, saliency, generator=generator).mask.flatten(1).mean(1)
            for _ in range(draws)
        ]
    )
    size_text = f"{saliency.shape[1]}x{saliency.shape[2]}"
    row.update(layer=layer.name, layout=layer.layout, map=size_text, area=areas.mean().item())
    row["nonempty"] = (areas > 0).float().mean().item()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["32", "native"], help="input sides, 'native' = 224/299")
    parser.add_argument("--only", nargs="*", default=None, help="substrings of the model names to run")
    parser.add_argument("--draws", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    warnings.filterwarnings("ignore")
    models: list[tuple[str, str, Callable[[str, int], Callable[[], nn.Module]]]] = [
        ("torchvision", name, torchvision_builder) for name in torchvision.models.list_models(module=torchvision.models)
    ]
    try:
        import timm  # noqa: F401

        models += [("timm", name, timm_builder) for name in TIMM]
    except ImportError:
        print("timm is not installed: its models are skipped")
    if args.only:
        models = [m for m in models if any(s in m[1] for s in args.only)]
    header = ["library", "model", "input", "layer", "layout", "map", "area", "non-empty", "s"]
    print(("| " + " | ".join(header) + " |") if args.markdown else "  ".join(header))
    if args.markdown:
        print("|" + "---|" * len(header))
    counts = {"works": 0, "cannot": 0}
    for library, name, builder in models:
        for side in args.sizes:
            size = native_size(name) if side == "native" else int(side)
            start = time.perf_counter()
            row = probe(builder(name, size), size, args.draws)
            seconds = time.perf_counter() - start
            if "reason" in row:
                counts["cannot"] += 1
                cells = [library, name, str(size), "-", "-", "-", "-", "-", f"{seconds:.1f}"]
                cells[3] = "cannot: " + row["reason"]
            else:
                counts["works"] += 1
                cells = [
                    library,
                    name,
                    str(size),
                    row["layer"],
                    row["layout"],
                    row["map"],
                    f"{row['area']:.3f}",
                    f"{row['nonempty']:.2f}",
                    f"{seconds:.1f}",
                ]
            print(("| " + " | ".join(cells) + " |") if args.markdown else "  ".join(cells), flush=True)
            gc.collect()
    print(f"{counts['works']} model/size pairs work, {counts['cannot']} cannot (reasons above)")


if __name__ == "__main__":
    main()

"""Figure 1-style panels: sources, destinations and the samples several mixers make of the same pairs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image, ImageDraw
from torch import Tensor

from saliency_grafting.mixing import Mixer, SaliencyKind

__all__ = ["mixing_panel"]


def _to_pil(image: Tensor, mean: Tensor, std: Tensor, scale: int) -> Image.Image:
    pixels = (image.float().cpu() * std.view(-1, 1, 1) + mean.view(-1, 1, 1)).clamp(0, 1)
    array = (pixels * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    picture = Image.fromarray(array)
    return picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)


def mixing_panel(
    mixers: dict[str, Mixer],
    images: Tensor,
    labels: Tensor,
    classes: Sequence[str],
    mean: Tensor,
    std: Tensor,
    path: str | Path,
    *,
    saliency: Tensor | None = None,
    seed: int = 0,
) -> Path:
    """Write a PNG: row 1 the sources ``x_i``, row 2 the destinations ``x_j``, then one row per mixer.

    Every mixer mixes the same pairs; under each mixed image its label weights (``lambda`` for ``y_i``). Mixers of
    forward or input-gradient saliency use ``saliency`` (``[B, h, w]``), which the caller provides.
    """
    count = images.shape[0] // 2
    src, dst = images[:count], images[count : 2 * count]
    batch, batch_labels = torch.cat([src, dst]), torch.cat([labels[:count], labels[count : 2 * count]])
    perm = torch.cat([torch.arange(count, 2 * count), torch.arange(count)])
    scale = max(1, 96 // images.shape[-1])
    cell_w, cell_h, label_h, name_w = images.shape[-1] * scale, images.shape[-2] * scale, 28, 150
    rows: list[tuple[str, list[Image.Image], list[str]]] = [
        ("source x_i", [_to_pil(x, mean, std, scale) for x in src], [classes[y] for y in labels[:count]]),
        ("destination x_j", [_to_pil(x, mean, std, scale) for x in dst], [classes[y] for y in labels[count:]]),
    ]
    for name, mixer in mixers.items():
        needs = mixer.saliency_kind in (SaliencyKind.FORWARD, SaliencyKind.INPUT_GRADIENT)
        sal = saliency[: 2 * count] if needs and saliency is not None else None
        params = mixer.sample_params(batch, batch_labels, sal, generator=torch.Generator().manual_seed(seed), perm=perm)
        mixed, _ = mixer.apply(batch, batch_labels, params)
        lam = params.lam[:count].tolist()
        rows.append((name, [_to_pil(x, mean, std, scale) for x in mixed[:count]], [f"lam={v:.2f}" for v in lam]))
    canvas = Image.new("RGB", (name_w + count * (cell_w + 6), len(rows) * (cell_h + label_h)), "white")
    draw = ImageDraw.Draw(canvas)
    for r, (name, pictures, captions) in enumerate(rows):
        top = r * (cell_h + label_h)
        draw.text((6, top + cell_h // 2), name, fill="black")
        for c, (picture, caption) in enumerate(zip(pictures, captions, strict=True)):
            left = name_w + c * (cell_w + 6)
            canvas.paste(picture, (left, top))
            draw.text((left, top + cell_h + 4), caption, fill="black")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return path

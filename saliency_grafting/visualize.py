"""Figure 1-style panels: sources, destinations and the samples several mixers make of the same pairs.

The pairs are drawn across classes (``sample_pairs``): test sets are often sorted by class, so the first images
would all be of one class and the label weights of two classes would never show.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageDraw
from torch import Tensor

from saliency_grafting._validation import check_int
from saliency_grafting.mixing import Mixer, SaliencyKind

__all__ = ["localization_panel", "mixing_panel", "panel_batch", "sample_pairs"]


def sample_pairs(labels: Tensor, count: int, *, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Indices ``(sources, destinations)`` of ``count`` pairs drawn across classes from a seeded generator.

    Source classes go round a random order of the classes present (distinct while ``count`` allows); each
    destination is a random image of another class (of the same class only when there is one class).
    """
    count = check_int(count, "count", low=1)
    labels = torch.as_tensor(labels).flatten().cpu()
    if labels.numel() == 0:
        raise ValueError("labels must not be empty")
    g = torch.Generator().manual_seed(seed)
    classes = labels.unique()
    order = classes[torch.randperm(len(classes), generator=g)]
    members = {int(c): (labels == c).nonzero().flatten() for c in classes}

    def pick(cls: int) -> int:
        pool = members[cls]
        return int(pool[torch.randint(len(pool), (), generator=g)])

    sources, destinations = [], []
    for k in range(count):
        source = int(order[k % len(order)])
        others = classes[classes != source] if len(classes) > 1 else classes
        destination = int(others[torch.randint(len(others), (), generator=g)])
        sources.append(pick(source))
        destinations.append(pick(destination))
    return torch.tensor(sources), torch.tensor(destinations)


def panel_batch(data: Any, count: int, *, seed: int = 0) -> tuple[Tensor, Tensor]:
    """``2 * count`` normalised test images (the sources, then their destinations) and labels, drawn across classes
    by ``sample_pairs`` from a ``Dataset``'s test split, held in memory or streamed from files."""
    from saliency_grafting.data import normalize
    from saliency_grafting.data.folders import read_rgb

    labels = data.test_labels if data.resident else torch.tensor(data.test_files[1])
    sources, destinations = sample_pairs(labels, count, seed=seed)
    index = torch.cat([sources, destinations])
    if data.resident:
        images = data.test_images[index]
    else:  # streamed: decode just these files, resized to the run's size
        decoded = [read_rgb(data.test_files[0][i]) for i in index.tolist()]
        size = (data.image_size, data.image_size)
        images = (
            torch.stack(
                [
                    torch.nn.functional.interpolate(x[None].float(), size=size, mode="bilinear", antialias=True)[0]
                    for x in decoded
                ]
            )
            .round()
            .clamp(0, 255)
            .to(torch.uint8)
        )
    return normalize(images, data.mean, data.std), labels[index]


def _to_pil(image: Tensor, mean: Tensor, std: Tensor, scale: int) -> Image.Image:
    pixels = (image.float().cpu() * std.view(-1, 1, 1) + mean.view(-1, 1, 1)).clamp(0, 1)
    array = (pixels * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    picture = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)  # one channel: grey (spectrograms)
    return picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST)


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
        mixed, _ = mixer.preview(batch, batch_labels, params, mean=mean, std=std, seed=seed)
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


def localization_panel(
    images: Tensor, maps: dict[str, Tensor], boxes: Tensor, found: dict[str, Tensor], path: str | Path
) -> Path:
    """Write a PNG: row 1 the uint8 images ``[N, C, H, W]`` with their object box (green); then per map kind its
    map (``[N, H, W]`` in [0, 1], as a heat overlay) with its box (green) and the box found from the map (red)."""
    scale = max(1, 128 // images.shape[-1])
    side_w, side_h, name_w = images.shape[-1] * scale, images.shape[-2] * scale, 140

    def picture(image: Tensor, heat: Tensor | None) -> Image.Image:
        pixels = image.float().expand(3, -1, -1) / 255
        if heat is not None:
            red = torch.stack([heat, torch.zeros_like(heat), 1 - heat])
            pixels = 0.5 * pixels + 0.5 * red
        array = (pixels.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        return Image.fromarray(array).resize((side_w, side_h), Image.Resampling.NEAREST)

    rows = [("image + box", None), *((name, heat) for name, heat in maps.items())]
    canvas = Image.new("RGB", (name_w + len(images) * (side_w + 6), len(rows) * (side_h + 8)), "white")
    draw = ImageDraw.Draw(canvas)
    for r, (name, heat) in enumerate(rows):
        top = r * (side_h + 8)
        draw.text((6, top + side_h // 2), name, fill="black")
        for c, image in enumerate(images):
            left = name_w + c * (side_w + 6)
            canvas.paste(picture(image, None if heat is None else heat[c]), (left, top))
            outlines = [(boxes[c], "lime")] + ([(found[name][c], "red")] if heat is not None else [])
            for box, colour in outlines:
                x0, y0, x1, y1 = (float(v) * scale for v in box)
                draw.rectangle((left + x0, top + y0, left + x1 + scale - 1, top + y1 + scale - 1), outline=colour)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return path

"""Weakly supervised object localization (WSOL) of a trained classifier, as the field measures it.

Two maps per image: the Class Activation Map (Zhou et al., 2016: the classifier weights of a class applied to the
feature map that global pooling averages) and the class-agnostic forward saliency ``sum_c |A_c|`` of the last conv
stage that Saliency Grafting mixes by. Each map is upsampled to the image, scaled to [0, 1] per image and cut at a
threshold ``tau``; the box of a connected component of the kept pixels is compared with the object's box by IoU.

- GT-known localization: the ground-truth class's map; correct when the largest component's box has IoU >= 0.5.
- Top-1 localization: the predicted class's map; correct when the class is right and IoU >= 0.5.
- MaxBoxAccV2 (Choe et al., "Evaluating Weakly Supervised Object Localization Methods Right", CVPR 2020): for each
  IoU threshold delta in {0.3, 0.5, 0.7}, the box accuracy at the best ``tau``, taking the best-matching box of all
  components; the mean over the three deltas.

Every ``tau`` is chosen on held-out training images with their boxes (``choose``), never on the test boxes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "DELTAS",
    "THRESHOLDS",
    "LocalizationIoU",
    "box_iou",
    "choose",
    "component_boxes",
    "localization_ious",
    "localization_maps",
    "localization_scores",
    "pooled_features",
    "scores",
]

THRESHOLDS = torch.linspace(0, 0.99, 100)  # tau, on maps scaled to [0, 1]
DELTAS = (0.3, 0.5, 0.7)  # the IoU thresholds of MaxBoxAccV2


def box_iou(a: Tensor, b: Tensor) -> Tensor:
    """IoU of boxes ``[..., 4]`` ``(x0, y0, x1, y1)`` with inclusive pixel corners (a box covers ``x0 .. x1 + 1``)."""
    x0, y0 = torch.maximum(a[..., 0], b[..., 0]), torch.maximum(a[..., 1], b[..., 1])
    x1, y1 = torch.minimum(a[..., 2], b[..., 2]) + 1, torch.minimum(a[..., 3], b[..., 3]) + 1
    inter = (x1 - x0).clamp(min=0) * (y1 - y0).clamp(min=0)

    def area(box: Tensor) -> Tensor:
        return (box[..., 2] - box[..., 0] + 1) * (box[..., 3] - box[..., 1] + 1)

    return inter / (area(a) + area(b) - inter)


def component_boxes(mask: Tensor) -> Tensor:
    """Boxes ``[K, 4]`` of the 8-connected components of a 2-D bool mask, the largest (by pixels) first."""
    return torch.from_numpy(_component_boxes(mask.numpy()))


_EIGHT = np.ones((3, 3), dtype=bool)


def _component_boxes(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage  # the localize extra

    labels, count = ndimage.label(mask, structure=_EIGHT)
    if count == 0:
        return np.zeros((0, 4), dtype=np.float32)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    boxes = np.array(
        [(s[1].start, s[0].start, s[1].stop - 1, s[0].stop - 1) for s in ndimage.find_objects(labels)], dtype=np.float32
    )
    return boxes[np.argsort(-sizes, kind="stable")]


def _np_iou(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    """``box_iou`` of each of ``boxes [K, 4]`` with one ``box`` (the evaluation's inner loop, kept off torch)."""
    x0, y0 = np.maximum(boxes[:, 0], box[0]), np.maximum(boxes[:, 1], box[1])
    x1, y1 = np.minimum(boxes[:, 2], box[2]) + 1, np.minimum(boxes[:, 3], box[3]) + 1
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
    return inter / (area + (box[2] - box[0] + 1) * (box[3] - box[1] + 1) - inter)


def pooled_features(model: nn.Module, images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(logits, features [B, K, h, w], classifier weights [classes, K])`` of a network that ends in global
    average pooling and one linear layer: the features are what the pooling averages."""
    head = _head(model)
    kept: list[Tensor] = []
    handle = head.module.register_forward_hook(lambda _m, _i, output: kept.append(output))
    try:
        logits = model(images)
    finally:
        handle.remove()
    features = F.relu(kept[-1]) if head.relu else kept[-1]
    return logits, features, head.linear.weight


@dataclass(frozen=True)
class _Head:
    module: nn.Module  # its output, after ``relu`` if set, is the map global pooling averages
    relu: bool
    linear: nn.Linear


def _head(model: nn.Module) -> _Head:
    from saliency_grafting.models import ConvNetSmall, PreActResNet, WideResNet

    if isinstance(model, (PreActResNet, WideResNet)):
        return _Head(model.bn, True, model.fc)
    if isinstance(model, ConvNetSmall):
        return _Head(model.stage3, False, model.fc)
    raise ValueError(
        f"localization needs a network ending in global pooling and one linear layer whose feature map "
        f"it can read (PreActResNet, WideResNet, ConvNetSmall), got {type(model).__name__}"
    )


def _scaled(maps: Tensor, size: tuple[int, int]) -> Tensor:
    """Maps ``[B, h, w]`` upsampled (bilinear) to ``size`` and min-max scaled to [0, 1] per map."""
    up = F.interpolate(maps[:, None].float(), size=size, mode="bilinear", align_corners=False)[:, 0]
    low = up.flatten(1).amin(1).view(-1, 1, 1)
    high = up.flatten(1).amax(1).view(-1, 1, 1)
    return (up - low) / (high - low).clamp_min(1e-12)


@dataclass
class LocalizationIoU:
    """Per image and threshold: the largest component's IoU and the best component's IoU (``[N, T]`` each), and
    whether the predicted class was right (``[N]``), for one kind of map."""

    largest: Tensor
    best: Tensor
    correct: Tensor

    @staticmethod
    def cat(parts: list[LocalizationIoU]) -> LocalizationIoU:
        return LocalizationIoU(*(torch.cat([getattr(p, f) for p in parts]) for f in ("largest", "best", "correct")))


def _ious(maps: Tensor, boxes: Tensor, thresholds: Tensor) -> tuple[Tensor, Tensor]:
    """Per map and threshold: the IoU of the largest component's box and the best IoU of any component's box."""
    largest = np.zeros((len(maps), len(thresholds)), dtype=np.float32)
    best = np.zeros_like(largest)
    levels = thresholds.tolist()
    for i, (heat, box) in enumerate(zip(maps.numpy(), boxes.numpy(), strict=True)):
        for t, tau in enumerate(levels):
            found = _component_boxes(heat >= tau)
            if len(found):
                iou = _np_iou(found, box)
                largest[i, t], best[i, t] = iou[0], iou.max()
    return torch.from_numpy(largest), torch.from_numpy(best)


@torch.no_grad()
def localization_maps(
    model: nn.Module, images: Tensor, labels: Tensor, *, saliency_layer: str | None = None
) -> tuple[Tensor, dict[str, Tensor]]:
    """The predicted classes and the maps ``[B, H, W]`` in [0, 1] at the images' size: ``"cam"`` (the true class's
    CAM), ``"cam_top1"`` (the predicted class's) and ``"forward"`` (``sum_c |A_c|`` of the last conv stage)."""
    from saliency_grafting.saliency import ForwardSaliency

    model.eval()
    with ForwardSaliency(model, saliency_layer) as hook:
        logits, features, weights = pooled_features(model, images)
        saliency = hook.saliency
    predicted = logits.argmax(1)
    size = (images.shape[-2], images.shape[-1])
    cams = torch.einsum("bkhw,bk->bhw", features.float(), weights.float()[labels])
    cams_top1 = torch.einsum("bkhw,bk->bhw", features.float(), weights.float()[predicted])
    maps = {"cam": cams, "cam_top1": cams_top1, "forward": saliency}
    return predicted, {name: _scaled(found, size) for name, found in maps.items()}


def localization_ious(
    model: nn.Module,
    batches: Iterator[tuple[Tensor, Tensor, Tensor]],
    *,
    saliency_layer: str | None = None,
    thresholds: Tensor = THRESHOLDS,
) -> dict[str, LocalizationIoU]:
    """IoUs of each map of ``localization_maps`` over ``(images, labels, boxes)`` batches."""
    parts: dict[str, list[LocalizationIoU]] = {"cam": [], "cam_top1": [], "forward": []}
    for images, labels, boxes in batches:
        predicted, maps = localization_maps(model, images, labels, saliency_layer=saliency_layer)
        correct = (predicted == labels).cpu()
        for name, found in maps.items():
            largest, best = _ious(found.cpu(), boxes.cpu().float(), thresholds)
            parts[name].append(LocalizationIoU(largest, best, correct))
    return {name: LocalizationIoU.cat(found) for name, found in parts.items()}


def choose(ious: Tensor, delta: float) -> int:
    """The threshold index with the highest box accuracy ``mean(IoU >= delta)`` (the lowest one on ties)."""
    return int((ious >= delta).float().mean(0).argmax())


def scores(held_out: dict[str, LocalizationIoU], test: dict[str, LocalizationIoU]) -> dict[str, dict[str, float]]:
    """GT-known and top-1 localization and MaxBoxAccV2 (%) on ``test``, every threshold chosen on ``held_out``.

    The CAM's top-1 localization reads its predicted-class map at the threshold chosen for the true class's map; the
    class-agnostic forward saliency has one map, so its top-1 localization is GT-known localization and a right class.
    """
    result = {}
    for kind, top1 in (("cam", "cam_top1"), ("forward", "forward")):
        tau = choose(held_out[kind].largest, 0.5)
        known = test[kind].largest[:, tau] >= 0.5
        located = test[top1].largest[:, tau] >= 0.5
        v2 = [float((test[kind].best[:, choose(held_out[kind].best, d)] >= d).float().mean()) for d in DELTAS]
        result[kind] = {
            "gt_known_loc": 100 * float(known.float().mean()),
            "top1_loc": 100 * float((located & test[top1].correct).float().mean()),
            "max_box_acc_v2": 100 * sum(v2) / len(v2),
            "threshold": float(THRESHOLDS[tau]),
        }
    return result


def _batches(
    images: Tensor, labels: Tensor, boxes: Tensor, mean: Tensor, std: Tensor, device: torch.device, size: int
) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
    from saliency_grafting.data import normalize

    for start in range(0, len(labels), size):
        part = slice(start, start + size)
        yield normalize(images[part].to(device), mean, std), labels[part].to(device), boxes[part]


def localization_scores(
    model: nn.Module,
    held_out: tuple[Tensor, Tensor, Tensor],
    test: tuple[Tensor, Tensor, Tensor],
    mean: Tensor,
    std: Tensor,
    *,
    device: torch.device | str = "cpu",
    saliency_layer: str | None = None,
    batch_size: int = 256,
) -> dict[str, dict[str, float]]:
    """``scores`` of ``model`` on ``test`` (uint8 images, labels, boxes), thresholds chosen on ``held_out``."""
    device = torch.device(device)
    found = [
        localization_ious(model, _batches(*split, mean, std, device, batch_size), saliency_layer=saliency_layer)
        for split in (held_out, test)
    ]
    return scores(*found)

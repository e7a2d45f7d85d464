"""Progress for people: one stderr line per epoch, live bars on a terminal, TensorBoard, rounded floats for JSON."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, TextIO

from saliency_grafting._validation import check_int, check_number
from saliency_grafting.progress import progress

__all__ = ["EmptyMaskWatch", "EpochLog", "TensorBoardLogger", "epoch_line", "progress", "round_floats"]


def epoch_line(metrics: dict[str, Any], epochs: int | None = None) -> str:
    """One line of an epoch's metrics: epoch/total, loss, train and test error, images/s, seconds, ``mix_*`` keys."""
    parts = [f"epoch {metrics.get('epoch', '?')}" + (f"/{epochs}" if epochs else "")]
    if metrics.get("train_loss") is not None:
        parts.append(f"loss {metrics['train_loss']:.4f}")
    if metrics.get("train_top1_error") is not None:
        parts.append(f"train err {metrics['train_top1_error']:.2f}%")
    if metrics.get("test_top1_error") is not None:
        parts.append(f"test err {metrics['test_top1_error']:.2f}%")
    if metrics.get("images_per_s") is not None:
        parts.append(f"{metrics['images_per_s']:.0f} img/s")
    if metrics.get("seconds") is not None:
        parts.append(f"{metrics['seconds']:.1f} s")
    for key in sorted(k for k in metrics if k.startswith("mix_")):
        value = metrics[key]
        if isinstance(value, float):
            parts.append(f"{key} {value:.3g}")
        elif value is not None:
            parts.append(f"{key} {value}")
    return "  ".join(parts)


class EpochLog:
    """A ``Trainer`` callback printing :func:`epoch_line` to ``stream`` (stderr) after every epoch, TTY or not.

    Silent when the trainer's config says ``quiet``.
    """

    def __init__(self, *, stream: TextIO | None = None) -> None:
        self.stream = stream

    def __call__(self, trainer: Any, metrics: dict[str, Any]) -> None:
        config = getattr(trainer, "config", None)
        if getattr(config, "quiet", False):
            return
        stream = self.stream if self.stream is not None else sys.stderr
        print(epoch_line(metrics, getattr(config, "epochs", None)), file=stream, flush=True)


def round_floats(obj: Any, digits: int = 4) -> Any:
    """``obj`` with every float rounded to ``digits`` decimals (``15.069999999999995`` -> ``15.07``), recursively.

    Small magnitudes keep ``digits`` significant digits (``1.23456e-6`` -> ``1.235e-06``, never ``0.0``); non-finite
    floats, ints, bools and strings are returned as they are.
    """
    if isinstance(obj, float):
        if obj == 0 or not math.isfinite(obj):
            return obj
        return round(obj, max(digits, digits - 1 - math.floor(math.log10(abs(obj)))))
    if isinstance(obj, dict):
        return {k: round_floats(v, digits) for k, v in obj.items()}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # a named tuple
        return type(obj)(*(round_floats(v, digits) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(round_floats(v, digits) for v in obj)
    return obj


class TensorBoardLogger:
    """A callback writing every numeric metric to TensorBoard under ``run_dir/tensorboard`` (the extra)."""

    def __init__(self, log_dir: Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:
            raise ImportError("--tensorboard needs TensorBoard: pip install 'saliency_grafting[tensorboard]'") from err
        self.writer = SummaryWriter(str(log_dir))

    def __call__(self, trainer: Any, metrics: dict[str, Any]) -> None:
        for key, value in metrics.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and key != "epoch":
                self.writer.add_scalar(key, value, metrics["epoch"])
        self.writer.flush()


class EmptyMaskWatch:
    """Says when mixed samples keep nothing of their source image, judged over at least ``min_batches`` mixed
    batches: SG's mixing ratio is drawn once per batch, so on a set of one or two batches an epoch a single small draw
    empties a whole epoch by chance; a map too coarse empties every batch."""

    def __init__(self, *, min_batches: int = 4, limit: float = 0.9) -> None:
        self.min_batches = check_int(min_batches, "min_batches", self, low=1)
        self.limit = check_number(limit, "limit", self, low=0, high=1)
        self.empty = self.batches = 0.0
        self.first_epoch = 0

    def update(self, empty_fraction: float, batches: int, epoch: int) -> str | None:
        """Add the empty fraction of epoch ``epoch`` (0-based) over its mixed ``batches`` (every rank's draws); the
        warning once enough batches are in and their mean passes ``limit``, else None."""
        if self.batches == 0:
            self.first_epoch = epoch
        self.empty += empty_fraction * batches
        self.batches += batches
        if self.batches < self.min_batches:
            return None
        fraction, count = self.empty / self.batches, int(self.batches)
        self.empty = self.batches = 0.0
        if fraction <= self.limit:
            return None
        epochs = f"epochs {self.first_epoch + 1}-{epoch + 1}" if epoch > self.first_epoch else f"epoch {epoch + 1}"
        return (
            f"{100 * fraction:.0f} % of the mixed samples of {epochs} ({count} mixed batches) kept nothing of "
            "their source image (an empty mask); for Saliency Grafting the saliency map is probably too coarse: "
            "choose a layer with a larger map (--saliency-layer) or use larger images"
        )

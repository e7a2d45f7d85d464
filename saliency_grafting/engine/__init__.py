"""Training, evaluation, checkpoints and the occlusion test."""

from saliency_grafting.engine.checkpoint import load_checkpoint, save_atomic
from saliency_grafting.engine.evaluate import evaluate
from saliency_grafting.engine.occlusion import occlude_top_regions, occluder
from saliency_grafting.engine.trainer import Callback, Trainer, lr_factor, make_loaders

__all__ = [
    "Callback",
    "Trainer",
    "evaluate",
    "load_checkpoint",
    "lr_factor",
    "make_loaders",
    "occlude_top_regions",
    "occluder",
    "save_atomic",
]

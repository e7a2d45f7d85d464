"""A finished run read back for evaluation: its network and test data, with no optimizer and no mixer."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from saliency_grafting.config import TrainConfig
from saliency_grafting.data import Dataset, StreamLoader, TensorLoader, make_loaders
from saliency_grafting.data.registry import load_config_data
from saliency_grafting.devices import autocast, resolve_device
from saliency_grafting.models import create_model
from saliency_grafting.models.regularizers import apply_regularizer

__all__ = ["EvalRun", "eval_run", "read_run", "run_files"]


@dataclass
class EvalRun:
    """What ``sgraft eval``, ``occlusion`` and ``show`` need of a run: the trained model in eval mode and its data."""

    config: TrainConfig
    model: nn.Module
    data: Dataset
    test_loader: TensorLoader | StreamLoader
    device: torch.device

    def autocast(self) -> contextlib.AbstractContextManager:
        return autocast(self.device, self.config.amp)


def eval_run(config: TrainConfig, model_state: dict[str, Any], *, data: Dataset | None = None) -> EvalRun:
    """The network of ``config`` with ``model_state`` loaded, on the run's test split (or validation split)."""
    device = resolve_device(config.device)
    data = data if data is not None else load_config_data(config, progress=not config.quiet)
    _, test_loader = make_loaders(data, config, device)
    model = create_model(config.model, data.num_classes, in_channels=data.channels, **config.model_args)
    model = apply_regularizer(model, config.regularizer, **config.regularizer_args)
    model.load_state_dict(model_state)
    model = model.to(device).eval()
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return EvalRun(config, model, data, test_loader, device)


def run_files(run_dir: str | Path) -> Path:
    """``run_dir``, checked to hold a finished run's ``config.yaml`` and ``checkpoint.pt``."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file() or not (run_dir / "checkpoint.pt").is_file():
        raise ValueError(f"{run_dir}: expected a run directory with config.yaml and checkpoint.pt")
    return run_dir


def read_run(run_dir: str | Path) -> tuple[TrainConfig, dict[str, Any]]:
    """A finished run's config (``out`` cleared: reading writes nothing) and its network's state, on the CPU.

    The one reader of a run directory, for ``sgraft eval`` / ``occlusion`` / ``show`` / ``localize`` and the
    post-hoc measurements of ``reproduce``; a ``ValueError`` names the file that cannot be used.
    """
    from saliency_grafting.config import load_yaml
    from saliency_grafting.engine.checkpoint import load_checkpoint

    run_dir = run_files(run_dir)
    try:
        config = TrainConfig.from_dict(load_yaml(run_dir / "config.yaml"))
    except ValueError as err:
        raise ValueError(f"{run_dir / 'config.yaml'}: {err}") from None
    state = load_checkpoint(run_dir / "checkpoint.pt", "cpu")
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
        raise ValueError(f"checkpoint {run_dir / 'checkpoint.pt'} holds no model state")
    config.out = None
    return config, state["model"]

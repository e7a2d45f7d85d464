"""Run configuration: one dataclass, filled from a YAML file and command-line flags, saved with every run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["TrainConfig", "load_yaml", "save_yaml"]


@dataclass
class TrainConfig:
    """Everything that determines a training run. Field names are the CLI flags (``--warmup-epochs`` ...)."""

    dataset: str = "synthetic"
    data_dir: str | None = None
    download: bool = False
    per_class: int | None = None
    val_per_class: int | None = None  # evaluate on K unused training images per class instead of the test set
    image_size: int | None = None
    model: str = "convnet_small"
    model_args: dict[str, Any] = field(default_factory=dict)
    mixer: str = "saliency_grafting"
    mixer_args: dict[str, Any] = field(default_factory=dict)
    regularizer: str = "none"  # none | shakedrop | dropblock
    regularizer_args: dict[str, Any] = field(default_factory=dict)
    epochs: int = 10
    warmup_epochs: int = 0
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: str = "cosine"  # step | cosine | onecycle
    milestones: list[float] = field(default_factory=lambda: [0.5, 0.75])  # fractions of the run, for "step"
    gamma: float = 0.1
    mix_prob: float = 1.0
    objective: str = "auto"  # auto | clean+mixed | mixed
    mix_times: int = 1  # k augmented batches per step (Figure 3)
    mix_reduction: str = "sum"  # sum | mean: how the k mixed losses are combined
    label_smoothing: float = 0.0
    saliency_layer: str | None = None
    seed: int = 0
    device: str = "auto"
    amp: str = "none"  # none | bf16 | fp16
    channels_last: bool = False
    compile: bool = False
    workers: int = 4
    eval_every: int = 1
    tensorboard: bool = False
    quiet: bool = False
    out: str | None = None

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown config keys {unknown}; valid keys: {', '.join(sorted(names))}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping of config keys (dashes or underscores); a ``ValueError`` naming the file otherwise."""
    try:
        values = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"--config {path}: cannot read YAML ({err})") from None
    if not isinstance(values, dict):
        raise ValueError(f"--config {path}: expected a mapping of keys to values, got {type(values).__name__}")
    return {str(k).replace("-", "_"): v for k, v in values.items()}


def save_yaml(values: dict[str, Any], path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(values, sort_keys=False))

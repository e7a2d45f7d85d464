"""Run configuration: one dataclass, filled from a YAML file and command-line flags, saved with every run."""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["CHOICES", "ConfigError", "TrainConfig", "flag", "load_yaml", "save_yaml", "suggest"]

# The choice fields, in one place: validation and the CLI's ``choices=`` read them from here.
CHOICES: dict[str, tuple[str, ...]] = {
    "schedule": ("step", "cosine", "onecycle"),
    "amp": ("none", "bf16", "fp16"),
    "objective": ("auto", "clean+mixed", "mixed"),
    "mix_reduction": ("sum", "mean"),
    "regularizer": ("none", "shakedrop", "dropblock"),
    "saliency": ("auto", "forward", "input_gradient", "grad_cam", "static"),
}
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


class ConfigError(ValueError):
    """A config value of the wrong type, range or choice; ``field`` names the offending field."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.field = name


def flag(name: str) -> str:
    """The command-line flag of a config field: ``warmup_epochs`` -> ``--warmup-epochs``, ``mixer_args`` ->
    ``--mixer-arg`` (repeated, one keyword each)."""
    return "--" + (name.removesuffix("s") if name.endswith("_args") else name).replace("_", "-")


def suggest(word: str, options: list[str] | tuple[str, ...]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``options``, or ``""`` when none is close."""
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _real(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(value)


def _kwargs(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and k.isidentifier() for k in value)


# Every field: (accepts the value, the expected form). A field missing here fails the test that checks the table.
_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "dataset": (lambda v: isinstance(v, str) and v != "", "a dataset name (see --help)"),
    "dataset_args": (_kwargs, "a mapping of the dataset's option names to values"),
    "data_dir": (lambda v: v is None or isinstance(v, str), "a path or null"),
    "data_fingerprint": (
        lambda v: v is None or (isinstance(v, str) and re.fullmatch(r"[0-9a-f]{16}", v) is not None),
        "16 hex digits (the data's identity: registry.fingerprint) or null",
    ),
    "per_class": (lambda v: v is None or (_int(v) and v >= 1), "an integer >= 1 or null"),
    "val_per_class": (lambda v: v is None or (_int(v) and v >= 1), "an integer >= 1 or null"),
    "image_size": (lambda v: v is None or (_int(v) and v >= 1), "an integer >= 1 or null"),
    "model": (lambda v: isinstance(v, str) and v != "", "a model name (see --help) or timm:<name>"),
    "mixer": (
        lambda v: isinstance(v, str) and v != "",
        "a mixer name (see --help), a chain a+b or a per-batch choice a|b (weights a:0.2|b:0.8)",
    ),
    "model_args": (_kwargs, "a mapping of keyword names to values"),
    "mixer_args": (_kwargs, "a mapping of keyword names to values"),
    "regularizer_args": (_kwargs, "a mapping of keyword names to values"),
    "epochs": (lambda v: _int(v) and v >= 1, "an integer >= 1"),
    "warmup_epochs": (lambda v: _int(v) and v >= 0, "an integer >= 0"),
    "batch_size": (lambda v: _int(v) and v >= 1, "an integer >= 1"),
    "lr": (lambda v: _real(v) and v > 0, "a finite number > 0"),
    "momentum": (lambda v: _real(v) and 0 <= v < 1, "a number in [0, 1)"),
    "weight_decay": (lambda v: _real(v) and v >= 0, "a finite number >= 0"),
    "milestones": (
        lambda v: isinstance(v, list) and all(_real(m) and 0 <= m <= 1 for m in v),
        "a list of fractions of the run in [0, 1]",
    ),
    "gamma": (lambda v: _real(v) and v > 0, "a finite number > 0"),
    "mix_prob": (lambda v: _real(v) and 0 <= v <= 1, "a number in [0, 1]"),
    "mix_times": (lambda v: _int(v) and v >= 1, "an integer >= 1"),
    "label_smoothing": (lambda v: _real(v) and 0 <= v < 1, "a number in [0, 1)"),
    "saliency_layer": (lambda v: v is None or isinstance(v, str), "a module name (model.named_modules()) or null"),
    "seed": (lambda v: _int(v) and 0 <= v < 2**32, "an integer in [0, 2**32)"),
    "device": (lambda v: isinstance(v, str) and _DEVICE.fullmatch(v) is not None, "auto, cpu, cuda, cuda:N or mps"),
    "workers": (lambda v: _int(v) and v >= 0, "an integer >= 0"),
    "eval_every": (lambda v: _int(v) and v >= 1, "an integer >= 1 (epochs between test evaluations)"),
    "out": (lambda v: v is None or (isinstance(v, str) and v != ""), "a directory path or null"),
}
for _name, _choices in CHOICES.items():
    _RULES[_name] = ((lambda c: lambda v: v in c)(_choices), "one of " + ", ".join(_choices))
for _name in ("download", "nesterov", "channels_last", "compile", "tensorboard", "quiet"):
    _RULES[_name] = (lambda v: isinstance(v, bool), "true or false")


@dataclass
class TrainConfig:
    """Everything that determines a training run. Field names are the CLI flags (``--warmup-epochs`` ...)."""

    dataset: str = "synthetic"
    dataset_args: dict[str, Any] = field(default_factory=dict)  # the dataset's own options (e.g. classes, split)
    data_dir: str | None = None
    data_fingerprint: str | None = None  # the data the run must read (None: whatever data_dir holds, recorded)
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
    saliency: str = "auto"  # auto (the mixer's own) | forward | input_gradient | grad_cam | static
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
            hint = suggest(unknown[0], sorted(names))
            raise ValueError(f"unknown config keys {unknown}; valid keys: {', '.join(sorted(names))}{hint}")
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        """Check every field's type, finiteness, range and choice; a ``ConfigError`` naming its flag otherwise."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            accepts, expected = _RULES.get(f.name, (lambda v: True, ""))
            if not accepts(value):
                hint = suggest(value, CHOICES[f.name]) if f.name in CHOICES and isinstance(value, str) else ""
                raise ConfigError(f.name, f"{flag(f.name)} must be {expected}, got {value!r}{hint}")
        if self.warmup_epochs > self.epochs:
            raise ConfigError(
                "warmup_epochs", f"--warmup-epochs must be <= --epochs, got {self.warmup_epochs} > {self.epochs}"
            )
        if getattr(self, "val_per_class", None) is not None and self.per_class is None:
            raise ConfigError("val_per_class", "--val-per-class needs --per-class (it holds out unused train images)")
        self._validate_names()

    def _validate_names(self) -> None:
        """The dataset, the model and every stage of the mixer chain must be known names (a close match suggested)."""
        from saliency_grafting.data import DATASETS
        from saliency_grafting.mixing import MIXERS
        from saliency_grafting.models import MODELS

        if self.dataset not in DATASETS:
            raise ConfigError(
                "dataset",
                f"--dataset: unknown dataset {self.dataset!r}; valid names: {', '.join(DATASETS)}"
                f"{suggest(self.dataset, list(DATASETS))}",
            )
        if not self.model.startswith("timm:") and self.model not in MODELS:
            raise ConfigError(
                "model",
                f"--model: unknown model {self.model!r}; valid names: {', '.join(MODELS)}, or timm:<name>"
                f"{suggest(self.model, list(MODELS))}",
            )
        for stage in (s.partition(":")[0] for part in self.mixer.split("|") for s in part.split("+")):
            if stage not in MIXERS:
                raise ConfigError(
                    "mixer",
                    f"--mixer: unknown mixer {stage!r}; valid names: {', '.join(MIXERS)}, or a chain a+b"
                    f"{suggest(stage, list(MIXERS))}",
                )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping of config keys (dashes or underscores); a ``ValueError`` naming the file otherwise."""
    try:
        values = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"{path}: cannot read YAML ({err})") from None
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a YAML mapping of config keys to values, got {type(values).__name__}")
    return {str(k).replace("-", "_"): v for k, v in values.items()}


def save_yaml(values: dict[str, Any], path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(values, sort_keys=False))

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

from saliency_grafting._validation import is_int, is_real

__all__ = ["CHOICES", "ConfigError", "TrainConfig", "flag", "load_yaml", "save_yaml", "suggest"]

OBJECTIVES = ("auto", "clean+mixed", "mixed")  # what a step trains on (``step.MixStep``'s ``objective``)
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


def _real(value: Any) -> bool:
    return is_real(value) and math.isfinite(value)


def _plain(value: Any) -> Any:
    """``value`` with numpy (or other non-builtin) numbers, also inside a list, as ``int`` / ``float``; the same
    object when there are none."""
    if isinstance(value, list):
        items = [_plain(v) for v in value]
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    if is_real(value) and type(value) not in (int, float):
        return int(value) if is_int(value) else float(value)
    return value


def _kwargs(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and k.isidentifier() for k in value)


def _bool(value: Any) -> bool:
    return isinstance(value, bool)


def option(
    default: Any = dataclasses.MISSING,
    *,
    factory: Callable[[], Any] | None = None,
    help: str | Callable[[], str],
    accepts: Callable[[Any], bool] | None = None,
    expected: str = "",
    choices: tuple[str, ...] = (),
    shown: str | None = None,
) -> Any:
    """A ``TrainConfig`` field with everything about it in one place: its default (or ``factory``), the ``help`` of
    its flag (a callable when it lists a registry), the rule its values follow (``accepts`` and the ``expected``
    form, or ``choices``; a bool default: true or false) and how the default reads in ``--help`` (``shown``)."""
    if choices:
        accepts, expected = (lambda c: lambda v: v in c)(choices), "one of " + ", ".join(choices)
    elif accepts is None and isinstance(default, bool):
        accepts, expected = _bool, "true or false"
    if accepts is None:
        raise TypeError("option: give accepts (and expected), choices, or a bool default")
    metadata = {"help": help, "accepts": accepts, "expected": expected, "choices": choices, "shown": shown}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def _names(kind: str) -> Callable[[], str]:
    """The help of a name field, listing the registry's names (read when the help is shown)."""

    def text() -> str:
        from saliency_grafting.data import DATASETS
        from saliency_grafting.mixing import MIXERS
        from saliency_grafting.models import MODELS

        if kind == "dataset":
            return "; ".join(f"{name}: {source.description}" for name, source in DATASETS.items())
        if kind == "model":
            return f"one of {', '.join(MODELS)}, or timm:<name>"
        return (
            f"augmentation: {', '.join(MIXERS)}; chain with +, e.g. cutout+mixup; one per batch with |, "
            "e.g. mixup:0.2|cutmix:0.8 (weights optional)"
        )

    return text


_OPTIONAL_INT = (lambda v: v is None or (is_int(v) and v >= 1), "an integer >= 1 or null")
_KWARGS = "a mapping of keyword names to values"


@dataclass
class TrainConfig:
    """Everything that determines a training run. Field names are the CLI flags (``--warmup-epochs`` ...); each
    field carries its help, its rule and how its default reads (``option``): adding a field is one declaration."""

    dataset: str = option(
        "synthetic",
        help=_names("dataset"),
        accepts=lambda v: isinstance(v, str) and v != "",
        expected="a dataset name (see --help)",
    )
    dataset_args: dict[str, Any] = option(
        factory=dict,
        accepts=_kwargs,
        expected="a mapping of the dataset's option names to values",
        help="dataset option, KEY=VALUE (YAML value), repeatable: --dataset-arg classes=50 (tinyimagenet), "
        "--dataset-arg split=speaker (fsdd)",
    )
    data_dir: str | None = option(
        None,
        accepts=lambda v: v is None or isinstance(v, str),
        expected="a path or null",
        shown="none",
        help="the dataset's folder (CIFAR: torchvision's layout; imagefolder: train/<class>/*, test/ or val/)",
    )
    data_fingerprint: str | None = option(
        None,
        accepts=lambda v: v is None or (isinstance(v, str) and re.fullmatch(r"[0-9a-f]{16}", v) is not None),
        expected="16 hex digits (the data's identity: registry.fingerprint) or null",
        help="refuse data whose fingerprint differs (set by reproduce; recorded in every run)",
        shown="none: recorded from the data read",
    )
    download: bool = option(False, help="download CIFAR into --data-dir when it is missing")
    per_class: int | None = option(
        None,
        accepts=_OPTIONAL_INT[0],
        expected=_OPTIONAL_INT[1],
        shown="every image",
        help="keep a seeded, class-balanced subset of K training images per class",
    )
    val_per_class: int | None = option(
        None,
        accepts=_OPTIONAL_INT[0],
        expected=_OPTIONAL_INT[1],
        shown="none: the test split",
        help="evaluate on K unused training images per class instead of the test split (needs --per-class)",
    )
    image_size: int | None = option(
        None,
        accepts=_OPTIONAL_INT[0],
        expected=_OPTIONAL_INT[1],
        shown="the images' own size",
        help="resize images to N x N pixels (image folders)",
    )
    model: str = option(
        "convnet_small",
        help=_names("model"),
        accepts=lambda v: isinstance(v, str) and v != "",
        expected="a model name (see --help) or timm:<name>",
    )
    model_args: dict[str, Any] = option(
        factory=dict,
        accepts=_kwargs,
        expected=_KWARGS,
        help="model keyword, KEY=VALUE (YAML value), repeatable: --model-arg depth=16",
    )
    mixer: str = option(
        "saliency_grafting",
        help=_names("mixer"),
        accepts=lambda v: isinstance(v, str) and v != "",
        expected="a mixer name (see --help), a chain a+b or a per-batch choice a|b (weights a:0.2|b:0.8)",
    )
    mixer_args: dict[str, Any] = option(
        factory=dict,
        accepts=_kwargs,
        expected=_KWARGS,
        help="mixer keyword, KEY=VALUE (YAML value), repeatable: --mixer-arg temperature=0.2",
    )
    regularizer: str = option(
        "none",
        choices=("none", "shakedrop", "dropblock"),
        help="model regulariser: none, shakedrop (residual branches), dropblock (last two stages)",
    )
    regularizer_args: dict[str, Any] = option(
        factory=dict,
        accepts=_kwargs,
        expected=_KWARGS,
        help="regulariser keyword, KEY=VALUE, repeatable: --regularizer-arg p_last=0.5",
    )
    epochs: int = option(10, accepts=lambda v: is_int(v) and v >= 1, expected="an integer >= 1", help="training epochs")
    warmup_epochs: int = option(
        0,
        accepts=lambda v: is_int(v) and v >= 0,
        expected="an integer >= 0",
        help="epochs of clean training before mixing starts",
    )
    batch_size: int = option(
        128,
        accepts=lambda v: is_int(v) and v >= 1,
        expected="an integer >= 1",
        help="images per step (per process under torchrun)",
    )
    lr: float = option(
        0.1, accepts=lambda v: _real(v) and v > 0, expected="a finite number > 0", help="peak learning rate of SGD"
    )
    momentum: float = option(
        0.9, accepts=lambda v: _real(v) and 0 <= v < 1, expected="a number in [0, 1)", help="SGD momentum, in [0, 1)"
    )
    nesterov: bool = option(True, help="Nesterov momentum")
    weight_decay: float = option(
        5e-4, accepts=lambda v: _real(v) and v >= 0, expected="a finite number >= 0", help="L2 weight decay"
    )
    schedule: str = option(
        "cosine",
        choices=("step", "cosine", "onecycle"),
        help="learning-rate schedule: step, cosine, or onecycle (up to 15 % of the run, then down to 0)",
    )
    milestones: list[float] = option(
        factory=lambda: [0.5, 0.75],
        accepts=lambda v: isinstance(v, list) and all(_real(m) and 0 <= m <= 1 for m in v),
        expected="a list of fractions of the run in [0, 1]",
        help="fractions of the run where the step schedule multiplies the lr by --gamma",
    )
    gamma: float = option(
        0.1,
        accepts=lambda v: _real(v) and v > 0,
        expected="a finite number > 0",
        help="the step schedule's lr factor at each milestone",
    )
    mix_prob: float = option(
        1.0,
        accepts=lambda v: _real(v) and 0 <= v <= 1,
        expected="a number in [0, 1]",
        help="probability that a batch is mixed (after warm-up), in [0, 1]",
    )
    objective: str = option(
        "auto",
        choices=OBJECTIVES,
        help="auto = clean+mixed for saliency_grafting (the paper's recipe), mixed for the others",
    )
    mix_times: int = option(
        1,
        accepts=lambda v: is_int(v) and v >= 1,
        expected="an integer >= 1",
        help="k mixed batches per step (Figure 3's sample diversity)",
    )
    mix_reduction: str = option(
        "sum",
        choices=("sum", "mean"),
        help="how the k mixed losses combine: sum (the step grows with k) or mean (it does not)",
    )
    label_smoothing: float = option(
        0.0,
        accepts=lambda v: _real(v) and 0 <= v < 1,
        expected="a number in [0, 1)",
        help="label smoothing of the targets, in [0, 1)",
    )
    saliency: str = option(
        "auto",
        choices=("auto", "forward", "input_gradient", "grad_cam", "static"),
        help="saliency source of saliency-guided mixers: auto (the mixer's own), forward, input_gradient, ...",
    )
    saliency_layer: str | None = option(
        None,
        accepts=lambda v: v is None or isinstance(v, str),
        shown="the last conv stage",
        expected="a module name (model.named_modules()) or null",
        help="module whose features give the forward saliency",
    )
    seed: int = option(
        0,
        accepts=lambda v: is_int(v) and 0 <= v < 2**32,
        expected="an integer in [0, 2**32)",
        help="seed of the data order, the initialisation and the mixing",
    )
    device: str = option(
        "auto",
        accepts=lambda v: isinstance(v, str) and _DEVICE.fullmatch(v) is not None,
        expected="auto, cpu, cuda, cuda:N or mps",
        help="auto (CUDA when available), cpu, cuda, cuda:N or mps",
    )
    amp: str = option("none", choices=("none", "bf16", "fp16"), help="mixed precision: none, bf16 or fp16")
    channels_last: bool = option(False, help="channels-last memory format (faster convolutions on GPUs)")
    compile: bool = option(False, help="torch.compile the network")
    workers: int = option(
        4,
        accepts=lambda v: is_int(v) and v >= 0,
        expected="an integer >= 0",
        help="data-loading worker processes (streamed datasets)",
    )
    eval_every: int = option(
        1,
        accepts=lambda v: is_int(v) and v >= 1,
        expected="an integer >= 1 (epochs between test evaluations)",
        help="test every N epochs (and after the last)",
    )
    tensorboard: bool = option(False, help="log every metric to RUN_DIR/tensorboard (the [tensorboard] extra)")
    quiet: bool = option(False, help="print no progress: no per-epoch lines, no bars")
    out: str | None = option(
        None,
        accepts=lambda v: v is None or (isinstance(v, str) and v != ""),
        expected="a directory path or null",
        shown="runs/<dataset>_<model>_<mixer>_seed<seed>",
        help="run directory",
    )

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
            if (plain := _plain(value)) is not value:  # numpy scalars, also in lists: plain numbers for YAML
                setattr(self, f.name, plain)
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


# Derived from the fields: each field's rule, and the choice fields (validation and the CLI's ``choices=`` read them).
_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    f.name: (f.metadata["accepts"], f.metadata["expected"]) for f in dataclasses.fields(TrainConfig)
}
CHOICES: dict[str, tuple[str, ...]] = {
    f.name: f.metadata["choices"] for f in dataclasses.fields(TrainConfig) if f.metadata["choices"]
}


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

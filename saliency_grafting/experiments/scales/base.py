"""The ``Scale`` object and its registry (``SCALES``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from saliency_grafting.mixing import create_mixer

__all__ = ["CPU_TRAINING", "FAMILIES", "PROTOCOLS", "SCALES", "Scale", "get_scale", "register_scale"]

FAMILIES = ("paper", "cpu", "cpu-small")
# The compared protocols of the cpu family (see ``experiments.overfit``).
PROTOCOLS = ("paper", "same objective", "same compute")
# The network and training of the CPU scales: a 701 k-parameter PreAct-ResNet-18 (widths 16-128), SGD with a cosine
# schedule, bf16 autocast and channels-last (checked against fp32 by the ``fastpath`` experiment).
CPU_TRAINING: dict[str, Any] = {
    "model": "preactresnet18",
    "model_args": {"widths": [16, 32, 64, 128]},
    "batch_size": 128,
    "lr": 0.1,
    "weight_decay": 5e-4,
    "schedule": "cosine",
    "amp": "bf16",
    "channels_last": True,
}


@dataclass(frozen=True, kw_only=True)
class Scale:
    """A dataset, a network and a budget.

    ``dataset`` / ``dataset_args``: a registered dataset and its options. ``fingerprint``: the data the scale is
    defined on (``DatasetSource.fingerprint``); it goes into every run's key and record, and a run refuses other
    data. ``None`` (the paper scale): the data directory given decides. ``base``: the config every cell starts from.

    The ``cpu`` family's budget: ``steps`` optimisation steps of ``base["batch_size"]`` per run at every size
    (times ``longer[size]`` where given), so that a run's epochs follow from the budget, the data size and
    ``num_classes`` (``epochs``); ``sizes``: images per class compared (``main_size``: the one most tables use);
    ``val_per_class``: the validation split of the tuning stage; ``occlusion_grid``: regions per side of Table 6;
    ``recipes``: per-batch random choices of mixers (``"mixup:0.2|cutmix:0.8"``), compared as they are given.
    """

    name: str
    family: str
    dataset: str
    description: str
    dataset_args: Mapping[str, Any] = field(default_factory=dict)
    fingerprint: str | None = None
    base: Mapping[str, Any] = field(default_factory=dict)
    num_classes: int = 0
    steps: int = 0
    longer: Mapping[int, float] = field(default_factory=dict)
    sizes: tuple[int, ...] = ()
    main_size: int = 0
    protocols: tuple[str, ...] = PROTOCOLS
    val_per_class: int = 0
    occlusion_grid: int = 8
    recipes: tuple[str, ...] = ()  # mixer specs compared untuned beside the suite's methods, e.g. "mixup|cutmix"

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"scale {self.name!r}: family must be one of {', '.join(FAMILIES)}, got {self.family!r}")
        if self.family == "cpu":
            if self.main_size not in self.sizes or self.steps < 1 or self.num_classes < 1 or self.val_per_class < 1:
                raise ValueError(
                    f"scale {self.name!r}: a cpu scale needs sizes holding main_size, steps, num_classes "
                    "and val_per_class"
                )
            if unknown := set(self.protocols) - set(PROTOCOLS):
                raise ValueError(f"scale {self.name!r}: protocols must be among {PROTOCOLS}, got {sorted(unknown)}")
        for recipe in self.recipes:
            try:
                if not isinstance(recipe, str) or "|" not in recipe:
                    raise ValueError("not a choice 'a|b'")
                create_mixer(recipe, 2)
            except (TypeError, ValueError, ImportError) as err:
                raise ValueError(
                    f"scale {self.name!r}: recipes must be random choices of mixers such as 'mixup:0.2|cutmix:0.8', "
                    f"got {recipe!r} ({err})"
                ) from None

    def epochs(self, per_class: int, longer: bool = True) -> int:
        """Epochs that make the scale's step budget at ``per_class`` images per class (drop-last batches)."""
        steps_per_epoch = max(1, per_class * self.num_classes // self.base["batch_size"])
        steps = self.steps * (self.longer.get(per_class, 1.0) if longer else 1.0)
        return max(1, round(steps / steps_per_epoch))

    def data(self) -> dict[str, Any]:
        """The config fields that name the scale's data."""
        values: dict[str, Any] = {"dataset": self.dataset}
        if self.dataset_args:
            values["dataset_args"] = dict(self.dataset_args)
        return values


SCALES: dict[str, Scale] = {}


def register_scale(scale: Scale) -> Scale:
    """Add ``scale`` to ``SCALES`` (each name once)."""
    if not isinstance(scale, Scale):
        raise TypeError(f"register_scale takes a Scale, got {type(scale).__name__}")
    if scale.name in SCALES:
        raise ValueError(f"scale {scale.name!r} is already registered")
    SCALES[scale.name] = scale
    return scale


def get_scale(name: str | Scale) -> Scale:
    """The registered scale ``name`` (a ``Scale`` is returned as it is)."""
    if isinstance(name, Scale):
        return name
    if name not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {name!r}")
    return SCALES[name]

"""Every shipped YAML preset is a valid config."""

from __future__ import annotations

from pathlib import Path

import pytest

from saliency_grafting.config import TrainConfig, load_yaml
from saliency_grafting.mixing import MIXERS, create_mixer
from saliency_grafting.models import MODELS

PRESETS = sorted((Path(__file__).parent.parent / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.stem)
def test_preset_is_a_valid_config(path: Path) -> None:
    config = TrainConfig.from_dict(load_yaml(path))
    assert config.model in MODELS and config.mixer in MIXERS and config.warmup_epochs < config.epochs
    create_mixer(config.mixer, 10, **config.mixer_args)  # the mixer arguments are valid


def test_presets_exist_for_every_paper_setting() -> None:
    assert {p.stem for p in PRESETS} >= {"pyramidnet200_cifar100", "wrn28_10_cifar100", "preactresnet18_tinyimagenet",
                                         "resnet50_imagenet"}  # fmt: skip
    with pytest.raises(ValueError, match="unknown config keys"):
        TrainConfig.from_dict({"epoch": 3})

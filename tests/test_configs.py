"""Every shipped YAML preset is a valid config; every field is validated (type, finiteness, range, choice)."""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saliency_grafting.config import _RULES, CHOICES, ConfigError, TrainConfig, flag, load_yaml
from saliency_grafting.mixing import MIXERS, create_mixer
from saliency_grafting.models import MODELS

PRESETS = sorted((Path(__file__).parent.parent / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.stem)
def test_preset_is_a_valid_config(path: Path) -> None:
    config = TrainConfig.from_dict(load_yaml(path))
    assert config.model in MODELS and config.mixer in MIXERS and config.warmup_epochs < config.epochs
    create_mixer(config.mixer, 10, **config.mixer_args)  # the mixer arguments are valid


def test_presets_exist_for_every_paper_setting() -> None:
    assert {p.stem for p in PRESETS} >= {
        "pyramidnet200_cifar100",
        "wrn28_10_cifar100",
        "preactresnet18_tinyimagenet",
        "resnet50_imagenet",
    }
    with pytest.raises(ValueError, match="unknown config keys"):
        TrainConfig.from_dict({"epoch": 3})


def test_every_field_has_a_validation_rule_and_the_defaults_pass() -> None:
    assert set(_RULES) == {f.name for f in dataclasses.fields(TrainConfig)}
    TrainConfig().validate()
    assert TrainConfig.from_dict({"epochs": 3, "lr": 1, "val_per_class": 5, "per_class": 10}).lr == 1  # int for float


def test_choices_live_in_one_place_and_match_the_registries() -> None:
    from saliency_grafting.data import DATASETS
    from saliency_grafting.models.regularizers import REGULARIZERS
    from saliency_grafting.saliency.sources import SOURCES

    assert "dataset" not in CHOICES and CHOICES["regularizer"] == tuple(REGULARIZERS)  # datasets: the registry
    assert TrainConfig.from_dict({"dataset": "fsdd"}).dataset == "fsdd" and "fsdd" in DATASETS
    with pytest.raises(ValueError, match=r"--dataset: unknown dataset 'fsd'; valid names: .*; did you mean 'fsdd'"):
        TrainConfig.from_dict({"dataset": "fsd"})
    assert set(CHOICES["saliency"]) == {"auto", *SOURCES}


INTS = ["epochs", "warmup_epochs", "batch_size", "mix_times", "seed", "workers", "eval_every"]
OPTIONAL_INTS = ["per_class", "val_per_class", "image_size"]
REALS = ["lr", "momentum", "weight_decay", "gamma", "mix_prob", "label_smoothing"]
BOOLS = ["download", "nesterov", "channels_last", "compile", "tensorboard", "quiet"]
WRONG = st.one_of(st.text(max_size=5), st.lists(st.integers(), max_size=2), st.dictionaries(st.text(), st.integers()))


def rejected(name: str, value: object) -> str:
    values = {"per_class": 10} if name == "val_per_class" else {}
    with pytest.raises(ConfigError) as err:
        TrainConfig.from_dict({**values, name: value})
    assert err.value.field == name and str(err.value).startswith(flag(name) + " must be "), str(err.value)
    return str(err.value)


@given(st.sampled_from(INTS + OPTIONAL_INTS), st.one_of(WRONG, st.booleans(), st.floats(), st.integers(max_value=-1)))
def test_integer_fields_refuse_other_types_bools_floats_and_negatives(name: str, value: object) -> None:
    rejected(name, value)


@given(st.sampled_from(REALS), st.one_of(WRONG, st.booleans(), st.sampled_from([math.nan, math.inf, -math.inf])))
def test_number_fields_refuse_non_numbers_bools_and_non_finite_values(name: str, value: object) -> None:
    rejected(name, value)


@given(st.sampled_from(BOOLS), st.one_of(WRONG, st.integers(), st.none(), st.sampled_from(["yes", "maybe", "true"])))
def test_bool_fields_take_only_booleans(name: str, value: object) -> None:
    rejected(name, value)


@given(st.sampled_from(sorted(CHOICES)), st.text(max_size=12))
def test_choice_fields_take_only_their_choices(name: str, value: str) -> None:
    if value in CHOICES[name]:
        TrainConfig.from_dict({name: value})
    else:
        assert ", ".join(CHOICES[name]) in rejected(name, value)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"epochs": 0}, "--epochs must be an integer >= 1"),
        ({"warmup_epochs": 0.5}, "--warmup-epochs must be an integer >= 0, got 0.5"),
        ({"epochs": 2, "warmup_epochs": 3}, "--warmup-epochs must be <= --epochs"),
        ({"mix_prob": 1.01}, "--mix-prob must be a number in [0, 1]"),
        ({"label_smoothing": 1.0}, "--label-smoothing must be a number in [0, 1)"),
        ({"milestones": [0.5, 1.5]}, "--milestones must be a list of fractions"),
        ({"model": None}, "--model must be"),
        ({"model": "resnet_tni"}, "did you mean 'resnet_tiny'"),
        ({"mixer": "cutmix+mixpu"}, "unknown mixer 'mixpu'"),
        ({"schedule": "cosin"}, "did you mean 'cosine'"),
        ({"device": "cuda:x"}, "--device must be auto, cpu, cuda, cuda:N or mps"),
        ({"mixer_args": {"": 1}}, "--mixer-arg must be a mapping"),
        ({"val_per_class": 5}, "--val-per-class needs --per-class"),
    ],
)
def test_validation_messages_name_the_flag_and_the_expected_form(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        TrainConfig.from_dict(values)


def test_valid_values_pass() -> None:
    valid = [
        {"device": "cuda:1"},
        {"device": "cpu"},
        {"mixer": "cutout+mixup"},
        {"model": "timm:resnet18"},
        {"epochs": 3, "warmup_epochs": 3},
        {"mix_prob": 0},
        {"per_class": None},
        {"milestones": []},
    ]
    for values in valid:
        TrainConfig.from_dict(values)


def test_numpy_numbers_are_accepted_as_plain_numbers_that_yaml_saves(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    from saliency_grafting.config import save_yaml

    values = {"epochs": np.int64(3), "lr": np.float32(0.25), "seed": np.uint8(7), "milestones": [np.float64(0.5), 0.75]}
    config = TrainConfig.from_dict(values)
    assert (type(config.epochs), type(config.lr), type(config.seed)) == (int, float, int)
    assert (config.epochs, config.lr, config.seed) == (3, 0.25, 7)
    assert config.milestones == [0.5, 0.75] and all(type(m) is float for m in config.milestones)
    save_yaml(config.to_dict(), tmp_path / "config.yaml")
    assert load_yaml(tmp_path / "config.yaml")["epochs"] == 3
    with pytest.raises(ConfigError, match="--epochs must be an integer >= 1"):
        TrainConfig.from_dict({"epochs": np.float64(3.0)})

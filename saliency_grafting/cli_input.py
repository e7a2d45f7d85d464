"""Command-line input for ``sgraft``: flags with help and defaults, config resolution, and the checks that run
before anything is written (one-line errors naming the flag or file, close matches suggested)."""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import os
import re
import tempfile
import types
import typing
from pathlib import Path
from typing import Any, NoReturn

import torch
import yaml

from saliency_grafting.config import CHOICES, ConfigError, TrainConfig, flag, load_yaml, suggest
from saliency_grafting.data import DATASETS
from saliency_grafting.mixing import create_mixer
from saliency_grafting.models import create_model
from saliency_grafting.models.regularizers import apply_regularizer

__all__ = [
    "Parser",
    "add_config_flags",
    "check_components",
    "check_device",
    "check_output_dir",
    "one_line",
    "resolve_config",
]

_KEYWORD_FIELDS = ("dataset_args", "mixer_args", "model_args", "regularizer_args")


def _help_of(f: dataclasses.Field) -> str:
    """A field's help, from its declaration (``config.option``)."""
    text = f.metadata["help"]
    return text() if callable(text) else text


# One line of help for every TrainConfig field, read from the field (its default is appended).
_HELP = {f.name: _help_of(f) for f in dataclasses.fields(TrainConfig)}


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit code 2, with a close match suggested."""

    commands: dict[str, Parser]  # the top-level parser's subcommands, by name

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if choice:
            message += suggest(choice.group(1), re.findall(r"'([^']*)'", choice.group(2)))
        self.exit(2, f"{self.prog}: error: {one_line(message)}\n")

    def unrecognized(self, extras: list[str]) -> NoReturn:
        """Unknown arguments, with the closest known flag for each misspelt one."""
        flags = [o for action in self._actions for o in action.option_strings if o.startswith("--")]
        hints = []
        for token in (t.split("=")[0] for t in extras if t.startswith("-")):
            hints += difflib.get_close_matches(token, flags, n=1)
        hint = f"; did you mean {', '.join(hints)}?" if hints else ""
        self.error(f"unrecognized arguments: {' '.join(extras)}{hint}")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults in the help of every option, unless its help already gives it (the config flags: TrainConfig's)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        return text if "default" in text or action.required else super()._get_help_string(action)


def one_line(text: object) -> str:
    return " ".join(str(text).split("\n")).strip()


def key_value(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key.replace("-", "_"), yaml.safe_load(value)
    except yaml.YAMLError:
        raise argparse.ArgumentTypeError(f"{text!r}: the value is not valid YAML") from None


def _default_text(f: dataclasses.Field) -> str:
    """How a default reads in ``--help``: the field's ``shown`` text where its value alone says little."""
    if f.metadata.get("shown"):
        return f.metadata["shown"]
    factory: Any = f.default_factory  # set where there is no plain default
    value = factory() if f.default is dataclasses.MISSING else f.default
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if value == {}:
        return "none"
    return str(value)


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per ``TrainConfig`` field; unset flags stay out of the namespace so YAML values survive."""
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        name = flag(f.name)
        kind = hints[f.name]
        text = _HELP.get(f.name, f.name.replace("_", " "))
        kwargs: dict[str, Any] = {"default": argparse.SUPPRESS}
        kwargs["help"] = f"{text} (default: {_default_text(f)})".replace("%", "%%")
        if kind is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif f.name in _KEYWORD_FIELDS:
            kwargs.update(type=key_value, action="append", metavar="KEY=VALUE", dest=f.name)
        elif f.name == "milestones":
            kwargs.update(type=float, nargs="+")
        else:
            base = (
                [a for a in typing.get_args(kind) if a is not type(None)]
                if isinstance(kind, types.UnionType)
                else [kind]
            )
            kwargs["type"] = base[0]
            if f.name in CHOICES:
                kwargs["choices"] = CHOICES[f.name]
            elif f.name == "dataset":
                kwargs["choices"] = tuple(DATASETS)
        parser.add_argument(name, **kwargs)


def resolve_config(args: argparse.Namespace) -> TrainConfig:
    """Defaults <- the resumed run's config <- ``--config`` YAML <- flags, validated as a whole.

    An invalid value names its flag, and the file it came from when a YAML file set it.
    """
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    layers = []
    if getattr(args, "resume", None):
        saved = Path(args.resume) / "config.yaml"
        if not saved.is_file():
            raise ValueError(f"--resume {args.resume}: no config.yaml there; is it a run directory?")
        layers.append((str(saved), load_yaml(saved)))
    if getattr(args, "config", None):
        layers.append((str(args.config), load_yaml(args.config)))
    for source, loaded in layers:
        values.update(loaded)
        sources.update(dict.fromkeys(loaded, source))
        names = {f.name for f in dataclasses.fields(TrainConfig)}
        unknown = sorted(set(loaded) - names)
        if unknown:
            raise ValueError(
                f"{source}: unknown config keys {unknown}; valid keys: {', '.join(sorted(names))}"
                f"{suggest(unknown[0], sorted(names))}"
            )
    if getattr(args, "resume", None):
        values["out"] = str(args.resume)
    flags = {k: v for k, v in vars(args).items() if k not in ("command", "config", "resume", "func")}
    for key in _KEYWORD_FIELDS:
        if key in flags:
            flags[key] = {**(values.get(key) or {}), **dict(flags[key])}
    values.update(flags)
    for key in flags:
        sources.pop(key, None)
    try:
        config = TrainConfig.from_dict(values)
    except ConfigError as err:
        where = f" (set in {sources[err.field]})" if err.field in sources else ""
        raise ValueError(f"{err}{where}") from None
    except TypeError as err:  # a YAML value TrainConfig cannot even hold
        raise ValueError(f"invalid config: {err}") from None
    if config.out is None:
        config.out = f"runs/{config.dataset}_{config.model.replace(':', '-')}_{config.mixer}_seed{config.seed}"
    return config


def check_output_dir(path: Path, name: str = "--out") -> None:
    """``path`` can hold a run directory: it is one or can be made, and a file can be written there.

    Nothing is left behind: the probe file is removed and no directory is created.
    """
    if path.exists() and not path.is_dir():
        raise ValueError(f"{name} {path} is a file; expected a directory (or a path where one can be made)")
    parent = path
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"{name} {path}: {parent} is a file, so no directory can be made under it")
    try:
        fd, probe = tempfile.mkstemp(dir=parent, prefix=".sgraft-write-test.")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise ValueError(f"{name} {path}: cannot write in {parent} ({err.strerror or err})") from None


def check_device(device: str, name: str = "--device") -> None:
    """A one-line error when ``device`` names an accelerator this machine does not have."""
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"{name} {device}: CUDA is not available on this machine; use --device cpu (or auto)")
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise ValueError(f"{name} {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"{name} mps: the MPS backend is not available on this machine; use --device cpu (or auto)")


def check_components(config: TrainConfig) -> None:
    """Build the mixer, and the model with its regulariser on the meta device, once: their arguments are valid."""

    def args(kind: str, name: str, values: dict[str, Any]) -> str:
        return " ".join([f"--{kind} {name}", *(f"--{kind}-arg {k}={v}" for k, v in values.items())])

    try:
        create_mixer(config.mixer, 10, label_smoothing=config.label_smoothing, **config.mixer_args)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{args('mixer', config.mixer, config.mixer_args)}: {one_line(err)}") from None
    if config.model.startswith("timm:"):
        return  # built with the data: timm may be missing, which the trainer reports
    try:
        with torch.device("meta"):
            model = create_model(config.model, 10, **config.model_args)
    except (ValueError, TypeError, RuntimeError) as err:
        raise ValueError(f"{args('model', config.model, config.model_args)}: {one_line(err)}") from None
    try:
        with torch.device("meta"):
            apply_regularizer(model, config.regularizer, **config.regularizer_args)
    except (ValueError, TypeError, RuntimeError) as err:
        text = args("regularizer", config.regularizer, config.regularizer_args)
        raise ValueError(f"{text}: {one_line(err)}") from None

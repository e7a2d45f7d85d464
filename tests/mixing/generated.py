"""Hypothesis strategies for tests/mixing/test_generated_inputs.py: malformed and edge-case mixer inputs."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from hypothesis import strategies as st

import saliency_grafting as sg
from saliency_grafting.mixing.puzzlemix import grids_for

INVALID = ("images", "labels", "saliency", "generator", "perm")
SCALES = (1e-30, 1e-22, 1.0, 1e19, 1e30)
_MODEL = (sg.SaliencyKind.FORWARD, sg.SaliencyKind.INPUT_GRADIENT)


@dataclass
class Case:
    """One generated call: the arguments, which of them are malformed, and the image holding NaN/inf (if any)."""

    images: Any
    labels: Any
    saliency: Any
    perm: Any
    gen_kind: str
    seed: int
    bad: set[str] = field(default_factory=set)
    bad_image: int | None = None

    def generator(self, _: int) -> Any:
        """A fresh generator with the case's seed for each use (``None``: the global RNG, seeded here)."""
        if self.gen_kind == "seeded":
            return torch.Generator().manual_seed(self.seed)
        if self.gen_kind == "none":
            torch.manual_seed(self.seed)
            return None
        return {"int": 3, "str": "seed", "numpy": np.random.default_rng(0), "float": 0.5}[self.gen_kind]

    def invalid(self, mixer: sg.Mixer) -> set[str]:
        """The malformed arguments, plus those this mixer cannot take (missing saliency, PuzzleMix's images)."""
        bad = set(self.bad)
        if self.saliency is None and mixer.saliency_kind in _MODEL:
            bad.add("saliency")
        if isinstance(mixer, sg.PuzzleMix) and "images" not in bad:
            side = self.images.shape[-1]
            grids = mixer.block_nums if mixer.block_nums is not None else grids_for(side)  # None: they follow the side
            nonsquare = self.images.shape[-2] != side or any(side % n for n in grids)
            if nonsquare or not torch.isfinite(self.images).all():
                bad.add("images")
        return bad


def _images(draw: st.DrawFn, name: str, g: torch.Generator, corrupt: bool) -> tuple[Any, set[str], int | None]:
    b = draw(st.integers(1, 7))
    c = draw(st.sampled_from([1, 3]))
    if name == "puzzlemix":
        h = w = draw(st.sampled_from([16, 16, 16, 32, 8, 12]))
    else:
        h, w = draw(st.integers(1, 20)), draw(st.integers(1, 20))
    valid = ["float32"] * 6 + ["float16", "bfloat16", "float64", "nan", "inf", "-inf", "huge"]
    invalid = ["uint8", "int64", "bool", "list", "numpy", "rank3", "rank5", "zero_b", "zero_c", "zero_h", "zero_w"]
    kind = draw(st.sampled_from(invalid if corrupt else valid))
    x = torch.randn(b, c, h, w, generator=g)
    if kind in ("float16", "bfloat16", "float64"):
        return x.to(getattr(torch, kind)), set(), None
    if kind in ("nan", "inf", "-inf"):
        k = draw(st.integers(0, b - 1))
        if draw(st.booleans()):
            x[k] = float(kind)
        else:
            x[k, draw(st.integers(0, c - 1)), draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))] = float(kind)
        return x, set(), k
    bad = {"images"}
    shapes = {"zero_b": (0, c, h, w), "zero_c": (b, 0, h, w), "zero_h": (b, c, 0, w), "zero_w": (b, c, h, 0)}
    images = {
        "float32": x,
        "huge": x * 1e30,
        "uint8": (x.abs() * 50).to(torch.uint8),
        "int64": x.long(),
        "bool": x > 0,
        "list": x.tolist(),
        "numpy": x.numpy(),
        "rank3": x[:, 0],
        "rank5": x[None],
    }.get(kind)
    if images is None:
        images = torch.empty(shapes[kind])
    return images, (set() if kind in ("float32", "huge") else bad), None


def _labels(draw: st.DrawFn, b: int, k: int, g: torch.Generator, corrupt: bool) -> tuple[Any, bool]:
    valid_kinds = ["int64"] * 4 + ["int32", "soft", "soft64", "onehot_int64", "onehot_uint8"]
    invalid_kinds = [
        "bool",
        "float_1d",
        "short",
        "out_of_range",
        "negative",
        "wrong_k",
        "list",
        "bad_rows",
        "nan_rows",
        "rank3",
    ]
    kind = draw(st.sampled_from(invalid_kinds if corrupt else valid_kinds))
    idx = torch.randint(0, k, (b,), generator=g)
    soft = torch.rand(b, k, generator=g) + 1e-3
    soft = soft / soft.sum(1, keepdim=True)
    onehot = torch.nn.functional.one_hot(idx, k)
    valid = {
        "int64": idx,
        "int32": idx.int(),
        "soft": soft,
        "soft64": soft.double(),
        "onehot_int64": onehot,
        "onehot_uint8": onehot.to(torch.uint8),
    }
    if kind in valid:
        return valid[kind], True
    bad_rows = soft * 2
    nan_rows = soft.clone()
    nan_rows[0, 0] = float("nan")
    return {
        "bool": idx > 0,
        "float_1d": idx.float(),
        "short": idx[:-1],
        "out_of_range": torch.full((b,), k),
        "negative": -idx - 1,
        "wrong_k": torch.rand(b, k + 1, generator=g),
        "list": idx.tolist(),
        "bad_rows": bad_rows,
        "nan_rows": nan_rows,
        "rank3": idx[:, None, None],
    }[kind], False


def _saliency(draw: st.DrawFn, b: int, g: torch.Generator, corrupt: bool) -> tuple[Any, bool]:
    valid_kinds = ["none"] * 2 + ["float32"] * 4 + ["4d", "float16", "bfloat16"]
    invalid_kinds = ["numpy", "int", "short", "zero_h", "nan", "inf", "negative", "rank2"]
    kind = draw(st.sampled_from(invalid_kinds if corrupt else valid_kinds))
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    scale = draw(st.sampled_from(SCALES))
    s = torch.rand(b, h, w, generator=g) ** 3
    if kind == "none":
        return None, True
    valid = {"float32": s * scale, "4d": (s * scale)[:, None], "float16": s.half(), "bfloat16": (s * scale).bfloat16()}
    if kind in valid:
        return valid[kind], True
    nan, inf = s.clone(), s.clone()
    nan[0, 0, 0], inf[-1, -1, -1] = float("nan"), float("inf")
    return {
        "numpy": s.numpy(),
        "int": (s * 10).long(),
        "short": s[:-1],
        "zero_h": s[:, :0],
        "nan": nan,
        "inf": inf,
        "negative": -s - 1,
        "rank2": s[:, 0],
    }[kind], False


def _perm(draw: st.DrawFn, b: int, g: torch.Generator, corrupt: bool) -> tuple[Any, bool]:
    valid_kinds = ["none"] * 4 + ["valid", "int32", "repeat"]
    kind = draw(st.sampled_from(["float", "bool", "short", "oob", "list"] if corrupt else valid_kinds))
    p = torch.randperm(b, generator=g)
    valid = {"none": None, "valid": p, "int32": p.int(), "repeat": torch.zeros(b, dtype=torch.long)}
    if kind in valid:
        return valid[kind], True
    return {"float": p.float(), "bool": p > 0, "short": p[:-1], "oob": p + b, "list": p.tolist()}[kind], False


@st.composite
def cases(draw: st.DrawFn, name: str, k: int) -> Case:
    """A call of mixer ``name`` with ``k`` classes: mostly valid, some malformed arguments, edge-case values."""
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    # Most cases are valid; the others corrupt one argument (sometimes two).
    corrupt = set(draw(st.lists(st.sampled_from([None] * 6 + list(INVALID)), min_size=1, max_size=2))) - {None}
    images, bad, bad_image = _images(draw, name, g, "images" in corrupt)
    b = images.shape[0] if isinstance(images, (torch.Tensor, np.ndarray)) and images.ndim == 4 else 4
    b = max(b, 1)
    labels, ok = _labels(draw, b, k, g, "labels" in corrupt)
    bad |= set() if ok else {"labels"}
    saliency, ok = _saliency(draw, b, g, "saliency" in corrupt)
    bad |= set() if ok else {"saliency"}
    perm, ok = _perm(draw, b, g, "perm" in corrupt)
    bad |= set() if ok else {"perm"}
    gen_kind = draw(
        st.sampled_from(["int", "str", "numpy", "float"] if "generator" in corrupt else ["seeded"] * 3 + ["none"])
    )
    if gen_kind not in ("seeded", "none"):
        bad.add("generator")
    return Case(images, labels, saliency, perm, gen_kind, seed, bad, bad_image)


# -- constructor arguments: (valid values, [(bad value, expected exception), ...]) per argument ----------------

_NONFINITE = [(math.inf, ValueError), (-math.inf, ValueError), (math.nan, ValueError)]
_NOT_NUMBERS = [("1.0", TypeError), (True, TypeError), (None, TypeError), ([1.0], TypeError)]


def _number(low: float, high: float | None = None, *, low_open: bool = False, high_open: bool = False) -> tuple:
    top = high if high is not None else low + 10
    valid = st.floats(low, top, exclude_min=low_open, exclude_max=high_open)
    bad = [*_NOT_NUMBERS, *_NONFINITE, (low if low_open else low - 1, ValueError)]
    if high is not None:
        bad.append((high if high_open else high + 1, ValueError))
    return valid, bad


def _int(low: int, high: int | None = None, *, optional: bool = False, top: int | None = None) -> tuple:
    valid = st.integers(low, top if top is not None else high if high is not None else low + 8)
    bad = [("2", TypeError), (2.0, TypeError), (True, TypeError), (low - 1, ValueError)]
    if high is not None:
        bad.append((high + 1, ValueError))
    if optional:
        valid = st.none() | valid
    else:
        bad.append((None, TypeError))
    return valid, bad


_FLAG = (st.booleans(), [(1, TypeError), ("yes", TypeError), (None, TypeError)])


def _choice(*options: str) -> tuple:
    return st.sampled_from(options), [("nope", ValueError), (1, TypeError), (None, TypeError)]


def _ints(low: int) -> tuple:
    valid = st.lists(st.integers(low, low + 6), min_size=1, max_size=3)
    return valid, [
        ([], ValueError),
        ("24", TypeError),
        (4, TypeError),
        ([low - 1], ValueError),
        ([2.0], TypeError),
        ([True], TypeError),
    ]


_COMMON = {"num_classes": _int(1, top=20), "label_smoothing": _number(0, 1, high_open=True), "validate": _FLAG}
_BETA = {"alpha": _number(0, low_open=True), "per_sample": _FLAG}
SPECS: dict[str, dict[str, tuple]] = {
    "none": {},
    "mixup": _BETA,
    "cutmix": _BETA,
    "cutout": {"size": _int(1, optional=True)},
    "specaugment": {
        "freq_width": _int(0),
        "freq_masks": _int(0, top=3),
        "time_width": _int(0),
        "time_ratio": _number(0, 1),
        "time_masks": _int(0, top=3),
    },
    "saliencymix": {**_BETA, "method": _choice("spectral_residual", "opencv_fine_grained")},
    "attentive_cutmix": {
        "top_n": (st.integers(0, 6), [("2", TypeError), (2.5, TypeError), (-1, ValueError), (10_000, ValueError)]),
        "grid": (st.integers(3, 9), _int(1)[1]),
        "feature_model": (st.none(), [("resnet", TypeError), (3, TypeError)]),
    },
    "saliency_grafting": {
        "alpha": _number(0, low_open=True),
        "temperature": _number(0, low_open=True),
        "threshold": (
            st.just("mean") | st.floats(0, 1, exclude_max=True),
            [
                ("median", ValueError),
                (1.5, ValueError),
                (math.inf, ValueError),
                (math.nan, ValueError),
                (True, TypeError),
                (None, TypeError),
                ([0.1], TypeError),
            ],
        ),
        "grid_sizes": (st.none() | _ints(1)[0], _ints(1)[1]),
        "selection": _choice("stochastic", "deterministic"),
        "label_mixing": _choice("saliency", "area"),
    },
    "puzzlemix": {
        "alpha": _number(0, low_open=True),
        "beta": _number(0),
        "gamma": _number(0),
        "eta": _number(0),
        "neigh_size": _int(1),
        "n_labels": _int(2, 64, top=4),
        "block_nums": (st.none() | _ints(2)[0], _ints(2)[1]),
        "transport": _FLAG,
        "t_eps": _number(0),
        "t_size": _int(1, optional=True),
        "adv_p": _number(0, 1),
        "adv_eps": _number(0, 255),
        "workers": _int(1, optional=True, top=2),
        "mean": (st.none(), [("0.5", TypeError), ([math.nan], ValueError), ([], ValueError), (0.5, TypeError)]),
        "std": (st.none(), [("0.5", TypeError), ([0.0], ValueError), ([-1.0], ValueError), ([math.inf], ValueError)]),
    },
    "manifold_mixup": {
        **_BETA,
        "layers": (
            st.none() | st.just(["layer1", "layer2"]),
            [("layer1", TypeError), ([], ValueError), ([1], TypeError), ([""], ValueError), (3, TypeError)],
        ),
    },
    "augmix": {
        "severity": _int(1, 10),
        "width": _int(1, top=3),
        "alpha": _number(0, low_open=True),
        "jsd_weight": _number(0),
        "depth": (
            st.sampled_from([-1, 1, 2, 3]),
            [(0, ValueError), (-2, ValueError), (1.5, TypeError), ("3", TypeError), (None, TypeError)],
        ),
    },
}
SPECS["cutout+mixup"] = {**SPECS["cutout"], **SPECS["mixup"]}
SPECS["cutout+manifold_mixup"] = {**SPECS["cutout"], **SPECS["manifold_mixup"]}


@st.composite
def constructor_cases(draw: st.DrawFn, name: str) -> tuple[dict[str, Any], str | None, type[Exception] | None]:
    """``(kwargs for create_mixer(name, **kwargs), the bad argument or None, the exception it must raise)``."""
    spec = {**_COMMON, **SPECS[name]}
    kwargs: dict[str, Any] = {"num_classes": draw(spec["num_classes"][0])}
    for arg in draw(st.lists(st.sampled_from(sorted(spec)), unique=True, max_size=4)):
        kwargs[arg] = draw(spec[arg][0])
    if name == "puzzlemix":
        kwargs["workers"] = 1  # no process pool in the tests
    if draw(st.integers(0, 4)) == 0:
        return kwargs, None, None
    bad = draw(st.sampled_from(sorted(spec)))
    value, expected = draw(st.sampled_from(spec[bad][1]))
    kwargs[bad] = value
    return kwargs, bad, expected

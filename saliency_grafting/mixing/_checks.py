"""The mixers' tensor checks (the scalar ones are the library's, re-exported from ``saliency_grafting._validation``):
a TypeError or ValueError that names the argument, its owner and the form."""

from __future__ import annotations

import difflib
import inspect
from typing import Any

import torch
from torch import Tensor

from saliency_grafting._validation import (
    check_choice,
    check_flag,
    check_int,
    check_int_sequence,
    check_number,
    check_number_sequence,
    fail,
)

__all__ = [
    "KeywordOnly",
    "check_choice",
    "check_flag",
    "check_generator",
    "check_images",
    "check_int",
    "check_int_sequence",
    "check_labels",
    "check_number",
    "check_number_sequence",
    "check_params",
    "check_perm",
    "check_saliency",
    "check_tensor",
    "fail",
]


def check_tensor(value: object, name: str, owner: object, form: str) -> Tensor:
    """A ``torch.Tensor`` (TypeError naming ``form`` otherwise)."""
    if not isinstance(value, Tensor):
        fail(TypeError, owner, name, form, f"{type(value).__module__}.{type(value).__name__}")
    return value


def check_generator(value: object, owner: object) -> torch.Generator | None:
    """``None`` (the global RNG) or a ``torch.Generator``."""
    if value is not None and not isinstance(value, torch.Generator):
        fail(TypeError, owner, "generator", "a torch.Generator or None", f"{value!r} ({type(value).__name__})")
    return value


def check_images(images: object, owner: object, *, finite: bool = False) -> Tensor:
    """A floating-point ``[B, C, H, W]`` tensor with no zero-sized dimension (``finite``: no NaN/inf, a host sync)."""
    form = "a floating-point tensor [B, C, H, W] with B, C, H, W >= 1"
    images = check_tensor(images, "images", owner, form)
    if not images.is_floating_point():
        fail(TypeError, owner, "images", form, f"dtype {images.dtype}")
    if images.ndim != 4:
        fail(ValueError, owner, "images", form, f"shape {tuple(images.shape)}")
    if images.shape[0] == 0:
        fail(ValueError, owner, "images", form + " (at least one sample)", f"an empty batch {tuple(images.shape)}")
    if 0 in images.shape:
        fail(ValueError, owner, "images", form, f"shape {tuple(images.shape)}")
    if finite and not torch.isfinite(images).all():
        fail(ValueError, owner, "images", "finite (the mask is computed from the pixels)", "NaN or inf values")
    return images


def check_labels(labels: object, batch: int, classes: int, owner: object, *, validate: bool) -> Tensor:
    """``[B]`` integer class indices or ``[B, K]`` soft / one-hot labels (floating or integer); returned as given.

    ``validate`` (host syncs) checks that indices lie in ``[0, K)`` and that label rows are distributions.
    """
    form = f"[{batch}] int class indices in [0, {classes}) or [{batch}, {classes}] soft or one-hot labels"
    labels = check_tensor(labels, "labels", owner, form)
    if labels.dtype == torch.bool or labels.is_complex() or (labels.ndim == 1 and labels.is_floating_point()):
        fail(TypeError, owner, "labels", form + " (integer indices, float or integer rows)", f"dtype {labels.dtype}")
    if labels.ndim not in (1, 2) or labels.shape[0] != batch or (labels.ndim == 2 and labels.shape[1] != classes):
        fail(ValueError, owner, "labels", form, f"shape {tuple(labels.shape)}")
    if not validate:
        return labels
    if labels.ndim == 1:
        if ((labels < 0) | (labels >= classes)).any():  # host sync; validate=False skips it
            fail(ValueError, owner, "labels", form, "values outside [0, K)")
        return labels
    rows = labels.double()
    tol = max(1e-3, classes * torch.finfo(labels.dtype).eps) if labels.is_floating_point() else 0.0
    if not (torch.isfinite(rows).all() and (rows >= 0).all() and ((rows.sum(1) - 1).abs() <= tol).all()):
        fail(ValueError, owner, "labels", form + " whose rows are >= 0 and sum to 1", "other rows")
    return labels


def check_saliency(saliency: object, batch: int, owner: object, *, validate: bool) -> Tensor:
    """A floating-point ``[B, h, w]`` (or ``[B, 1, h, w]``) map, returned as ``[B, h, w]``.

    ``validate`` (a host sync) checks that it is finite in float32 and non-negative (a magnitude).
    """
    form = f"a floating-point tensor [B, h, w] or [B, 1, h, w] with B = {batch} and h, w >= 1"
    saliency = check_tensor(saliency, "saliency", owner, form)
    if not saliency.is_floating_point():
        fail(TypeError, owner, "saliency", form, f"dtype {saliency.dtype}")
    if saliency.ndim == 4 and saliency.shape[1] == 1:
        saliency = saliency[:, 0]
    if saliency.ndim != 3 or saliency.shape[0] != batch or 0 in saliency.shape:
        fail(ValueError, owner, "saliency", form, f"shape {tuple(saliency.shape)}")
    if validate:  # host sync; validate=False skips it
        values = saliency.float()
        if not torch.isfinite(values).all():
            fail(ValueError, owner, "saliency", "finite (in float32)", "NaN or inf values")
        if not (values >= 0).all():
            fail(ValueError, owner, "saliency", "non-negative (a magnitude, e.g. sum_c |A_c|)", "negative values")
    return saliency


def check_perm(perm: object, batch: int, owner: object, *, validate: bool) -> Tensor | None:
    """``None`` (drawn) or integer partner indices ``[B]`` in ``[0, B)``, returned as int64."""
    if perm is None:
        return None
    form = f"None or an int64 tensor [{batch}] of partner indices in [0, {batch})"
    perm = check_tensor(perm, "perm", owner, form)
    if perm.dtype == torch.bool or perm.is_floating_point() or perm.is_complex():
        fail(TypeError, owner, "perm", form, f"dtype {perm.dtype}")
    if perm.shape != (batch,):
        fail(ValueError, owner, "perm", form, f"shape {tuple(perm.shape)}")
    if validate and ((perm < 0) | (perm >= batch)).any():  # host sync; validate=False skips it
        fail(ValueError, owner, "perm", form, "indices outside [0, B)")
    return perm.long()


def check_params(params: object, images: Tensor, owner: object, kind: type, *, binary: bool, validate: bool) -> None:
    """``params`` of the mixer's kind drawn for a batch of ``images``' shape (``binary``: a 0/1 mask)."""
    if not isinstance(params, kind):
        fail(TypeError, owner, "params", f"a {kind.__name__} from sample_params", type(params).__name__)
    drawn: Any = params  # one of the MixParams kinds, checked above
    batch = images.shape[0]
    if drawn.perm.shape != (batch,) or drawn.lam.shape != (batch,):
        fail(
            ValueError,
            owner,
            "params",
            f"drawn for a batch of {batch} (perm and lam [{batch}])",
            f"perm {tuple(drawn.perm.shape)}, lam {tuple(drawn.lam.shape)}",
        )
    mask = drawn.mask
    if mask is not None and mask.shape != (batch, 1, *images.shape[-2:]):
        fail(
            ValueError,
            owner,
            "params.mask",
            f"of shape [{batch}, 1, {images.shape[-2]}, {images.shape[-1]}]",
            f"{tuple(mask.shape)}",
        )
    if validate and binary and mask is not None and ((mask != 0) & (mask != 1)).any():  # host sync
        fail(ValueError, owner, "params.mask", "binary (0 or 1): this mixer selects pixels", "other values")


class KeywordOnly(type):
    """Metaclass: constructing with positional or unknown arguments raises a TypeError that names the class.

    Python's own message names the class that defines ``__init__`` (``BetaMixer.__init__()`` for ``CutMix(10)``).
    Only explicit construction is checked: pickling and copying do not call the metaclass.
    """

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        _check_signature(cls, args, kwargs)
        return super().__call__(*args, **kwargs)


def _check_signature(cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]  # type: ignore[misc]
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    named = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    required = [p.name for p in params if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    example = ", ".join(f"{n}=..." for n in required) or "..."
    if len(args) > len(positional) and not any(p.kind is p.VAR_POSITIONAL for p in params):
        raise TypeError(
            f"{cls.__name__} takes keyword arguments only, e.g. {cls.__name__}({example}); got "
            f"{len(args)} positional argument(s) {', '.join(repr(a) for a in args)}"
        )
    if not any(p.kind is p.VAR_KEYWORD for p in params):
        for key in kwargs:
            if key not in named:
                close = difflib.get_close_matches(key, named, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise TypeError(
                    f"{cls.__name__} got an unexpected keyword argument {key!r}{hint}; it takes {', '.join(named)}"
                )
    given = {p.name for p in positional[: len(args)]} | set(kwargs)
    missing = [name for name in required if name not in given]
    if missing:
        raise TypeError(
            f"{cls.__name__} needs the keyword argument(s) {', '.join(missing)}, e.g. {cls.__name__}({example})"
        )

"""The library's argument checks for scalars and sequences: a ``TypeError`` for the wrong type and a ``ValueError``
(or the caller's error, e.g. ``DataError``) for a value out of range, each naming the argument, its owner and the
expected form. Mixers, the config, the data layer, models and the training step all check with these."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeGuard

__all__ = [
    "check_choice",
    "check_flag",
    "check_int",
    "check_int_sequence",
    "check_number",
    "check_number_sequence",
    "fail",
    "is_int",
    "is_real",
    "range_text",
]

# The error raised for a value out of range: an exception class or any callable that makes one from the message.
ErrorKind = Callable[[str], Exception]


def _owner(owner: object) -> str:
    if isinstance(owner, str):
        return owner
    return owner.__name__ if isinstance(owner, type) else type(owner).__name__


def fail(kind: ErrorKind, owner: object, name: str, form: str, got: object) -> NoReturn:
    """Raise ``kind("Owner: name must be form, got got")`` (``owner`` None: no ``Owner: ``)."""
    prefix = "" if owner is None else f"{_owner(owner)}: "
    raise kind(f"{prefix}{name} must be {form}, got {got}")


def is_int(value: object) -> TypeGuard[int]:
    """An integer that is not a bool (``True`` is an ``int`` to Python, never a count to us)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: object) -> TypeGuard[float]:
    """A real number that is not a bool (finite or not: ``check_number`` asks for finite)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def range_text(low: float | None, high: float | None, low_open: bool = False, high_open: bool = False) -> str:
    """``">= 1 and < 3"``: the range as the error messages state it."""
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {_bound(low)}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {_bound(high)}")
    return " and ".join(parts)


def _bound(value: float) -> str:
    return str(value) if is_int(value) else f"{value:g}"  # ints in full (2**32, not 4.29497e+09)


def check_int(
    value: object,
    name: str,
    owner: object = None,
    *,
    low: int | None = None,
    high: int | None = None,
    high_open: bool = False,
    why: str = "",
    error: ErrorKind = ValueError,
    type_error: ErrorKind = TypeError,
) -> int:
    """An ``int`` (not a bool) in ``[low, high]`` (``high_open``: ``[low, high)``); ``why`` follows the form."""
    form = " ".join(["an int", range_text(low, high, False, high_open)]).strip() + (f" ({why})" if why else "")
    if not is_int(value):
        fail(type_error, owner, name, form, f"{value!r} ({type(value).__name__})")
    if (low is not None and value < low) or (high is not None and (value >= high if high_open else value > high)):
        fail(error, owner, name, form, repr(value))
    return int(value)


def check_number(
    value: object,
    name: str,
    owner: object = None,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A finite real number (not a bool or a string) in the given range, as a ``float``."""
    form = " ".join(["a finite number", range_text(low, high, low_open, high_open)]).strip()
    if not is_real(value):
        fail(TypeError, owner, name, form, f"{value!r} ({type(value).__name__})")
    number = float(value)
    if (
        not math.isfinite(number)
        or (low is not None and (number <= low if low_open else number < low))
        or (high is not None and (number >= high if high_open else number > high))
    ):
        fail(ValueError, owner, name, form, repr(value))
    return number


def check_flag(value: object, name: str, owner: object = None) -> bool:
    """A ``bool`` (``True`` / ``False``, not ``1`` or ``"yes"``)."""
    if not isinstance(value, bool):
        fail(TypeError, owner, name, "a bool (True or False)", f"{value!r} ({type(value).__name__})")
    return value


def check_choice(value: object, name: str, owner: object, choices: Sequence[str]) -> str:
    """One of the strings ``choices``."""
    form = "one of " + ", ".join(repr(c) for c in choices)
    if not isinstance(value, str):
        fail(TypeError, owner, name, form, f"{value!r} ({type(value).__name__})")
    if value not in choices:
        fail(ValueError, owner, name, form, repr(value))
    return value


def _sequence(value: object, name: str, owner: object, form: str) -> tuple[Any, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        fail(TypeError, owner, name, form, f"{value!r} ({type(value).__name__})")
    if len(value) == 0:
        fail(ValueError, owner, name, form, "an empty sequence")
    return tuple(value)


def check_int_sequence(value: object, name: str, owner: object, *, low: int) -> tuple[int, ...]:
    """A non-empty sequence (tuple or list) of ints ``>= low``."""
    form = f"a non-empty sequence of ints >= {low}"
    items = _sequence(value, name, owner, form)
    if not all(is_int(v) for v in items):
        fail(TypeError, owner, name, form, repr(value))
    if any(v < low for v in items):
        fail(ValueError, owner, name, form, repr(value))
    return tuple(int(v) for v in items)


def check_number_sequence(
    value: object, name: str, owner: object, *, low: float | None = None, low_open: bool = False
) -> tuple[float, ...]:
    """A non-empty sequence of finite numbers in range."""
    form = " ".join(["a non-empty sequence of finite numbers", range_text(low, None, low_open, False)]).strip()
    items = _sequence(value, name, owner, form)
    if not all(is_real(v) for v in items):
        fail(TypeError, owner, name, form, repr(value))
    if not all(math.isfinite(float(v)) for v in items) or (
        low is not None and any(float(v) <= low if low_open else float(v) < low for v in items)
    ):
        fail(ValueError, owner, name, form, repr(value))
    return tuple(float(v) for v in items)

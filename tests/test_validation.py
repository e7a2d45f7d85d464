"""The library's scalar checks: one set of int / number / flag rules for mixers, config, data, models and the step."""

from __future__ import annotations

import math
from functools import partial

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saliency_grafting._validation import check_int, check_number, is_int, is_real, range_text
from saliency_grafting.data.folders import DataError

_ANY = st.one_of(st.integers(), st.floats(allow_nan=True), st.booleans(), st.text(max_size=3), st.none())


@given(_ANY)
def test_is_int_and_is_real_reject_bools_and_accept_their_numbers(value: object) -> None:
    assert is_int(value) == (type(value) is int)
    assert is_real(value) == (type(value) in (int, float))


@given(st.integers(-50, 50), st.integers(-20, 20), st.integers(0, 20), st.booleans())
def test_check_int_accepts_exactly_the_ints_in_range(value: int, low: int, width: int, high_open: bool) -> None:
    high = low + width
    inside = low <= value < high if high_open else low <= value <= high
    if inside:
        assert check_int(value, "n", low=low, high=high, high_open=high_open) == value
    else:
        with pytest.raises(ValueError, match=rf"^n must be an int {range_text(low, high, False, high_open)}, got"):
            check_int(value, "n", low=low, high=high, high_open=high_open)


@pytest.mark.parametrize("value", [True, 1.0, "1", None])
def test_check_int_names_the_owner_the_argument_and_the_type(value: object) -> None:
    with pytest.raises(TypeError, match=rf"^Thing: n must be an int >= 1 \(a count\), got {value!r} \("):
        check_int(value, "n", "Thing", low=1, why="a count")


def test_the_callers_error_carries_its_field() -> None:
    error = partial(DataError, field="per_class")
    with pytest.raises(DataError, match="per_class must be an int >= 1, got 0") as info:
        check_int(0, "per_class", low=1, error=error)
    assert info.value.field == "per_class"
    with pytest.raises(DataError, match="classes must be an int >= 1, got 'x'"):
        check_int("x", "classes", low=1, error=DataError, type_error=DataError)


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_check_number_asks_for_finite_numbers(value: float) -> None:
    if math.isfinite(value) and value > 0:
        assert check_number(value, "lr", low=0, low_open=True) == value
    else:
        with pytest.raises(ValueError, match=r"^lr must be a finite number > 0, got"):
            check_number(value, "lr", low=0, low_open=True)

"""Progress output: the per-epoch line, bars only on a terminal, start/end lines elsewhere, rounded JSON floats."""

from __future__ import annotations

import io
import json
import math
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saliency_grafting.engine.progress import EmptyMaskWatch, EpochLog, epoch_line, progress, round_floats


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


METRICS = {
    "epoch": 3,
    "lr": 0.05,
    "train_loss": 1.23456,
    "train_top1_error": 45.678,
    "mixing": True,
    "seconds": 12.34,
    "images_per_s": 1234.5,
    "samples_per_s": 2469.0,
}


def test_epoch_line_has_every_number_and_the_mix_diagnostics_when_present() -> None:
    line = epoch_line(METRICS, 10)
    assert line == "epoch 3/10  loss 1.2346  train err 45.68%  1234 img/s  12.3 s"
    tested = epoch_line({**METRICS, "test_top1_error": 30.0, "mix_area": 0.41234, "mix_empty": 2}, 10)
    assert "test err 30.00%" in tested and "mix_area 0.412" in tested and "mix_empty 2" in tested
    assert "train err" not in epoch_line({**METRICS, "train_top1_error": None}, 10)  # mixed-only methods
    assert "\n" not in tested


def test_epoch_log_prints_one_line_per_call_unless_quiet() -> None:
    stream = io.StringIO()  # not a terminal: the lines are printed all the same
    log = EpochLog(stream=stream)
    trainer = SimpleNamespace(config=SimpleNamespace(quiet=False, epochs=4))
    log(trainer, METRICS)
    log(trainer, {**METRICS, "epoch": 4})
    assert stream.getvalue().splitlines() == [epoch_line(METRICS, 4), epoch_line({**METRICS, "epoch": 4}, 4)]
    quiet = io.StringIO()
    EpochLog(stream=quiet)(SimpleNamespace(config=SimpleNamespace(quiet=True, epochs=4)), METRICS)
    assert quiet.getvalue() == ""


def test_progress_is_a_bar_on_a_terminal_and_lines_elsewhere() -> None:
    items = list(range(7))
    terminal = Terminal()
    assert list(progress(items, desc="decoding", stream=terminal, unit="images", leave=True)) == items
    assert "decoding" in terminal.getvalue() and "7/7" in terminal.getvalue()
    terminal = Terminal()
    assert list(progress(items, desc="epoch 1/3", stream=terminal)) == items
    assert "epoch 1/3" in terminal.getvalue() and terminal.getvalue().endswith("\r")  # the live bar is erased
    log = io.StringIO()
    assert list(progress(iter(items), desc="decoding", stream=log, lines=True, unit="images")) == items
    first, last = log.getvalue().splitlines()
    assert first == "decoding: ..." and last.startswith("decoding: 7 images in ")
    log = io.StringIO()
    assert list(progress(items, desc="epoch", stream=log)) == items and log.getvalue() == ""  # no lines asked
    for stream in (Terminal(), io.StringIO()):
        assert list(progress(items, desc="x", stream=stream, enabled=False, lines=True)) == items
        assert stream.getvalue() == ""


def test_round_floats_examples() -> None:
    assert round_floats(15.069999999999995) == 15.07
    assert json.dumps(round_floats({"a": [15.069999999999995, 2], "b": (0.1 + 0.2,), "c": "x", "d": True})) == (
        '{"a": [15.07, 2], "b": [0.3], "c": "x", "d": true}'
    )
    assert round_floats(1.23456e-6) == 1.235e-6  # small values keep their significant digits
    assert round_floats(0.0) == 0.0 and math.isnan(round_floats(math.nan)) and round_floats(math.inf) == math.inf
    assert round_floats(None) is None and round_floats(7) == 7


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12))
def test_round_floats_stays_close_and_is_idempotent(x: float) -> None:
    y = round_floats(x)
    assert round_floats(y) == y
    assert abs(y - x) <= max(0.5e-4, 1e-3 * abs(x))  # 4 decimals, or 4 significant digits when smaller
    assert (y == 0) == (x == 0)


def test_one_empty_batch_among_few_is_not_a_coarse_map() -> None:
    watch = EmptyMaskWatch(min_batches=4)
    assert watch.update(1.0, 1, 0) is None  # one batch of one small mixing ratio: chance
    assert watch.update(0.0, 1, 1) is None
    assert watch.update(0.1, 2, 2) is None  # judged over 4 batches: (1 + 0 + 0.2) / 4 = 0.3
    assert watch.update(1.0, 2, 3) is None  # a new window starts after each judgement
    warning = watch.update(0.9, 3, 4)  # (2 + 2.7) / 5 = 0.94: unequal batch counts weigh the mean
    assert warning is not None and warning.startswith("94 % of the mixed samples of epochs 4-5 (5 mixed batches)")
    assert watch.update(1.0, 4, 5).startswith("100 % of the mixed samples of epoch 6 (4 mixed batches)")


@given(st.lists(st.tuples(st.floats(0, 1), st.integers(0, 5)), max_size=20))
def test_the_watch_warns_only_when_a_window_of_enough_batches_is_mostly_empty(epochs) -> None:
    watch = EmptyMaskWatch(min_batches=4, limit=0.9)
    empty = batches = 0.0
    for epoch, (fraction, count) in enumerate(epochs):
        empty, batches = empty + fraction * count, batches + count
        warned = watch.update(fraction, count, epoch)
        if batches < 4:
            assert warned is None
            continue
        assert (warned is not None) == (empty / batches > 0.9)
        empty = batches = 0.0


@pytest.mark.parametrize(
    ("arguments", "error", "match"),
    [
        ({"min_batches": 0}, ValueError, "min_batches"),
        ({"min_batches": 2.5}, TypeError, "min_batches"),
        ({"limit": 1.5}, ValueError, "limit"),
    ],
)
def test_the_watch_rejects_bad_arguments(arguments, error, match) -> None:
    with pytest.raises(error, match=match):
        EmptyMaskWatch(**arguments)

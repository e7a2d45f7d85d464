"""Progress of a long loop for people: a live bar on a terminal, a start and an end line in a log, or nothing.

A leaf module (no other module of the package is imported), so that every layer can show progress.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

__all__ = ["progress"]

T = TypeVar("T")


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or a minimal stream
        return False


def progress(
    items: Iterable[T],
    *,
    desc: str,
    total: int | None = None,
    enabled: bool = True,
    unit: str = "it",
    lines: bool = False,
    leave: bool = False,
    stream: TextIO | None = None,
) -> Iterator[T]:
    """Iterate ``items``, showing progress on ``stream`` (stderr) unless ``enabled`` is false.

    On a terminal: a tqdm bar (erased at the end unless ``leave``). Elsewhere (a log file, a pipe): nothing, or with
    ``lines`` one line at the start and one at the end with the count and the seconds taken.
    """
    stream = stream if stream is not None else sys.stderr
    if total is None:
        try:
            total = len(items)  # type: ignore[arg-type]
        except TypeError:
            total = None
    if not enabled:
        yield from items
        return
    if _isatty(stream):
        from tqdm import tqdm

        yield from tqdm(items, total=total, desc=desc, unit=unit, leave=leave, file=stream, dynamic_ncols=True)
        return
    if not lines:
        yield from items
        return
    size = "" if total is None else f" {total} {unit}"
    print(f"{desc}:{size} ...", file=stream, flush=True)
    start, count = time.perf_counter(), 0
    for item in items:
        count += 1
        yield item
    print(f"{desc}: {count} {unit} in {time.perf_counter() - start:.1f} s", file=stream, flush=True)

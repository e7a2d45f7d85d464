"""The paper's experiments: definitions at paper and CPU scale, a resumable runner, and the report.

The names load on first use (PEP 562), so that ``sgraft train``, which needs only the scales, registers no
experiment; the registry fills the first time an experiment is looked up (``core.cells_for``).
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> the module of this package that defines it
_LAZY = {
    "aggregate": "report",
    "check_claim": "report",
    "mean_se": "report",
    "render": "report",
    "setting": "report",
    "plan": "runner",
    "record_path": "runner",
    "run_cell": "runner",
    "run_experiment": "runner",
    "run_key": "runner",
    "EXPERIMENTS": "suite",
    "SCALES": "suite",
    "Cell": "suite",
    "Experiment": "suite",
    "cells_for": "suite",
    "register": "suite",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)

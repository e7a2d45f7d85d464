"""Retrain one recorded cell with the current code and compare it with its record, field by field (bit-identity).

    python benchmarks/check_record.py EXPERIMENT ROW SEED --scale cpu --data-dir <cifar10-jpg> [--records docs/results]

Before relying on records made at an earlier commit, run this on one of their cells: the new run goes to a temporary
directory, and the test error, top-5 error, final training loss, occlusion errors and learning curve must be equal.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

from saliency_grafting.experiments import plan
from saliency_grafting.experiments.runner import record_path, run_cell


def _rounded(value: object) -> object:
    """Floats to 4 decimals (a percentage of 10 000 test images moves in steps of 0.01), recursively."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment")
    parser.add_argument("row", help="the cell's row label, e.g. 'Mixup'")
    parser.add_argument("seed", type=int)
    parser.add_argument("--column", default=None, help="the cell's column label when the row has several")
    parser.add_argument("--scale", default="cpu")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--records", default="docs/results", help="the --out of the recorded runs")
    args = parser.parse_args()
    torch.set_num_threads(1)
    runs = [
        (c, s, cfg)
        for c, s, cfg in plan(args.experiment, args.scale, args.seed + 1, args.data_dir)
        if c.row == args.row and s == args.seed and args.column in (None, c.column)
    ]
    if not runs:
        parser.exit(2, f"check_record: no cell {args.row!r} seed {args.seed} in {args.experiment} ({args.scale})\n")
    config = runs[0][2]
    old = json.loads(record_path(Path(args.records), config).read_text())
    with tempfile.TemporaryDirectory() as tmp:
        new = run_cell(config, Path(tmp), runs_dir=Path(tmp) / "runs")
    fields = {
        **{
            k: (old["summary"][k], new["summary"][k])
            for k in ("final_top1_error", "final_top5_error", "final_train_loss")
        },
        "occlusion": (old["occlusion_top1_error"], new["occlusion_top1_error"]),
        "curve": ([p["top1_error"] for p in old.get("curve", [])], [p["top1_error"] for p in new.get("curve", [])]),
    }
    print(f"record {old['key']}: commit {old['git_commit'][:7]} -> {new['git_commit'][:7]}")
    same = True
    for name, (a, b) in fields.items():
        equal = json.dumps(_rounded(a)) == json.dumps(_rounded(b))  # records since b8f8dc6 round to 4 digits
        same &= equal
        print(f"{name:18} {'identical' if equal else 'DIFFERENT'}  {a}  {b}")
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()

"""Choose a CPU scale by measurement: vanilla runs of candidate subsets, their clean training and test error.

    OMP_NUM_THREADS=1 python benchmarks/probe_scale.py tiny --data-dir DIR --out docs/results/probe \\
        [--runs-dir RUNS]

The scale's criterion (as for CIFAR-10's ``cpu``): vanilla's clean training error <= 2 % and test error >= 15 points
higher, at a cost that lets every method of Table 3 run in under ~45 min on one core. Each candidate is one run of
the experiment runner (records in OUT/records, keyed like every run; resumable: finished candidates are skipped).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

from saliency_grafting.config import TrainConfig
from saliency_grafting.data import get_source
from saliency_grafting.experiments.runner import record_path, run_cell
from saliency_grafting.experiments.scales.base import CPU_TRAINING

_NETWORK = {**CPU_TRAINING, "mixer": "none", "seed": 0, "quiet": True}  # the CPU scales' network, vanilla

# name -> candidates: (label, dataset, dataset_args, image_size, images per class, epochs)
CANDIDATES: dict[str, tuple[str, list[tuple[str, dict[str, Any], int | None, int, int]]]] = {
    "tiny": (
        "tinyimagenet",
        [
            ("64 px, 50 classes, 50 per class, 80 epochs", {"classes": 50, "class_seed": 0}, 64, 50, 80),
            ("32 px, 100 classes, 100 per class, 60 epochs", {"classes": 100, "class_seed": 0}, 32, 100, 60),
            ("32 px, 200 classes, 50 per class, 60 epochs", {}, 32, 50, 60),
            ("64 px, 100 classes, 50 per class, 50 epochs", {"classes": 100, "class_seed": 0}, 64, 50, 50),
        ],
    ),
    "speech": (
        "fsdd",
        [
            ("official split, 15 per class, 280 epochs", {}, None, 15, 280),
            ("official split, 45 per class, 120 epochs", {}, None, 45, 120),
            ("official split, 270 per class, 40 epochs", {}, None, 270, 40),
            ("speaker 0 held out, 45 per class, 120 epochs", {"split": "speaker", "fold": 0}, None, 45, 120),
            ("speaker 0 held out, 200 per class, 40 epochs", {"split": "speaker", "fold": 0}, None, 200, 40),
        ],
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=tuple(CANDIDATES))
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--runs-dir", type=Path)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dataset, candidates = CANDIDATES[args.name]
    fingerprint = get_source(dataset).fingerprint(Path(args.data_dir))
    for label, options, size, per_class, epochs in candidates:
        config = TrainConfig.from_dict(
            {
                **_NETWORK,
                "dataset": dataset,
                "dataset_args": options,
                "data_dir": args.data_dir,
                "data_fingerprint": fingerprint,
                "image_size": size,
                "per_class": per_class,
                "epochs": epochs,
                "warmup_epochs": 0,
                "eval_every": max(1, epochs // 4),
            }
        )
        path = record_path(args.out, config)
        if not path.exists():
            print(f"{label}: training", file=sys.stderr, flush=True)
            run_cell(config, args.out, runs_dir=args.runs_dir)
        record = json.loads(path.read_text())
        record["probe"] = label
        path.write_text(json.dumps(record, indent=1) + "\n")
        train, test = record["train_top1_error_clean"], record["summary"]["final_top1_error"]
        print(f"{label}: train {train:.2f} %, test {test:.2f} %, {record['wall_seconds'] / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()

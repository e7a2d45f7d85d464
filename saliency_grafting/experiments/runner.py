"""Run an experiment's cells over seeds, once each: a run is keyed by its config, and finished runs are skipped."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import IO, Any

try:
    import fcntl
except ImportError:  # not POSIX: claims always succeed
    fcntl = None  # type: ignore[assignment]

from saliency_grafting.config import TrainConfig
from saliency_grafting.experiments.core import EXPERIMENTS, Cell, cells_for
from saliency_grafting.experiments.scales import Scale, get_scale
from saliency_grafting.experiments.scales.cifar10 import CIFAR10_JPEG

__all__ = [
    "OCCLUSION_FRACTIONS",
    "TRAIN_KEY",
    "claim",
    "learning_curve",
    "plan",
    "record_path",
    "resolve",
    "run_cell",
    "run_experiment",
    "run_key",
    "selected",
    "train_error",
    "write_record",
]

OCCLUSION_FRACTIONS = (0.0, 0.125, 0.25)
TRAIN_KEY = "train_top1_error_clean"  # the final weights' error on the run's own training subset, no augmentation


# Config fields added after records began, with the values the older runs had: left out of the key at those
# values, so that a new field never orphans the records made before it. Every run before ``data_fingerprint``
# read generated data or the CIFAR-10 JPEG archive.
_ADDED_FIELDS: dict[str, tuple[Any, ...]] = {
    "saliency": ("auto",),
    "mix_reduction": ("sum",),
    "val_per_class": (None,),
    "dataset_args": ({},),
    "data_fingerprint": (None, CIFAR10_JPEG),
}
DataDirs = str | Mapping[str, str] | None  # one folder, or one per dataset name


def run_key(config: dict[str, Any]) -> str:
    """A short, stable hash of a run's config (seed and the data's fingerprint included, paths and verbosity not)."""
    relevant = {k: v for k, v in config.items() if k not in ("out", "quiet", "data_dir", "workers", "tensorboard")}
    relevant = {k: v for k, v in relevant.items() if k not in _ADDED_FIELDS or v not in _ADDED_FIELDS[k]}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()[:12]


def learning_curve(history: list[dict[str, Any]]) -> list[dict[str, float]]:
    """Each test evaluation of a run with the training seconds elapsed before it (evaluation time excluded)."""
    curve, elapsed = [], 0.0
    for metrics in history:
        elapsed += metrics["seconds"]
        if "test_top1_error" in metrics:
            curve.append(
                {
                    "epoch": metrics["epoch"],
                    "train_seconds": round(elapsed, 3),
                    "top1_error": metrics["test_top1_error"],
                }
            )
    return curve


def _git_commit() -> str:
    try:
        root = Path(__file__).resolve().parents[2]
        done = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        return done.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def data_root(data_dir: DataDirs, dataset: str) -> str | None:
    """The folder of ``dataset``: ``data_dir`` itself, or its entry for ``dataset`` when it maps names to folders."""
    if data_dir is None or isinstance(data_dir, str):
        return data_dir
    return data_dir.get(dataset)


def data_fingerprint(scale: Scale, dataset: str, root: str | None, options: Mapping[str, Any]) -> str | None:
    """The identity of the data a run of ``scale`` reads: the scale's own, else what ``root`` holds (None: no
    folder yet; the run records what it reads)."""
    if scale.fingerprint is not None and dataset == scale.dataset and dict(options) == dict(scale.dataset_args):
        return scale.fingerprint
    if root is None or not Path(root).expanduser().is_dir():
        return None
    return _fingerprint(dataset, str(Path(root).expanduser().resolve()))


_FINGERPRINTS: dict[tuple[str, str], str | None] = {}


def _fingerprint(dataset: str, root: str) -> str | None:
    from saliency_grafting.data import get_source

    if (dataset, root) not in _FINGERPRINTS:  # one listing per folder and process
        _FINGERPRINTS[(dataset, root)] = get_source(dataset).fingerprint(Path(root))
    return _FINGERPRINTS[(dataset, root)]


def plan(
    name: str, scale: str | Scale, seeds: int, data_dir: DataDirs, *, records: Path | None = None
) -> list[tuple[Cell, int, TrainConfig]]:
    """Every (cell, seed, resolved config) of experiment ``name``; a cell's seeds start at its ``seed_offset``.

    ``seeds`` is raised to the experiment's ``min_seeds`` for the scale's family. ``data_dir``: the data folder, or
    a mapping of dataset names to folders (the paper scale reads three datasets). Every config carries the identity
    of its data (``data_fingerprint``: the scale's, else that of the folder given), so it is part of the run's key.
    ``records`` is the output folder of earlier experiments, for those whose cells are chosen from their records
    (``tuned`` reads the ``tune`` records).
    """
    scale = get_scale(scale)
    runs = []
    cells = cells_for(name, scale, records=records)
    seeds = max(seeds, EXPERIMENTS[name].min_seeds.get(scale.family, 1))
    for index in range(seeds):  # seed-major: an interrupted experiment has every cell at its first seeds
        for cell in cells:
            seed = index + cell.seed_offset
            runs.append((cell, seed, resolve(scale, cell.config, seed, data_dir)))
    return runs


def resolve(scale: Scale, config: dict[str, Any], seed: int, data_dir: DataDirs) -> TrainConfig:
    """A cell's config at ``seed`` with its data folder and the data's fingerprint: the run ``plan`` lists."""
    values = {**config, "seed": seed, "quiet": True}
    dataset = values.get("dataset", "synthetic")
    if dataset != "synthetic":
        values["data_dir"] = data_root(data_dir, dataset)
        options = values.get("dataset_args", {})
        values["data_fingerprint"] = data_fingerprint(scale, dataset, values["data_dir"], options)
    return TrainConfig.from_dict(values)


def record_path(out: Path, config: TrainConfig) -> Path:
    return out / "records" / f"{run_key(config.to_dict())}.json"


def write_record(path: Path, record: dict[str, Any]) -> None:
    """Write a record atomically (a temporary file per writer, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, path)


def selected(cell: Cell, rows: Sequence[str] | None, columns: Sequence[str] | None) -> bool:
    """Whether ``cell`` is among the chosen ``rows`` and ``columns`` (None: every one)."""
    if isinstance(rows, str) or isinstance(columns, str):
        raise TypeError("rows and columns are sequences of labels, not one string")
    return (rows is None or cell.row in rows) and (columns is None or cell.column in columns)


def data_cache_key(config: TrainConfig) -> str:
    """Which whole dataset a run reads (its per-class subset is drawn from it): the key of the runner's data cache."""
    from saliency_grafting.data.registry import config_options

    return json.dumps([config.dataset, config.data_dir, config.image_size, config_options(config)], sort_keys=True)


def _dataset(config: TrainConfig, cache: dict[str, Any]) -> Any:
    """The run's dataset: the full one is decoded once per process and kept; the per-class subset is drawn here."""
    from saliency_grafting.data import load_dataset, subset
    from saliency_grafting.data.registry import check_fingerprint, config_options, load_config_data

    if config.dataset == "synthetic":
        return load_config_data(config)
    key = data_cache_key(config)
    if key not in cache:
        cache.clear()  # hold one dataset at a time
        cache[key] = load_dataset(
            config.dataset, config.data_dir, image_size=config.image_size, **config_options(config)
        )
    data = cache[key]
    check_fingerprint(data, config.data_fingerprint, config.data_dir)
    if config.per_class is None:
        if config.val_per_class is not None:
            raise ValueError("val_per_class needs per_class: the validation images are those the subset leaves out")
        return data
    return subset(data, config.per_class, config.seed, config.val_per_class)


def train_error(trainer: Any) -> float:
    """Top-1 error of ``trainer``'s network on its own training subset: clean images, eval mode, no augmentation.

    The summary's ``final_train_top1_error`` is the last epoch's running error on augmented clean batches, and is
    missing for methods that train on mixed batches only; this one is measured alike for every method.
    """
    from saliency_grafting.engine import evaluate, make_loaders

    data = trainer.data
    own = dataclasses.replace(
        data, test_images=data.train_images, test_labels=data.train_labels, test_files=data.train_files
    )
    loader = make_loaders(own, trainer.config, trainer.device)[1]
    return evaluate(trainer.net, loader, autocast=trainer.autocast)["top1_error"]


def claim(runs_dir: Path, key: str) -> IO[str] | None:
    """Claim run ``key`` for this process: an open claim file to close when the run is over, or None if it is taken.

    Several ``sgraft reproduce`` processes given one ``--runs-dir`` then share the work: each trains what no other is
    training. The claim is an exclusive ``flock`` on ``RUNS/<key>.claim``, so the kernel releases it when its holder
    exits or is killed, and a stopped run is taken over (it resumes from its checkpoint). The files stay (they hold
    the last holder's pid, for people). Without ``fcntl`` (Windows) every claim succeeds: run one process there.
    """
    runs_dir.mkdir(parents=True, exist_ok=True)
    handle = open(runs_dir / f"{key}.claim", "a+")  # noqa: SIM115 (held open for the run: the lock lives with it)
    if fcntl is not None:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held by another open claim (of this process or another)
            handle.close()
            return None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def run_cell(
    config: TrainConfig,
    out: Path,
    *,
    runs_dir: Path | None = None,
    data_cache: dict[str, Any] | None = None,
    occlusion_grid: int = 8,
) -> dict[str, Any]:
    """Train one config (resuming its run directory if it was interrupted), test it, and write its record.

    The record names the data read (``data``: dataset, fingerprint, classes and split sizes) and holds the error
    after occluding the top 0 / 12.5 / 25 % of ``occlusion_grid`` x ``occlusion_grid`` salient regions."""
    from saliency_grafting.engine import Trainer, occluder

    key = run_key(config.to_dict())
    config.out = str((runs_dir or out / "runs") / key)
    data = _dataset(config, {} if data_cache is None else data_cache)
    start = time.perf_counter()
    trainer = Trainer.from_config(config, data=data)
    if (Path(config.out) / "checkpoint.pt").exists():
        trainer.resume()
    summary = trainer.fit()
    occlusion = {}
    for fraction in OCCLUSION_FRACTIONS:
        result = trainer.evaluate(occluder(trainer.model, fraction, occlusion_grid, config.saliency_layer))
        occlusion[f"{fraction:g}"] = result["top1_error"]
    own_error = train_error(trainer)
    trainer.close()
    record = {
        "key": key,
        "config": config.to_dict(),
        "seed": config.seed,
        "data": {
            "dataset": data.name,
            "fingerprint": data.fingerprint,
            "classes": data.num_classes,
            "train": data.num_train,
            "evaluated": data.num_test,
        },
        "git_commit": _git_commit(),
        "summary": summary,
        "occlusion_top1_error": occlusion,
        TRAIN_KEY: own_error,
        "evaluated_on": data.evaluation,  # "test", or "validation" for tuning runs (val_per_class)
        "curve": learning_curve(trainer.history),
        "wall_seconds": time.perf_counter() - start,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    write_record(out / "records" / f"{key}.json", record)
    return record


def train_claimed(
    config: TrainConfig,
    out: Path,
    runs_dir: Path | None,
    occlusion_grid: int,
    data_cache: dict[str, Any] | None = None,
    on_start: Callable[[], None] | None = None,
) -> dict[str, Any] | None:
    """Claim and train one run, or return None when another process holds it; its record when it is finished.

    The unit of work both for the runner's own loop and for a cluster engine's job (``dispatch``): every job claims
    its run in the shared runs folder, so that jobs and local workers never train one run twice. ``on_start`` is
    called once the run is claimed and is about to train.
    """
    path = record_path(out, config)
    held = claim(runs_dir or out / "runs", run_key(config.to_dict()))
    if held is None:
        return None
    try:
        if path.exists():  # finished by another process between the caller's check and the claim
            return json.loads(path.read_text())
        if on_start is not None:
            on_start()
        return run_cell(config, out, runs_dir=runs_dir, data_cache=data_cache, occlusion_grid=occlusion_grid)
    finally:
        held.close()  # releases the claim


def run_experiment(
    name: str,
    scale: str | Scale,
    seeds: int,
    out: Path,
    data_dir: DataDirs,
    *,
    runs_dir: Path | None = None,
    rows: Sequence[str] | None = None,
    columns: Sequence[str] | None = None,
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
    estimate: Callable[[TrainConfig], float] | None = None,
    data_cache: dict[str, Any] | None = None,
    executor: Any | None = None,
) -> list[dict[str, Any]]:
    """Run every missing (cell, seed) of ``name``; returns the records of its finished runs.

    Shared cells run once for all tables. ``rows`` / ``columns``: only the cells with one of these row / column
    labels (None: all). A run another live process has claimed in the same runs folder is left to it (see ``claim``).
    ``estimate``: seconds a config takes to train, for an ETA on each run's line. ``data_cache``: the loaded data
    kept between calls (one dataset at a time). ``executor``: an engine's executor (``dispatch.make_executor``:
    submitit on SLURM or local processes) that trains every missing run as a job, instead of this process.
    """
    records = []
    cache: dict[str, Any] = {} if data_cache is None else data_cache
    runs = [run for run in plan(name, scale, seeds, data_dir, records=out) if selected(run[0], rows, columns)]
    grid = get_scale(scale).occlusion_grid
    jobs = []
    for index, (cell, seed, config) in enumerate(runs, start=1):
        path = record_path(out, config)
        label = f"[{name} {index}/{len(runs)}] {cell.row} {cell.column} seed {seed}".replace("  ", " ")
        if path.exists():
            records.append(json.loads(path.read_text()))
            log(f"{label}: done before")
            continue
        if executor is not None:
            jobs.append((label, executor.submit(train_claimed, config, out, runs_dir, grid)))
            log(f"{label}: submitted")
            continue
        left = [c for _, _, c in runs[index - 1 :] if not record_path(out, c).exists()]
        eta = f" (ETA ~{sum(map(estimate, left)) / 60:.0f} min for {len(left)} runs)" if estimate else ""
        record = train_claimed(config, out, runs_dir, grid, cache, on_start=partial(log, f"{label}: training{eta}"))
        _finished(label, record, records, log)
    for label, job in jobs:
        _finished(label, job.result(), records, log)
    return records


def _finished(label: str, record: dict[str, Any] | None, records: list[dict[str, Any]], log: Callable[[str], None]):
    if record is None:
        log(f"{label}: being trained by another process, left to it")
        return
    log(f"{label}: top-1 error {record['summary']['final_top1_error']:.2f} % in {record['wall_seconds']:.0f} s")
    records.append(record)

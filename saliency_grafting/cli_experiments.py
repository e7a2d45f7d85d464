"""The ``sgraft`` commands that run experiments: ``reproduce`` (the paper's) and ``compare`` (a user's data).

Their orchestration lives in ``experiments/`` (the runner, ``compare_report``); here are the flags and the mapping of
the library's errors to them. The experiment suite is imported only when one of these commands runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from saliency_grafting.cli_input import check_output_dir, key_value
from saliency_grafting.config import ConfigError, flag, suggest
from saliency_grafting.data import DATASETS
from saliency_grafting.experiments.scales import SCALES

__all__ = ["add_compare", "add_reproduce"]


def _data_dirs(values: list[str] | None) -> str | dict[str, str] | None:
    """``--data-dir``: one folder, or ``NAME=DIR`` entries (one folder per dataset)."""
    if not values:
        return None
    if len(values) == 1 and "=" not in values[0]:
        return values[0]
    dirs = {}
    for value in values:
        name, sep, folder = value.partition("=")
        if not sep or name not in DATASETS or not folder:
            raise ValueError(
                f"--data-dir {value!r}: with several folders, each is NAME=DIR with NAME one of {', '.join(DATASETS)}"
            )
        dirs[name] = folder
    return dirs


def _reproduce(args: argparse.Namespace) -> None:
    from saliency_grafting.experiments import EXPERIMENTS, plan, record_path, render, run_experiment
    from saliency_grafting.experiments.runner import data_root, selected

    names = [n for n, e in EXPERIMENTS.items() if e.in_suite] if args.name == ["all"] else args.name
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        hint = suggest(unknown[0], [*EXPERIMENTS, "all"])
        raise ValueError(f"unknown experiment(s) {unknown}; valid names: {', '.join(EXPERIMENTS)}, or all{hint}")
    if args.seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {args.seeds}")
    args.data_dir = _data_dirs(args.data_dir)
    out = Path(args.out or f"reproduce/{args.scale}")
    for option, chosen, attribute in (("--row", args.row, "row"), ("--column", args.column, "column")):
        labels = {getattr(cell, attribute) for n in names for cell, _, _ in plan(n, args.scale, 1, None, records=out)}
        for label in [c for c in chosen or [] if c not in labels]:
            valid = ", ".join(sorted(map(repr, labels)))
            raise ValueError(
                f"{option} {label!r} names no cell of {', '.join(names)} at scale {args.scale}; "
                f"valid: {valid}{suggest(label, sorted(labels))}"
            )

    if args.dry_run:  # one line per run; "done" when its record exists in --out
        for name in names:
            for cell, seed, config in plan(name, args.scale, args.seeds, args.data_dir, records=out):
                if not selected(cell, args.row, args.column):
                    continue
                status = "done" if record_path(out, config).exists() else "todo"
                print(
                    f"{status}\t{name}\t{cell.row}\t{cell.column}\tseed {seed}\t{config.model} {config.mixer} "
                    f"{config.regularizer} epochs {config.epochs}"
                )
        return
    if args.retrain_missing and args.report_only:
        raise ValueError("--retrain-missing trains runs, and --report-only trains nothing: give one of them")
    needs_data = {c.config.get("dataset") for n in names for c, _, _ in plan(n, args.scale, 1, None)} - {"synthetic"}
    missing = sorted(name for name in needs_data if data_root(args.data_dir, name) is None)
    if missing and not args.report_only:
        raise ValueError(
            f"--data-dir is required for {', '.join(missing)} (e.g. the CIFAR-10 JPEG folder, or "
            "NAME=DIR for each dataset)"
        )
    sections = []
    for name in names:
        runs_dir = Path(args.runs_dir) if args.runs_dir else None
        if not args.report_only:
            run_experiment(
                name,
                args.scale,
                args.seeds,
                out,
                args.data_dir,
                runs_dir=runs_dir,
                rows=args.row,
                columns=args.column,
                executor=_executor(args, runs_dir or out / "runs"),
            )
        if args.reference_occlusion and EXPERIMENTS[name].occlusion:
            from saliency_grafting.experiments.reference import add_reference_occlusion

            reference = Path(args.reference_run) if args.reference_run else None
            add_reference_occlusion(
                name,
                args.scale,
                args.seeds,
                out,
                runs_dir or out / "runs",
                reference=reference,
                data_dir=args.data_dir,
                retrain_missing=args.retrain_missing,
            )
        if EXPERIMENTS[name].localization:
            from saliency_grafting.experiments.localization import add_localization

            add_localization(
                name,
                args.scale,
                args.seeds,
                out,
                runs_dir or out / "runs",
                data_dir=args.data_dir,
                retrain_missing=args.retrain_missing,
            )
        if args.train_error:
            from saliency_grafting.experiments.reference import add_train_error

            add_train_error(
                name,
                args.scale,
                args.seeds,
                out,
                runs_dir or out / "runs",
                data_dir=args.data_dir,
                retrain_missing=args.retrain_missing,
            )
        sections.append(render(name, args.scale, args.seeds, out, plot_dir=out, data_dir=args.data_dir))
    report = "\n".join(sections)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"report_{args.scale}.md").write_text(report)
    print(report)


def _compare(args: argparse.Namespace) -> None:
    from saliency_grafting.experiments.compare import Comparison
    from saliency_grafting.experiments.compare_report import run_comparison

    if args.dataset != "synthetic" and not args.data_dir:
        raise ValueError(f"--data-dir is required for --dataset {args.dataset}")
    options = {
        "dataset": args.dataset,
        "dataset_args": dict(args.dataset_arg or []),
        "mixers": tuple(args.mixers),
        "model": args.model,
        "model_args": dict(args.model_arg or [])
        or ({"widths": [16, 32, 64, 128]} if args.model == "preactresnet18" else {}),
        "image_size": args.image_size,
        "per_class": args.per_class,
        "val_per_class": args.val_per_class,
        "steps": args.budget,
        "epochs": args.epochs,
        "seeds": args.seeds,
        "tune_seeds": args.tune_seeds,
        "protocols": tuple(dict.fromkeys(["paper", *args.protocols])),
        "batch_size": args.batch_size,
    }
    try:
        comparison = Comparison(**options)
    except ConfigError as err:  # the library names its field: say the flag
        raise ValueError(f"{flag(err.field) if err.field != 'steps' else '--budget'}: {err}") from None
    out = Path(args.out)
    if not args.dry_run:
        check_output_dir(out)
    runs_dir = Path(args.runs_dir) if args.runs_dir else None
    report = run_comparison(
        comparison,
        args.data_dir,
        out,
        runs_dir=runs_dir,
        dry_run=args.dry_run,
        executor=None if args.dry_run else _executor(args, runs_dir or out / "runs"),
    )
    print(report)


def add_reproduce(sub: Any) -> None:
    """The ``reproduce`` command."""
    rep = sub.add_parser("reproduce", help="run one or all of the paper's experiments and report them")
    rep.add_argument(
        "name",
        nargs="+",
        help="table1 ... table7, fig3, fig4, recipe, wallclock, saliency, sweep, tune, tuned "
        "(after tune: each method's validation-selected configuration), fastpath, network, warmup (the clean "
        "warm-up's caveats of Table 5), wsol, speech, or all",
    )
    rep.add_argument(
        "--scale",
        choices=tuple(SCALES),
        default="cpu",
        help="; ".join(f"{name}: {scale.description}" for name, scale in SCALES.items()),
    )
    rep.add_argument(
        "--seeds",
        type=int,
        default=3,
        help="seeds per cell (0, 1, ...); an experiment may ask for more "
        "(its min_seeds: Tables 6 and 7 take 5 at the cpu scale)",
    )
    rep.add_argument(
        "--data-dir",
        action="append",
        metavar="DIR | NAME=DIR",
        help="the data folder of the experiments; NAME=DIR (repeatable) gives one folder per dataset, "
        "as the paper scale reads three (cifar100=DIR, tinyimagenet=DIR, imagefolder=DIR)",
    )
    rep.add_argument("--out", help="where records, report and plots go (default reproduce/<scale>)")
    rep.add_argument("--runs-dir", help="where run directories (checkpoints) go (default OUT/runs)")
    rep.add_argument(
        "--row",
        action="append",
        metavar="LABEL",
        help="train only the cells of this row (a method label as in --dry-run; repeatable)",
    )
    rep.add_argument(
        "--column",
        action="append",
        metavar="LABEL",
        help="train only the cells of this column (e.g. '100 · same compute'; repeatable)",
    )
    rep.add_argument("--dry-run", action="store_true", help="list the runs without training")
    rep.add_argument("--report-only", action="store_true", help="aggregate the finished runs, train nothing")
    rep.add_argument(
        "--reference-occlusion",
        action="store_true",
        help="occlusion experiments (table6): also rank the regions by one reference network's saliency "
        "for the finished runs (read from --runs-dir) and add it to their records",
    )
    rep.add_argument(
        "--train-error",
        action="store_true",
        help="add each finished run's error on its own training subset (clean images, final weights) "
        "to its record, from --runs-dir: the overfitting gap of every method",
    )
    rep.add_argument(
        "--retrain-missing",
        action="store_true",
        help="with --reference-occlusion / --train-error: train a finished run again when its run directory is "
        "gone (checked against its record: runs are bit-identical), instead of skipping it",
    )
    rep.add_argument(
        "--reference-run",
        metavar="RUN_DIR",
        help="the reference network's run directory (default: the experiment's Vanilla seed-0 run)",
    )
    _add_executor_flags(rep)
    rep.set_defaults(func=_reproduce)


def _add_executor_flags(parser: argparse.ArgumentParser) -> None:
    from saliency_grafting.experiments.dispatch import ENGINES

    parser.add_argument(
        "--executor",
        choices=tuple(ENGINES),
        help="train the runs as submitit jobs: slurm (sbatch), "
        "local (a process each) or debug (in this process); default: this process",
    )
    parser.add_argument(
        "--executor-arg",
        type=key_value,
        action="append",
        metavar="KEY=VALUE",
        help="a submitit parameter, repeatable: --executor-arg timeout_min=240 --executor-arg slurm_partition=gpu",
    )


def _executor(args: argparse.Namespace, runs_dir: Path) -> Any:
    """The engine's executor of ``--executor`` (None: the runs train in this process)."""
    if args.executor is None:
        if args.executor_arg:
            raise ValueError("--executor-arg needs --executor")
        return None
    from saliency_grafting.experiments.dispatch import make_executor

    return make_executor(args.executor, runs_dir / "submitit", **dict(args.executor_arg or []))


def add_compare(sub: Any) -> None:
    """The ``compare`` command."""
    from saliency_grafting.experiments.compare import MIXER_METHODS
    from saliency_grafting.experiments.scales import PROTOCOLS

    com = sub.add_parser(
        "compare",
        help="which augmentation for your data: the same tuning budget per method on a "
        "validation split, then fresh seeds on the test split; writes OUT/compare_<dataset>.md",
    )
    com.add_argument("--data-dir", help="your data (imagefolder: DIR/train/<class>/*, DIR/test/<class>/*)")
    com.add_argument("--dataset", choices=tuple(DATASETS), default="imagefolder", help="how to read --data-dir")
    com.add_argument("--dataset-arg", type=key_value, action="append", metavar="KEY=VALUE", help="dataset option")
    com.add_argument(
        "--mixers",
        nargs="+",
        default=["none", "mixup", "cutmix", "saliency_grafting", "puzzlemix"],
        metavar="MIXER",
        help=f"the methods: {', '.join(MIXER_METHODS)} (tuned, but none), or a random choice per batch "
        "compared as given, e.g. 'mixup:0.2|cutmix:0.8'",
    )
    com.add_argument("--model", default="preactresnet18", help="the network (default: the 701 k PreAct-ResNet)")
    com.add_argument("--model-arg", type=key_value, action="append", metavar="KEY=VALUE", help="model keyword")
    com.add_argument("--image-size", type=int, help="resize images to N x N")
    com.add_argument("--per-class", type=int, default=100, help="training images per class")
    com.add_argument(
        "--val-per-class",
        type=int,
        help="validation images per class held out from the training "
        "split for tuning (default: min(500, what the smallest class has left))",
    )
    budget = com.add_mutually_exclusive_group()
    budget.add_argument("--budget", type=int, default=840, help="optimisation steps (of batch 128) per run")
    budget.add_argument("--epochs", type=int, help="epochs per run instead of --budget")
    com.add_argument("--batch-size", type=int, default=128, help="images per step")
    com.add_argument("--seeds", type=int, default=3, help="fresh test seeds per method and configuration")
    com.add_argument("--tune-seeds", type=int, default=1, help="seeds per tuning configuration")
    com.add_argument(
        "--protocols",
        nargs="+",
        choices=PROTOCOLS,
        default=["paper"],
        help="paper (each method's own objective), same objective, same compute",
    )
    com.add_argument("--out", default="compare", help="where records and the report (compare_<dataset>.md, .png) go")
    com.add_argument("--runs-dir", help="where run directories go (default OUT/runs)")
    com.add_argument("--dry-run", action="store_true", help="list the runs with a measured time estimate")
    _add_executor_flags(com)
    com.set_defaults(func=_compare)

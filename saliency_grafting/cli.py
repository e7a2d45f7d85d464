"""The ``sgraft`` command line: train, eval, occlusion, show and reproduce (YAML config sets defaults, flags override).

Bad input (a wrong type or range, an unknown name, a missing or corrupt file, an output path that cannot be
written) ends with one line on stderr naming the flag or file and exit code 2, before anything is written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import torch

from saliency_grafting.cli_input import (
    Parser,
    add_config_flags,
    check_components,
    check_device,
    check_output_dir,
    one_line,
    resolve_config,
)
from saliency_grafting.config import ConfigError, TrainConfig, flag, load_yaml, suggest
from saliency_grafting.data import DATASETS, DataError, load_dataset
from saliency_grafting.engine import Trainer, occluder
from saliency_grafting.engine.checkpoint import clean_orphans, load_checkpoint
from saliency_grafting.engine.evaluate import evaluate
from saliency_grafting.engine.progress import EpochLog, round_floats
from saliency_grafting.engine.run import EvalRun, eval_run
from saliency_grafting.experiments.scales import SCALES
from saliency_grafting.mixing import MIXERS, SaliencyKind, create_mixer
from saliency_grafting.saliency import ForwardSaliency, static_saliency
from saliency_grafting.visualize import mixing_panel, panel_batch

__all__ = ["main"]


def _train(args: argparse.Namespace) -> None:
    config = resolve_config(args)  # validates every field
    out = Path(config.out)
    if not args.resume and (out / "checkpoint.pt").exists():
        raise ValueError(f"--out {out} already holds a run; pass --resume {out} to continue it or choose another --out")
    check_output_dir(out, "--resume" if args.resume else "--out")
    check_device(config.device)
    check_components(config)
    if args.resume:
        clean_orphans(out)  # temporary files of a checkpoint write that a kill interrupted
    main_rank = int(os.environ.get("RANK", "0")) == 0
    callbacks = [EpochLog()] if main_rank and not config.quiet else []
    trainer = Trainer.from_config(config, callbacks=callbacks)
    if args.resume:
        trainer.resume()
    summary = trainer.fit()
    if trainer.is_main:
        _panel_after_training(trainer, out / "panel.png")
        print(json.dumps(round_floats({"run": str(out), **summary}), indent=2))
    trainer.close()


def _panel_after_training(trainer: Trainer, path: Path) -> None:
    images, labels = panel_batch(trainer.data, 6, seed=trainer.config.seed)  # pairs across classes
    with ForwardSaliency(trainer.model, trainer.config.saliency_layer) as hook, torch.no_grad():
        trainer.model.eval()
        trainer.model(images.to(trainer.device))
        saliency = hook.saliency.float().cpu()
    mixers = {trainer.config.mixer: trainer.mixer}
    if "cutmix" not in mixers:
        mixers["cutmix"] = create_mixer("cutmix", trainer.data.num_classes)
    mixing_panel(mixers, images, labels, trainer.data.classes, trainer.data.mean, trainer.data.std, path,
                 saliency=saliency, seed=trainer.config.seed)  # fmt: skip


def _load_run(run: str, *, quiet: bool = True) -> EvalRun:
    """The run's network on its data, from ``config.yaml`` and ``checkpoint.pt`` (read first: it fails fast)."""
    run_dir = Path(run)
    if not (run_dir / "config.yaml").is_file() or not (run_dir / "checkpoint.pt").is_file():
        raise ValueError(f"--run {run}: expected a run directory with config.yaml and checkpoint.pt")
    try:
        config = TrainConfig.from_dict(load_yaml(run_dir / "config.yaml"))
    except ValueError as err:
        raise ValueError(f"--run {run}: {run_dir / 'config.yaml'}: {err}") from None
    state = load_checkpoint(run_dir / "checkpoint.pt", "cpu")
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
        raise ValueError(f"checkpoint {run_dir / 'checkpoint.pt'} holds no model state")
    try:
        check_device(config.device)
    except ValueError as err:  # a run trained on a GPU can be evaluated here all the same
        print(f"sgraft: {err}; evaluating on the default device instead", file=sys.stderr)
        config.device = "auto"
    config.out = None  # read-only: nothing is written by eval or occlusion except their reports
    config.quiet = quiet
    return eval_run(config, state["model"])  # the network and its test data: no optimizer, no mixer


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2) + "\n")


def _eval(args: argparse.Namespace) -> None:
    run = _load_run(args.run, quiet=args.quiet)
    result = evaluate(run.model, run.test_loader, autocast=run.autocast, progress=not args.quiet)
    result = round_floats(result)
    _write_json(Path(args.run) / "eval.json", result)
    print(json.dumps(result, indent=2))


def _occlusion(args: argparse.Namespace) -> None:
    for fraction in args.fractions:
        if not 0 <= fraction <= 1:
            raise ValueError(f"--fractions must lie in [0, 1], got {fraction}")
    if args.grid < 1:
        raise ValueError(f"--grid must be a positive int, got {args.grid}")
    run = _load_run(args.run, quiet=args.quiet)
    rows = []
    for fraction in args.fractions:
        occlude = occluder(run.model, fraction, args.grid, run.config.saliency_layer)
        result = evaluate(run.model, run.test_loader, autocast=run.autocast, transform=occlude,
                          progress=not args.quiet, desc=f"occluding {100 * fraction:g} %")  # fmt: skip
        rows.append({"fraction": fraction, "top1_error": result["top1_error"], "top5_error": result["top5_error"]})
    report = {"saliency": "forward (sum_c |A_c|, the evaluated model's last conv stage)", "grid": args.grid,
              "rows": rows}  # fmt: skip
    _write_json(Path(args.run) / "occlusion.json", round_floats(report))
    for row in rows:
        print(f"occluded {100 * row['fraction']:5.1f} %  top-1 error {row['top1_error']:6.2f} %")


def _localize(args: argparse.Namespace) -> None:
    from saliency_grafting.data.registry import config_options
    from saliency_grafting.engine.localize import THRESHOLDS, component_boxes, localization_maps, localization_scores
    from saliency_grafting.experiments.localization import held_out_split
    from saliency_grafting.visualize import localization_panel

    if args.held_out < 1 or args.count < 0:
        raise ValueError(f"--held-out must be >= 1 and --count >= 0, got {args.held_out} and {args.count}")
    run = _load_run(args.run, quiet=args.quiet)
    config, data = run.config, run.data
    if data.test_boxes is None:
        raise ValueError(f"--run {args.run}: its dataset {config.dataset!r} has no object boxes to localize")
    full = load_dataset(config.dataset, config.data_dir, image_size=config.image_size, **config_options(config))
    held = held_out_split(full, config.per_class, config.seed, args.held_out)
    test = (data.test_images, data.test_labels, data.test_boxes)
    found = localization_scores(run.model, held, test, data.mean, data.std, device=run.device,
                                saliency_layer=config.saliency_layer)  # fmt: skip
    report = {**found, "held_out_per_class": args.held_out}
    _write_json(Path(args.run) / "localize.json", round_floats(report))
    for kind, values in found.items():
        print(f"{kind:8s} " + "  ".join(f"{name} {value:6.2f}" for name, value in values.items()))
    if args.count:
        from saliency_grafting.data import normalize

        spread = torch.linspace(0, len(test[1]) - 1, args.count).round().long()  # across the classes
        images, labels, boxes = (part[spread] for part in test)
        x = normalize(images.to(run.device), data.mean, data.std)
        _, maps = localization_maps(run.model, x, labels.to(run.device), saliency_layer=config.saliency_layer)
        shown = {name: maps[name].cpu() for name in ("cam", "forward")}
        boxes_found = {}
        for name, heat in shown.items():
            tau = float(THRESHOLDS[THRESHOLDS.sub(found[name]["threshold"]).abs().argmin()])
            boxes_found[name] = torch.stack([(b[0] if len(b := component_boxes(h >= tau)) else torch.zeros(4))
                                             for h in heat])  # fmt: skip
        print(localization_panel(images, shown, boxes, boxes_found, Path(args.run) / "localize.png"))


def _show(args: argparse.Namespace) -> None:
    if args.count < 1:
        raise ValueError(f"--count must be a positive int, got {args.count}")
    if Path(args.out).is_dir():
        raise ValueError(f"--out {args.out} is a directory; expected the path of a PNG file")
    check_output_dir(Path(args.out).parent, "--out")
    if args.run:
        run = _load_run(args.run)
        data, model, device = run.data, run.model, run.device
    else:
        data, model, device = load_dataset(args.dataset, args.data_dir, seed=args.seed, progress=True), None, None
    x, labels = panel_batch(data, args.count, seed=args.seed)  # pairs across classes
    if model is not None:
        with ForwardSaliency(model) as hook, torch.no_grad():
            model.eval()
            model(x.to(device))
            saliency = hook.saliency.float().cpu()
    else:  # no trained network: the forward-saliency mixers get static image saliency as a stand-in
        saliency = static_saliency(x)
        if any(MIXERS[m].saliency_kind is SaliencyKind.FORWARD for m in args.mixer):
            print("show: no --run given, so forward-saliency mixers use static image saliency instead", file=sys.stderr)
    mixers = {name: create_mixer(name, data.num_classes) for name in args.mixer}
    path = mixing_panel(
        mixers, x, labels, data.classes, data.mean, data.std, args.out, saliency=saliency, seed=args.seed
    )
    print(path)


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
            raise ValueError(f"--data-dir {value!r}: with several folders, each is NAME=DIR with NAME one of "
                             f"{', '.join(DATASETS)}")  # fmt: skip
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
            raise ValueError(f"{option} {label!r} names no cell of {', '.join(names)} at scale {args.scale}; "
                             f"valid: {valid}{suggest(label, sorted(labels))}")  # fmt: skip

    if args.dry_run:  # one line per run; "done" when its record exists in --out
        for name in names:
            for cell, seed, config in plan(name, args.scale, args.seeds, args.data_dir, records=out):
                if not selected(cell, args.row, args.column):
                    continue
                status = "done" if record_path(out, config).exists() else "todo"
                print(f"{status}\t{name}\t{cell.row}\t{cell.column}\tseed {seed}\t{config.model} {config.mixer} "
                      f"{config.regularizer} epochs {config.epochs}")  # fmt: skip
        return
    if args.retrain_missing and args.report_only:
        raise ValueError("--retrain-missing trains runs, and --report-only trains nothing: give one of them")
    needs_data = {c.config.get("dataset") for n in names for c, _, _ in plan(n, args.scale, 1, None)} - {"synthetic"}
    missing = sorted(name for name in needs_data if data_root(args.data_dir, name) is None)
    if missing and not args.report_only:
        raise ValueError(f"--data-dir is required for {', '.join(missing)} (e.g. the CIFAR-10 JPEG folder, or "
                         "NAME=DIR for each dataset)")  # fmt: skip
    sections = []
    for name in names:
        runs_dir = Path(args.runs_dir) if args.runs_dir else None
        if not args.report_only:
            run_experiment(name, args.scale, args.seeds, out, args.data_dir, runs_dir=runs_dir, rows=args.row,
                           columns=args.column, executor=_executor(args, runs_dir or out / "runs"))  # fmt: skip
        if args.reference_occlusion and EXPERIMENTS[name].occlusion:
            from saliency_grafting.experiments.reference import add_reference_occlusion

            reference = Path(args.reference_run) if args.reference_run else None
            add_reference_occlusion(name, args.scale, args.seeds, out, runs_dir or out / "runs", reference=reference,
                                    data_dir=args.data_dir, retrain_missing=args.retrain_missing)  # fmt: skip
        if EXPERIMENTS[name].localization:
            from saliency_grafting.experiments.localization import add_localization

            add_localization(name, args.scale, args.seeds, out, runs_dir or out / "runs", data_dir=args.data_dir,
                             retrain_missing=args.retrain_missing)  # fmt: skip
        if args.train_error:
            from saliency_grafting.experiments.reference import add_train_error

            add_train_error(name, args.scale, args.seeds, out, runs_dir or out / "runs", data_dir=args.data_dir,
                            retrain_missing=args.retrain_missing)  # fmt: skip
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
    options = {"dataset": args.dataset, "dataset_args": dict(args.dataset_arg or []), "mixers": tuple(args.mixers),
               "model": args.model, "model_args": dict(args.model_arg or []) or
               ({"widths": [16, 32, 64, 128]} if args.model == "preactresnet18" else {}),
               "image_size": args.image_size, "per_class": args.per_class, "val_per_class": args.val_per_class,
               "steps": args.budget, "epochs": args.epochs, "seeds": args.seeds, "tune_seeds": args.tune_seeds,
               "protocols": tuple(dict.fromkeys(["paper", *args.protocols])),
               "batch_size": args.batch_size}  # fmt: skip
    try:
        comparison = Comparison(**options)
    except ConfigError as err:  # the library names its field: say the flag
        raise ValueError(f"{flag(err.field) if err.field != 'steps' else '--budget'}: {err}") from None
    out = Path(args.out)
    if not args.dry_run:
        check_output_dir(out)
    runs_dir = Path(args.runs_dir) if args.runs_dir else None
    report = run_comparison(comparison, args.data_dir, out, runs_dir=runs_dir, dry_run=args.dry_run,
                            executor=None if args.dry_run else _executor(args, runs_dir or out / "runs"))  # fmt: skip
    print(report)


def build_parser() -> argparse.ArgumentParser:
    from saliency_grafting import __version__

    parser = Parser(prog="sgraft", description="Saliency Grafting and mixup-style augmentations: train and compare.")
    parser.add_argument("--version", action="version", version=f"sgraft {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    train = sub.add_parser("train", help="train a network with a mixer; writes a run directory")
    train.add_argument("--config", help="YAML file of defaults (keys as the flags); flags override it")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint")
    add_config_flags(train)
    train.set_defaults(func=_train)
    ev = sub.add_parser("eval", help="top-1 / top-5 error of a run on its test split; writes RUN_DIR/eval.json")
    ev.add_argument("--run", required=True, metavar="RUN_DIR", help="a run directory written by sgraft train")
    ev.add_argument("--quiet", action="store_true", help="no progress on stderr")
    ev.set_defaults(func=_eval)
    occ = sub.add_parser("occlusion", help="error with the top-k %% most salient regions zeroed (Table 6); writes "
                         "RUN_DIR/occlusion.json")  # fmt: skip
    occ.add_argument("--run", required=True, metavar="RUN_DIR", help="a run directory written by sgraft train")
    occ.add_argument("--fractions", type=float, nargs="+", default=[0.0, 0.125, 0.25], help="fractions occluded")
    occ.add_argument("--grid", type=int, default=8, help="regions per side")
    occ.add_argument("--quiet", action="store_true", help="no progress on stderr")
    occ.set_defaults(func=_occlusion)
    loc = sub.add_parser("localize", help="weakly supervised localization (CAM and forward saliency) of a run on "
                         "its test boxes; writes RUN_DIR/localize.json and localize.png")  # fmt: skip
    loc.add_argument("--run", required=True, metavar="RUN_DIR", help="a run directory of a dataset with boxes")
    loc.add_argument(
        "--held-out",
        type=int,
        default=10,
        help="training images per class, unused by the run, on which the thresholds are chosen",
    )
    loc.add_argument("--count", type=int, default=8, help="test images in the panel (0: no panel)")
    loc.add_argument("--quiet", action="store_true", help="no progress on stderr")
    loc.set_defaults(func=_localize)
    show = sub.add_parser("show", help="a Figure 1-style PNG of sources, destinations and mixed samples")
    show.add_argument("--mixer", nargs="+", choices=tuple(MIXERS), default=["saliency_grafting", "cutmix"],
                      help="the mixers, one row each")  # fmt: skip
    show.add_argument("--dataset", choices=tuple(DATASETS), default="synthetic", help="where the images come from")
    show.add_argument("--data-dir", help="the dataset's folder")
    show.add_argument("--run", metavar="RUN_DIR", help="take data and forward saliency from a trained run")
    show.add_argument("--count", type=int, default=6, help="pairs to show, drawn across classes")
    show.add_argument("--seed", type=int, default=0, help="seed of the pairs and the mixing")
    show.add_argument("--out", default="panel.png", help="the PNG file to write")
    show.set_defaults(func=_show)
    rep = sub.add_parser("reproduce", help="run one or all of the paper's experiments and report them")
    rep.add_argument("name", nargs="+", help="table1 ... table7, fig3, fig4, recipe, wallclock, sweep, tune, tuned "
                     "(after tune: each method's validation-selected configuration), fastpath, or all")  # fmt: skip
    rep.add_argument("--scale", choices=tuple(SCALES), default="cpu",
                     help="; ".join(f"{name}: {scale.description}" for name, scale in SCALES.items()))  # fmt: skip
    rep.add_argument(
        "--seeds",
        type=int,
        default=3,
        help="seeds per cell (0, 1, ...); an experiment may ask for more "
        "(its min_seeds: Tables 6 and 7 take 5 at the cpu scale)",
    )
    rep.add_argument("--data-dir", action="append", metavar="DIR | NAME=DIR",
                     help="the data folder of the experiments; NAME=DIR (repeatable) gives one folder per dataset, "
                          "as the paper scale reads three (cifar100=DIR, tinyimagenet=DIR, imagefolder=DIR)",
                     )  # fmt: skip
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
    rep.add_argument("--reference-occlusion", action="store_true",
                     help="occlusion experiments (table6): also rank the regions by one reference network's saliency "
                          "for the finished runs (read from --runs-dir) and add it to their records")  # fmt: skip
    rep.add_argument("--train-error", action="store_true",
                     help="add each finished run's error on its own training subset (clean images, final weights) "
                          "to its record, from --runs-dir: the overfitting gap of every method")  # fmt: skip
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
    _add_compare(sub)
    parser.commands = sub.choices  # type: ignore[attr-defined]
    return parser


def _add_executor_flags(parser: argparse.ArgumentParser) -> None:
    from saliency_grafting.cli_input import key_value
    from saliency_grafting.experiments.dispatch import ENGINES

    parser.add_argument("--executor", choices=tuple(ENGINES), help="train the runs as submitit jobs: slurm (sbatch), "
                        "local (a process each) or debug (in this process); default: this process")  # fmt: skip
    parser.add_argument("--executor-arg", type=key_value, action="append", metavar="KEY=VALUE",
                        help="a submitit parameter, repeatable: --executor-arg timeout_min=240 "
                             "--executor-arg slurm_partition=gpu")  # fmt: skip


def _executor(args: argparse.Namespace, runs_dir: Path) -> Any:
    """The engine's executor of ``--executor`` (None: the runs train in this process)."""
    if args.executor is None:
        if args.executor_arg:
            raise ValueError("--executor-arg needs --executor")
        return None
    from saliency_grafting.experiments.dispatch import make_executor

    return make_executor(args.executor, runs_dir / "submitit", **dict(args.executor_arg or []))


def _add_compare(sub: Any) -> None:
    from saliency_grafting.cli_input import key_value
    from saliency_grafting.experiments.compare import MIXER_METHODS
    from saliency_grafting.experiments.scales import PROTOCOLS

    com = sub.add_parser("compare", help="which augmentation for your data: the same tuning budget per method on a "
                         "validation split, then fresh seeds on the test split; writes OUT/compare_<dataset>.md",
                         )  # fmt: skip
    com.add_argument("--data-dir", help="your data (imagefolder: DIR/train/<class>/*, DIR/test/<class>/*)")
    com.add_argument("--dataset", choices=tuple(DATASETS), default="imagefolder", help="how to read --data-dir")
    com.add_argument("--dataset-arg", type=key_value, action="append", metavar="KEY=VALUE", help="dataset option")
    com.add_argument(
        "--mixers",
        nargs="+",
        choices=tuple(MIXER_METHODS),
        default=["none", "mixup", "cutmix", "saliency_grafting", "puzzlemix"],
        help="the methods",
    )
    com.add_argument("--model", default="preactresnet18", help="the network (default: the 701 k PreAct-ResNet)")
    com.add_argument("--model-arg", type=key_value, action="append", metavar="KEY=VALUE", help="model keyword")
    com.add_argument("--image-size", type=int, help="resize images to N x N")
    com.add_argument("--per-class", type=int, default=100, help="training images per class")
    com.add_argument("--val-per-class", type=int, help="validation images per class held out from the training "
                     "split for tuning (default: min(500, what the smallest class has left))")  # fmt: skip
    budget = com.add_mutually_exclusive_group()
    budget.add_argument("--budget", type=int, default=840, help="optimisation steps (of batch 128) per run")
    budget.add_argument("--epochs", type=int, help="epochs per run instead of --budget")
    com.add_argument("--batch-size", type=int, default=128, help="images per step")
    com.add_argument("--seeds", type=int, default=3, help="fresh test seeds per method and configuration")
    com.add_argument("--tune-seeds", type=int, default=1, help="seeds per tuning configuration")
    com.add_argument("--protocols", nargs="+", choices=PROTOCOLS, default=["paper"],
                     help="paper (each method's own objective), same objective, same compute")  # fmt: skip
    com.add_argument("--out", default="compare", help="where records and the report (compare_<dataset>.md, .png) go")
    com.add_argument("--runs-dir", help="where run directories go (default OUT/runs)")
    com.add_argument("--dry-run", action="store_true", help="list the runs with a measured time estimate")
    _add_executor_flags(com)
    com.set_defaults(func=_compare)


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        parser.commands.get(args.command, parser).unrecognized(extras)
    try:
        args.func(args)
    except (DataError, ValueError, ImportError, OSError) as err:
        where = f"{flag(err.field)}: " if isinstance(err, DataError) and err.field else ""  # the library's field
        parser.exit(2, f"sgraft {args.command}: error: {where}{one_line(err)}\n")


if __name__ == "__main__":
    main()

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

from saliency_grafting.cli_experiments import add_compare, add_reproduce
from saliency_grafting.cli_input import (
    Parser,
    add_config_flags,
    check_components,
    check_device,
    check_output_dir,
    one_line,
    resolve_config,
)
from saliency_grafting.config import flag
from saliency_grafting.data import DATASETS, DataError, load_dataset
from saliency_grafting.engine import Trainer, occluder
from saliency_grafting.engine.checkpoint import clean_orphans
from saliency_grafting.engine.evaluate import evaluate
from saliency_grafting.engine.progress import EpochLog, round_floats
from saliency_grafting.engine.run import EvalRun, eval_run, read_run
from saliency_grafting.mixing import MIXERS, SaliencyKind, create_mixer
from saliency_grafting.saliency import ForwardSaliency, static_saliency
from saliency_grafting.visualize import mixing_panel, panel_batch

__all__ = ["main"]


def _train(args: argparse.Namespace) -> None:
    config = resolve_config(args)  # validates every field; sets out
    out = Path(config.out or ".")
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
    data = trainer.data
    if data is None:  # a Trainer built without its data (not from_config): nothing to draw from
        return
    images, labels = panel_batch(data, 6, seed=trainer.config.seed)  # pairs across classes
    with ForwardSaliency(trainer.model, trainer.config.saliency_layer) as hook, torch.no_grad():
        trainer.model.eval()
        trainer.model(images.to(trainer.device))
        saliency = hook.saliency.float().cpu()
    mixers = {trainer.config.mixer: trainer.mixer}
    if "cutmix" not in mixers:
        mixers["cutmix"] = create_mixer("cutmix", data.num_classes)
    mixing_panel(
        mixers,
        images,
        labels,
        data.classes,
        data.mean,
        data.std,
        path,
        saliency=saliency,
        seed=trainer.config.seed,
    )


def _load_run(run: str, *, quiet: bool = True) -> EvalRun:
    """The run's network on its data, from ``config.yaml`` and ``checkpoint.pt`` (read first: it fails fast)."""
    try:
        config, model_state = read_run(run)
    except ValueError as err:
        raise ValueError(f"--run {run}: {err}") from None
    try:
        check_device(config.device)
    except ValueError as err:  # a run trained on a GPU can be evaluated here all the same
        print(f"sgraft: {err}; evaluating on the default device instead", file=sys.stderr)
        config.device = "auto"
    config.quiet = quiet
    return eval_run(config, model_state)  # the network and its test data: no optimizer, no mixer


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
        result = evaluate(
            run.model,
            run.test_loader,
            autocast=run.autocast,
            transform=occlude,
            progress=not args.quiet,
            desc=f"occluding {100 * fraction:g} %",
        )
        rows.append({"fraction": fraction, "top1_error": result["top1_error"], "top5_error": result["top5_error"]})
    report = {
        "saliency": "forward (sum_c |A_c|, the evaluated model's last conv stage)",
        "grid": args.grid,
        "rows": rows,
    }
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
    test = (*data.tensors("test"), data.test_boxes)
    found = localization_scores(
        run.model, held, test, data.mean, data.std, device=run.device, saliency_layer=config.saliency_layer
    )
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
            boxes_found[name] = torch.stack(
                [(b[0] if len(b := component_boxes(h >= tau)) else torch.zeros(4)) for h in heat]
            )
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


def build_parser() -> Parser:
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
    occ = sub.add_parser(
        "occlusion", help="error with the top-k %% most salient regions zeroed (Table 6); writes RUN_DIR/occlusion.json"
    )
    occ.add_argument("--run", required=True, metavar="RUN_DIR", help="a run directory written by sgraft train")
    occ.add_argument("--fractions", type=float, nargs="+", default=[0.0, 0.125, 0.25], help="fractions occluded")
    occ.add_argument("--grid", type=int, default=8, help="regions per side")
    occ.add_argument("--quiet", action="store_true", help="no progress on stderr")
    occ.set_defaults(func=_occlusion)
    loc = sub.add_parser(
        "localize",
        help="weakly supervised localization (CAM and forward saliency) of a run on "
        "its test boxes; writes RUN_DIR/localize.json and localize.png",
    )
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
    show.add_argument(
        "--mixer",
        nargs="+",
        choices=tuple(MIXERS),
        default=["saliency_grafting", "cutmix"],
        help="the mixers, one row each",
    )
    show.add_argument("--dataset", choices=tuple(DATASETS), default="synthetic", help="where the images come from")
    show.add_argument("--data-dir", help="the dataset's folder")
    show.add_argument("--run", metavar="RUN_DIR", help="take data and forward saliency from a trained run")
    show.add_argument("--count", type=int, default=6, help="pairs to show, drawn across classes")
    show.add_argument("--seed", type=int, default=0, help="seed of the pairs and the mixing")
    show.add_argument("--out", default="panel.png", help="the PNG file to write")
    show.set_defaults(func=_show)
    add_reproduce(sub)
    add_compare(sub)
    parser.commands = sub.choices
    return parser


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

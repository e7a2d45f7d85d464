"""The ``sgraft`` command line: train, eval, occlusion and show (YAML config sets defaults, flags override)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any, NoReturn

import torch
import yaml

from saliency_grafting.config import TrainConfig, load_yaml
from saliency_grafting.data import DATASETS, DataError, load_dataset
from saliency_grafting.engine import Trainer, load_checkpoint, occluder
from saliency_grafting.experiments.suite import SCALES
from saliency_grafting.mixing import MIXERS, SaliencyKind, create_mixer
from saliency_grafting.models import MODELS
from saliency_grafting.models.regularizers import REGULARIZERS
from saliency_grafting.saliency import ForwardSaliency, static_saliency
from saliency_grafting.visualize import mixing_panel

__all__ = ["main"]

_CHOICES = {
    "dataset": DATASETS,
    "schedule": ("step", "cosine", "onecycle"),
    "amp": ("none", "bf16", "fp16"),
    "objective": ("auto", "clean+mixed", "mixed"),
    "mix_reduction": ("sum", "mean"),
    "regularizer": tuple(REGULARIZERS),
}
_HELP = {
    "dataset": "cifar10 | cifar100 | imagefolder (train/ and test/ or val/ class folders) | synthetic (built in)",
    "model": f"one of {', '.join(MODELS)}, or timm:<name>",
    "mixer": "augmentation: " + ", ".join(MIXERS) + "; chain with +, e.g. cutout+mixup",
    "per_class": "keep a seeded, class-balanced subset of K training images per class",
    "warmup_epochs": "epochs of clean training before mixing starts",
    "objective": "auto = clean+mixed for saliency_grafting (the paper's recipe), mixed for the others",
    "mix_times": "k mixed batches per step (Figure 3's sample diversity)",
    "mix_reduction": "how the k mixed losses combine: sum (the step grows with k) or mean (it does not)",
    "mixer_args": "mixer keyword, KEY=VALUE (YAML value), repeatable: --mixer-arg temperature=0.2",
    "model_args": "model keyword, KEY=VALUE (YAML value), repeatable: --model-arg depth=16",
    "regularizer": "model regulariser: none, shakedrop (residual branches), dropblock (last two stages)",
    "regularizer_args": "regulariser keyword, KEY=VALUE, repeatable: --regularizer-arg p_last=0.5",
    "out": "run directory (default runs/<dataset>_<model>_<mixer>_seed<seed>)",
    "milestones": "fractions of the run where the step schedule multiplies the lr by --gamma",
}


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _key_value(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.replace("-", "_"), yaml.safe_load(value)


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per ``TrainConfig`` field; unset flags stay out of the namespace so YAML values survive."""
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        kind = hints[f.name]
        kwargs: dict[str, Any] = {"default": argparse.SUPPRESS, "help": _HELP.get(f.name)}
        if kind is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif f.name in ("mixer_args", "model_args", "regularizer_args"):
            flag = flag[: -len("s")]
            kwargs.update(type=_key_value, action="append", metavar="KEY=VALUE", dest=f.name)
        elif f.name == "milestones":
            kwargs.update(type=float, nargs="+")
        else:
            base = (
                [a for a in typing.get_args(kind) if a is not type(None)]
                if isinstance(kind, types.UnionType)
                else [kind]
            )
            kwargs["type"] = base[0]
            if f.name in _CHOICES:
                kwargs["choices"] = _CHOICES[f.name]
        parser.add_argument(flag, **kwargs)


def resolve_config(args: argparse.Namespace) -> TrainConfig:
    """Defaults <- the resumed run's config <- ``--config`` YAML <- flags."""
    values: dict[str, Any] = {}
    if getattr(args, "resume", None):
        saved = Path(args.resume) / "config.yaml"
        if not saved.exists():
            raise ValueError(f"--resume {args.resume}: no config.yaml there; is it a run directory?")
        values.update(load_yaml(saved))
        values["out"] = str(args.resume)
    if getattr(args, "config", None):
        values.update(load_yaml(args.config))
    flags = {k: v for k, v in vars(args).items() if k not in ("command", "config", "resume", "func")}
    for key in ("mixer_args", "model_args", "regularizer_args"):
        if key in flags:
            flags[key] = {**values.get(key, {}), **dict(flags[key])}
    values.update(flags)
    config = TrainConfig.from_dict(values)
    if config.out is None:
        config.out = f"runs/{config.dataset}_{config.model.replace(':', '-')}_{config.mixer}_seed{config.seed}"
    for name, choices in _CHOICES.items():
        if getattr(config, name) not in choices:
            raise ValueError(f"{name} must be one of {', '.join(choices)}, got {getattr(config, name)!r}")
    if config.warmup_epochs > config.epochs or config.epochs < 1:
        raise ValueError(f"need 1 <= epochs and warmup_epochs <= epochs, got {config.epochs}, {config.warmup_epochs}")
    if not 0 <= config.mix_prob <= 1:
        raise ValueError(f"--mix-prob must be in [0, 1], got {config.mix_prob}")
    return config


def _train(args: argparse.Namespace) -> None:
    config = resolve_config(args)
    out = Path(config.out)
    if not args.resume and (out / "checkpoint.pt").exists():
        raise ValueError(f"--out {out} already holds a run; pass --resume {out} to continue it or choose another --out")
    trainer = Trainer(config)
    if args.resume:
        trainer.resume()
    summary = trainer.fit()
    if trainer.is_main:
        _panel_after_training(trainer, out / "panel.png")
        print(json.dumps({"run": str(out), **summary}, indent=2))
    trainer.close()


def _panel_after_training(trainer: Trainer, path: Path) -> None:
    images, labels = next(iter(trainer.test_loader))
    images, labels = images[:12], labels[:12]
    with ForwardSaliency(trainer.model, trainer.config.saliency_layer) as hook, torch.no_grad():
        trainer.model.eval()
        trainer.model(images)
        saliency = hook.saliency
    mixers = {trainer.config.mixer: trainer.mixer}
    if "cutmix" not in mixers:
        mixers["cutmix"] = create_mixer("cutmix", trainer.data.num_classes)
    mixing_panel(mixers, images, labels, trainer.data.classes, trainer.data.mean, trainer.data.std, path,
                 saliency=saliency)  # fmt: skip


def _trainer_from_run(run: str) -> Trainer:
    run_dir = Path(run)
    if not (run_dir / "config.yaml").exists() or not (run_dir / "checkpoint.pt").exists():
        raise ValueError(f"--run {run}: expected a run directory with config.yaml and checkpoint.pt")
    config = TrainConfig.from_dict(load_yaml(run_dir / "config.yaml"))
    config.out = None  # read-only: nothing is written by eval or occlusion except their reports
    trainer = Trainer(config)
    trainer.model.load_state_dict(load_checkpoint(run_dir / "checkpoint.pt", trainer.device)["model"])
    return trainer


def _eval(args: argparse.Namespace) -> None:
    result = _trainer_from_run(args.run).evaluate()
    (Path(args.run) / "eval.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def _occlusion(args: argparse.Namespace) -> None:
    trainer = _trainer_from_run(args.run)
    rows = []
    for fraction in args.fractions:
        if not 0 <= fraction <= 1:
            raise ValueError(f"--fractions must lie in [0, 1], got {fraction}")
        result = trainer.evaluate(occluder(trainer.model, fraction, args.grid, trainer.config.saliency_layer))
        rows.append({"fraction": fraction, "top1_error": result["top1_error"], "top5_error": result["top5_error"]})
    report = {"saliency": "forward (sum_c |A_c|, the evaluated model's last conv stage)", "grid": args.grid,
              "rows": rows}  # fmt: skip
    (Path(args.run) / "occlusion.json").write_text(json.dumps(report, indent=2) + "\n")
    for row in rows:
        print(f"occluded {100 * row['fraction']:5.1f} %  top-1 error {row['top1_error']:6.2f} %")


def _show(args: argparse.Namespace) -> None:
    if args.run:
        trainer = _trainer_from_run(args.run)
        data, model = trainer.data, trainer.model
    else:
        data, model = load_dataset(args.dataset, args.data_dir, seed=args.seed), None
    images = data.test_images[: 2 * args.count] if data.resident else None
    if images is None:
        raise ValueError("show needs a dataset small enough to be held in memory")
    labels = data.test_labels[: 2 * args.count]
    x = (images.float() / 255 - data.mean.view(1, -1, 1, 1)) / data.std.view(1, -1, 1, 1)
    if model is not None:
        with ForwardSaliency(model) as hook, torch.no_grad():
            model.eval()
            model(x.to(trainer.device))
            saliency = hook.saliency.cpu()
    else:  # no trained network: the forward-saliency mixers get static image saliency as a stand-in
        saliency = static_saliency(x)
        if any(MIXERS[m].saliency_kind is SaliencyKind.FORWARD for m in args.mixer):
            print("show: no --run given, so forward-saliency mixers use static image saliency instead", file=sys.stderr)
    mixers = {name: create_mixer(name, data.num_classes) for name in args.mixer}
    path = mixing_panel(
        mixers, x, labels, data.classes, data.mean, data.std, args.out, saliency=saliency, seed=args.seed
    )
    print(path)


def _reproduce(args: argparse.Namespace) -> None:
    from saliency_grafting.experiments import EXPERIMENTS, plan, record_path, render, run_experiment

    names = list(EXPERIMENTS) if args.name == ["all"] else args.name
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        raise ValueError(f"unknown experiment(s) {unknown}; valid names: {', '.join(EXPERIMENTS)}, or all")
    if args.seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {args.seeds}")
    out = Path(args.out or f"reproduce/{args.scale}")
    if args.dry_run:  # one line per run; "done" when its record exists in --out
        for name in names:
            for cell, seed, config in plan(name, args.scale, args.seeds, args.data_dir, records=out):
                status = "done" if record_path(out, config).exists() else "todo"
                print(f"{status}\t{name}\t{cell.row}\t{cell.column}\tseed {seed}\t{config.model} {config.mixer} "
                      f"{config.regularizer} epochs {config.epochs}")  # fmt: skip
        return
    needs_data = {c.config.get("dataset") for n in names for c, _, _ in plan(n, args.scale, 1, None)} - {"synthetic"}
    if needs_data and not args.report_only and not args.data_dir:
        raise ValueError(f"--data-dir is required for {', '.join(sorted(needs_data))} (e.g. the CIFAR-10 JPEG folder)")
    sections = []
    for name in names:
        runs_dir = Path(args.runs_dir) if args.runs_dir else None
        if not args.report_only:
            run_experiment(name, args.scale, args.seeds, out, args.data_dir, runs_dir=runs_dir)
        if args.reference_occlusion and EXPERIMENTS[name].occlusion:
            from saliency_grafting.experiments.reference import add_reference_occlusion

            reference = Path(args.reference_run) if args.reference_run else None
            add_reference_occlusion(name, args.scale, args.seeds, out, runs_dir or out / "runs",
                                    reference=reference, data_dir=args.data_dir)  # fmt: skip
        sections.append(render(name, args.scale, args.seeds, out, plot_dir=out))
    report = "\n".join(sections)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"report_{args.scale}.md").write_text(report)
    print(report)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sgraft", description="Saliency Grafting and mixup-style augmentations: train and compare.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    train = sub.add_parser("train", help="train a network with a mixer; writes a run directory")
    train.add_argument("--config", help="YAML file of defaults (keys as the flags); flags override it")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint")
    _add_config_flags(train)
    train.set_defaults(func=_train)
    ev = sub.add_parser("eval", help="top-1 / top-5 error of a run on its test split")
    ev.add_argument("--run", required=True, metavar="RUN_DIR")
    ev.set_defaults(func=_eval)
    occ = sub.add_parser("occlusion", help="error with the top-k %% most salient regions zeroed (Table 6)")
    occ.add_argument("--run", required=True, metavar="RUN_DIR")
    occ.add_argument("--fractions", type=float, nargs="+", default=[0.0, 0.125, 0.25])
    occ.add_argument("--grid", type=int, default=8, help="regions per side (default 8)")
    occ.set_defaults(func=_occlusion)
    show = sub.add_parser("show", help="a Figure 1-style PNG of sources, destinations and mixed samples")
    show.add_argument("--mixer", nargs="+", choices=tuple(MIXERS), default=["saliency_grafting", "cutmix"])
    show.add_argument("--dataset", choices=DATASETS, default="synthetic")
    show.add_argument("--data-dir")
    show.add_argument("--run", metavar="RUN_DIR", help="take data and forward saliency from a trained run")
    show.add_argument("--count", type=int, default=6, help="pairs to show")
    show.add_argument("--seed", type=int, default=0)
    show.add_argument("--out", default="panel.png")
    show.set_defaults(func=_show)
    rep = sub.add_parser("reproduce", help="run one or all of the paper's experiments and report them")
    rep.add_argument("name", nargs="+", help="table1 ... table7, fig3, fig4, recipe, wallclock, sweep, tune, tuned "
                     "(after tune: each method's validation-selected configuration), fastpath, or all")  # fmt: skip
    rep.add_argument(
        "--scale",
        choices=SCALES,
        default="cpu",
        help="paper; cpu (overfitting: 701 k PreAct-ResNet, 50-250 per class); cpu-small (78 k, underfit)",
    )
    rep.add_argument("--seeds", type=int, default=3)
    rep.add_argument("--data-dir", help="the dataset of the experiments (paper: CIFAR-100 / Tiny-ImageNet / ImageNet)")
    rep.add_argument("--out", help="where records, report and plots go (default reproduce/<scale>)")
    rep.add_argument("--runs-dir", help="where run directories (checkpoints) go (default OUT/runs)")
    rep.add_argument("--dry-run", action="store_true", help="list the runs without training")
    rep.add_argument("--report-only", action="store_true", help="aggregate the finished runs, train nothing")
    rep.add_argument("--reference-occlusion", action="store_true",
                     help="occlusion experiments (table6): also rank the regions by one reference network's saliency "
                          "for the finished runs (read from --runs-dir) and add it to their records")  # fmt: skip
    rep.add_argument(
        "--reference-run",
        metavar="RUN_DIR",
        help="the reference network's run directory (default: the experiment's Vanilla seed-0 run)",
    )
    rep.set_defaults(func=_reproduce)
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except (DataError, ValueError, ImportError) as err:
        parser.exit(2, f"sgraft {args.command}: error: {err}\n")


if __name__ == "__main__":
    main()

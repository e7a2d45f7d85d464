"""The training loop: any method through one step protocol (``MixStep``), warm-up, AMP, DDP, exact resume."""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.distributed as dist
from torch import Tensor, nn

from saliency_grafting.config import TrainConfig, save_yaml
from saliency_grafting.data import Dataset, StreamLoader, TensorLoader, make_loaders
from saliency_grafting.data.registry import check_fingerprint, load_config_data
from saliency_grafting.devices import AMP_DTYPES, autocast, resolve_device
from saliency_grafting.engine.checkpoint import (
    clean_orphans,
    load_checkpoint,
    rng_state,
    save_atomic,
    set_rng_state,
)
from saliency_grafting.engine.evaluate import evaluate
from saliency_grafting.engine.progress import EmptyMaskWatch, EpochLog, TensorBoardLogger, progress, round_floats
from saliency_grafting.mixing import Mixer, create_mixer
from saliency_grafting.models import create_model
from saliency_grafting.models.regularizers import apply_regularizer
from saliency_grafting.step import LossTerm, MixStep

__all__ = ["Callback", "TensorBoardLogger", "Trainer", "lr_factor", "make_loaders"]

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"


class Callback(Protocol):
    """Called by ``Trainer.fit`` after every epoch with that epoch's metrics (rank 0 only)."""

    def __call__(self, trainer: Trainer, metrics: dict[str, Any]) -> None: ...


def _to_cpu(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_cpu(v) for v in value]
    return value


def _rate(history: list[dict[str, Any]], key: str) -> float | None:
    """Items per second over all epochs: the epochs' counts (rate x seconds) over their total seconds."""
    seconds = sum(m["seconds"] for m in history)
    return sum(m[key] * m["seconds"] for m in history) / seconds if history and seconds > 0 else None


def lr_factor(schedule: str, progress: float, milestones: Iterable[float] = (0.5, 0.75), gamma: float = 0.1) -> float:
    """Learning-rate multiplier at ``progress`` in [0, 1] of the run.

    ``step``: times ``gamma`` at each milestone (fractions of the run); ``cosine``: half a cosine to 0;
    ``onecycle``: linear from 0 up to 1 at 15 % of the run and down to 0 at the end (the cyclic schedule of Wong et
    al., 2020, used for ImageNet).
    """
    if schedule == "step":
        return gamma ** sum(progress >= m for m in milestones)
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    if schedule == "onecycle":
        peak = 0.15
        return progress / peak if progress < peak else max(0.0, (1 - progress) / (1 - peak))
    raise ValueError(f"schedule must be 'step', 'cosine' or 'onecycle', got {schedule!r}")


def _distributed() -> tuple[int, int, int]:
    """``(rank, local_rank, world_size)`` from torchrun's environment; initialises the process group."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return 0, 0, 1
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), int(os.environ.get("LOCAL_RANK", "0")), world_size


class Trainer:
    """Trains ``model`` with ``mixer`` on ``loaders = (train, test)`` as ``config`` says; writes a run directory.

    One step (after ``warmup_epochs`` of clean training) is ``MixStep``'s: the clean forward (the forward-saliency
    hook keeps the last conv stage's ``sum_c |A_c|``) -> the mixer's ``prepare`` -> ``mix_times`` mixed batches,
    each term backpropagated as soon as it is formed. ``Trainer.from_config`` builds everything from a
    ``TrainConfig`` (what ``sgraft train`` does).
    """

    def __init__(
        self,
        model: nn.Module,
        mixer: Mixer,
        loaders: tuple[TensorLoader | StreamLoader, TensorLoader | StreamLoader],
        config: TrainConfig,
        *,
        callbacks: Iterable[Callback] = (),
        data: Dataset | None = None,
    ) -> None:
        self.config = config
        self.rank, local_rank, self.world_size = _distributed()
        self.device = resolve_device(config.device, local_rank)
        self.run_dir = Path(config.out) if config.out else None
        self.callbacks = list(callbacks)
        if not config.quiet and self.rank == 0 and not any(isinstance(c, EpochLog) for c in self.callbacks):
            self.callbacks.append(EpochLog())  # one line per epoch on stderr, terminal or not
        self.data = data
        self.train_loader, self.test_loader = loaders
        if len(self.train_loader) == 0:
            raise ValueError(
                f"--batch-size {config.batch_size} exceeds the training images ({config.batch_size} "
                "or more are needed for one batch)"
            )
        self.mixer = mixer
        mixer.bind_data(self.train_loader.mean, self.train_loader.std)  # pixel-space mixers (PuzzleMix, AugMix)
        model = model.to(self.device)
        if config.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        net: Any = model  # the bare model, DDP's wrapper or torch.compile's
        if self.world_size > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            net = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        if config.compile:
            if not mixer.compile_safe:
                raise ValueError(f"--compile cannot be combined with {config.mixer}: it mixes through a forward hook")
            net = torch.compile(net)
        self.net = net
        amp_dtype = AMP_DTYPES[config.amp]
        self.amp_dtype = amp_dtype
        self.mix_generator = torch.Generator().manual_seed(config.seed * 1000 + self.rank)  # the mixing, per rank
        # The step attaches the forward-saliency hook (if the method uses it) to the bare model.
        self.step = MixStep(
            model,
            mixer,
            net=net,
            objective=config.objective,
            saliency=config.saliency,
            saliency_layer=config.saliency_layer,
            mix_times=config.mix_times,
            mix_reduction=config.mix_reduction,
            label_smoothing=config.label_smoothing,
            generator=self.mix_generator,
            autocast=self.autocast,
        )
        self.objective = self.step.objective
        self.optimizer = torch.optim.SGD(
            model.parameters(),
            lr=config.lr,
            momentum=config.momentum,
            nesterov=config.nesterov and config.momentum > 0,
            weight_decay=config.weight_decay,
        )
        total = config.epochs * len(self.train_loader)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: lr_factor(config.schedule, step / total, config.milestones, config.gamma)
        )
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=amp_dtype is torch.float16)
        # Whether to mix a batch changes how many forward passes a step makes: every rank must agree on it.
        self.coin_generator = torch.Generator().manual_seed(config.seed * 1000 + 999)
        self.start_epoch = 0
        self.history: list[dict[str, Any]] = []
        self.empty_watch = EmptyMaskWatch()

    @classmethod
    def from_config(
        cls, config: TrainConfig, *, callbacks: Iterable[Callback] = (), data: Dataset | None = None
    ) -> Trainer:
        """Data, loaders, mixer and model as ``config`` names them (``data`` skips loading the dataset)."""
        rank, local_rank, world_size = _distributed()
        device = resolve_device(config.device, local_rank)
        torch.manual_seed(config.seed)
        progress = not config.quiet and rank == 0 and sys.stderr.isatty()  # a live bar; a bad file: one line
        data = data if data is not None else load_config_data(config, progress=progress)
        check_fingerprint(data, config.data_fingerprint, config.data_dir)
        if config.data_fingerprint is None:
            config.data_fingerprint = data.fingerprint  # the run's config.yaml says which data it read
        loaders = make_loaders(data, config, device, rank, world_size)
        mixer = create_mixer(
            config.mixer, data.num_classes, label_smoothing=config.label_smoothing, validate=False, **config.mixer_args
        )
        model = create_model(config.model, data.num_classes, in_channels=data.channels, **config.model_args)
        model = apply_regularizer(model, config.regularizer, **config.regularizer_args)
        return cls(model, mixer, loaders, config, callbacks=callbacks, data=data)

    # -- setup ----------------------------------------------------------------------------------------------

    def autocast(self) -> contextlib.AbstractContextManager:
        return autocast(self.device, self.config.amp)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # -- one step -------------------------------------------------------------------------------------------

    def step_batch(self, images: Tensor, labels: Tensor, mixing: bool) -> tuple[Tensor, Tensor | None, int]:
        """Forward, loss and backward of one batch (gradients accumulate; the optimizer step is the caller's).

        Returns ``(loss (detached), clean logits or None, samples forwarded for the loss)``. Each loss term is
        backpropagated as soon as it is formed, so the clean pass's graph is freed before the mixed pass; under
        DDP, whose gradient reduction runs once per backward, the terms are summed and backpropagated once.
        """
        total: Tensor | None = None
        logits, samples = None, 0
        terms: Iterable[LossTerm] = self.step.terms(images, labels, mixing=mixing)
        if self.world_size > 1:
            terms = list(terms)
            if terms:
                self.scaler.scale(torch.stack([t.loss for t in terms]).sum()).backward()
        for term in terms:
            if self.world_size == 1:
                self.scaler.scale(term.loss).backward()
            total = term.loss.detach() if total is None else total + term.loss.detach()
            samples += term.samples
            logits = term.logits.detach() if term.logits is not None else logits
        return (total if total is not None else torch.zeros((), device=self.device)), logits, samples

    def train_epoch(self, epoch: int) -> dict[str, Any]:
        self.net.train()
        mixing_epoch = epoch >= self.config.warmup_epochs and self.mixer.mixes
        sums = torch.zeros(3, device=self.device)  # loss * n, clean errors, clean count
        images_seen = samples_seen = mixed_batches = 0
        start = time.perf_counter()
        for images, labels in self._progress(self.train_loader, epoch):
            mixing = mixing_epoch and bool(torch.rand((), generator=self.coin_generator) < self.config.mix_prob)
            mixed_batches += mixing
            self.optimizer.zero_grad(set_to_none=True)
            loss, logits, samples = self.step_batch(images, labels, mixing)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            sums[0] += loss.detach() * len(labels)
            if logits is not None:
                sums[1] += (logits.detach().argmax(1) != labels).sum()
                sums[2] += len(labels)
            images_seen += len(labels)
            samples_seen += samples
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - start
        loss_sum, errors, clean = sums.tolist()
        if self.world_size > 1 and self.step.stats is not None:
            dist.all_reduce(self.step.stats)  # every rank's mixes, not rank 0's alone
        diagnostics = self.step.read_stats()  # accumulated on the device; read once per epoch
        # each rank draws its own mixing ratios: the epoch holds world_size draws per mixed batch
        warning = self.empty_watch.update(diagnostics.get("mix_empty", 0.0), mixed_batches * self.world_size, epoch)
        if warning is not None and self.is_main:
            print(f"sgraft: warning: {warning}", file=sys.stderr)
        return {
            "train_loss": loss_sum / max(images_seen, 1),
            "train_top1_error": 100.0 * errors / clean if clean else None,
            "mixing": mixing_epoch,
            "seconds": seconds,
            "images_per_s": images_seen * self.world_size / seconds,
            "samples_per_s": samples_seen * self.world_size / seconds,
            **diagnostics,
        }

    def _progress(self, batches: Iterable[Any], epoch: int) -> Iterator[Any]:
        # A live bar on a terminal only (erased at the epoch's end, when EpochLog prints the epoch's line).
        yield from progress(
            batches,
            desc=f"epoch {epoch + 1}/{self.config.epochs}",
            unit="batches",
            enabled=not self.config.quiet and self.is_main,
        )

    # -- the run --------------------------------------------------------------------------------------------

    def evaluate(self, transform: Callable[[Tensor, Tensor], Tensor] | None = None) -> dict[str, float]:
        return evaluate(
            self.net,
            self.test_loader,
            autocast=self.autocast,
            transform=transform,
            desc="testing",
            progress=not self.config.quiet and self.is_main,
            lines=False,
        )

    def fit(self) -> dict[str, Any]:
        """Train the remaining epochs, evaluating, logging and checkpointing after each; returns the summary."""
        if self.run_dir is not None and self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_yaml(self.config.to_dict(), self.run_dir / "config.yaml")
            if self.config.tensorboard and not any(isinstance(c, TensorBoardLogger) for c in self.callbacks):
                self.callbacks.append(TensorBoardLogger(self.run_dir / "tensorboard"))
        metrics: dict[str, Any] = {}
        for epoch in range(self.start_epoch, self.config.epochs):
            metrics = {"epoch": epoch + 1, "lr": self.optimizer.param_groups[0]["lr"], **self.train_epoch(epoch)}
            last = epoch + 1 == self.config.epochs
            if last or (epoch + 1) % self.config.eval_every == 0:
                metrics.update({f"test_{k}": v for k, v in self.evaluate().items() if k != "count"})
            metrics = round_floats(metrics)  # 15.07, not 15.069999999999995, in every JSON output
            self.history.append(metrics)
            ranks = self._rank_states()  # a collective: every rank takes part
            if self.is_main:
                self._write_epoch(epoch, metrics, ranks)
                for callback in self.callbacks:
                    callback(self, metrics)
        summary = round_floats(self.summary())
        if self.run_dir is not None and self.is_main:
            (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        return summary

    def close(self) -> None:
        """Remove the saliency hook; in a distributed run wait for every rank, then leave the process group."""
        self.step.close()
        if self.world_size > 1 and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()

    def summary(self) -> dict[str, Any]:
        tested = [m for m in self.history if "test_top1_error" in m]
        final = tested[-1] if tested else {}
        return {
            "epochs": self.config.epochs,
            "final_top1_error": final.get("test_top1_error"),
            "final_top5_error": final.get("test_top5_error"),
            "best_top1_error": min((m["test_top1_error"] for m in tested), default=None),
            # the last epoch's training error on clean batches (None when the method trains on mixed batches only)
            "final_train_top1_error": self.history[-1].get("train_top1_error") if self.history else None,
            "final_train_loss": self.history[-1].get("train_loss") if self.history else None,
            "train_seconds": sum(m["seconds"] for m in self.history),
            # the whole run's throughput (training time only), not the last epoch's
            "samples_per_s": _rate(self.history, "samples_per_s"),
            "images_per_s": _rate(self.history, "images_per_s"),
            "parameters": sum(p.numel() for p in self.model.parameters()),
        }

    def _rank_state(self) -> dict[str, Any]:
        """What differs between ranks: the mixing generator and the global RNG (dropout, ShakeDrop)."""
        return {"mix_generator": self.mix_generator.get_state(), "rng": rng_state()}

    def _rank_states(self) -> list[dict[str, Any]]:
        """Every rank's ``_rank_state``, gathered on all ranks (just this one's when not distributed)."""
        if self.world_size == 1 or self.run_dir is None:
            return [self._rank_state()]
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, {k: _to_cpu(v) for k, v in self._rank_state().items()})
        return gathered

    def _write_epoch(self, epoch: int, metrics: dict[str, Any], ranks: list[dict[str, Any]]) -> None:
        if self.run_dir is None:
            return
        state = {**self.state_dict(epoch), "ranks": ranks}
        save_atomic(state, self.run_dir / CHECKPOINT)  # first: a logged epoch is always saved
        with open(self.run_dir / METRICS, "a") as handle:
            handle.write(json.dumps(metrics) + "\n")

    def state_dict(self, epoch: int) -> dict[str, Any]:
        return {
            "epoch": epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "train_loader": self.train_loader.state_dict(),
            "coin_generator": self.coin_generator.get_state(),
            **self._rank_state(),
            "history": [{k: v for k, v in m.items() if v is not None} for m in self.history],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue after the epoch ``state`` was saved at; a run dir's metrics past it are dropped."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.train_loader.load_state_dict(state["train_loader"])
        self.coin_generator.set_state(state["coin_generator"])
        mine = state["ranks"][self.rank] if len(state.get("ranks", [])) == self.world_size else state
        self.mix_generator.set_state(mine["mix_generator"])
        set_rng_state(mine["rng"])
        self.history = [dict(m) for m in state["history"]]
        self.start_epoch = int(state["epoch"]) + 1
        if self.run_dir is not None and self.is_main and (self.run_dir / METRICS).exists():
            kept = [json.dumps(m) for m in self.history]  # a kill between the log line and the checkpoint
            (self.run_dir / METRICS).write_text("".join(line + "\n" for line in kept))

    def resume(self) -> None:
        """Load ``checkpoint.pt`` from the run directory; a run that died before its first epoch starts over."""
        if self.run_dir is None:
            raise ValueError("resume needs a run directory (config.out)")
        if self.is_main:
            clean_orphans(self.run_dir)  # temporary files of a checkpoint write that a kill interrupted
        if (self.run_dir / CHECKPOINT).exists():
            # On the CPU: RNG states must stay CPU byte tensors; model and optimiser states follow their parameters.
            self.load_state_dict(load_checkpoint(self.run_dir / CHECKPOINT, map_location="cpu"))
        elif self.is_main:
            (self.run_dir / METRICS).unlink(missing_ok=True)

"""Streaming loader for datasets too large to hold as tensors (ImageNet): torchvision transforms in workers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler
from torchvision.transforms import v2

from saliency_grafting.data.folders import read_rgb

__all__ = ["FileDataset", "StreamLoader"]


class FileDataset(Dataset):
    """``(path, label)`` pairs decoded to RGB and transformed on access."""

    def __init__(self, paths: list[Path], labels: list[int], transform: v2.Transform) -> None:
        self.paths, self.labels, self.transform = paths, labels, transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        return self.transform(read_rgb(self.paths[index])), self.labels[index]


def _transform(train: bool, size: int, mean: Tensor, std: Tensor) -> v2.Transform:
    resize = (
        [v2.RandomResizedCrop(size, antialias=True), v2.RandomHorizontalFlip()]
        if train
        else [v2.Resize(round(size / 0.875), antialias=True), v2.CenterCrop(size)]
    )
    return v2.Compose([*resize, v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean.tolist(), std.tolist())])


class StreamLoader:
    """Shuffled (train) or ordered (test) batches from files, decoded by ``workers`` processes.

    The shuffle and the workers' augmentation seeds derive from ``seed`` and the epoch number, so a resumed run
    sees the same batches; with ``world_size > 1`` a ``DistributedSampler`` shards every epoch.
    """

    def __init__(
        self,
        paths: list[Path],
        labels: list[int],
        *,
        batch_size: int,
        mean: Tensor,
        std: Tensor,
        train: bool,
        image_size: int,
        seed: int = 0,
        workers: int = 4,
        device: torch.device | str = "cpu",
        rank: int = 0,
        world_size: int = 1,
        channels_last: bool = False,
    ) -> None:
        self.dataset = FileDataset(paths, labels, _transform(train, image_size, mean, std))
        self.mean, self.std = mean, std  # the normalisation applied (pixel-space mixers read it)
        self.sampler: DistributedSampler = DistributedSampler(
            self.dataset, world_size, rank, shuffle=train, seed=seed, drop_last=train
        )
        self.batch_size, self.train, self.seed, self.workers = batch_size, train, seed, workers
        self.device = torch.device(device)
        self.channels_last = channels_last
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.sampler) // self.batch_size if self.train else -(-len(self.sampler) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        self.sampler.set_epoch(self.epoch)
        loader = DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            sampler=self.sampler,
            num_workers=self.workers,
            drop_last=self.train,
            pin_memory=self.device.type == "cuda",
            generator=torch.Generator().manual_seed(self.seed * 100_003 + self.epoch),
            persistent_workers=False,
        )
        self.epoch += 1
        memory = torch.channels_last if self.channels_last else torch.contiguous_format
        for images, labels in loader:
            yield images.to(self.device, non_blocking=True, memory_format=memory), labels.to(self.device)

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch = int(state["epoch"])

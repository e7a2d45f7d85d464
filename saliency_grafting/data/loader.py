"""Tensor-resident batches for small datasets: crop, flip and normalise on whole batches (airbench style)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from saliency_grafting.data.base import Dataset
from saliency_grafting.data.stream import StreamLoader
from saliency_grafting.devices import to_device

if TYPE_CHECKING:
    from saliency_grafting.config import TrainConfig

__all__ = ["TensorLoader", "make_loaders", "normalize", "random_crop_flip"]


def normalize(images: Tensor, mean: Tensor, std: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """uint8 ``[B, C, H, W]`` -> float, ``(x / 255 - mean) / std`` per channel."""
    x = images.to(dtype).div_(255)
    return x.sub_(mean.to(x).view(1, -1, 1, 1)).div_(std.to(x).view(1, -1, 1, 1))


def random_crop_flip(images: Tensor, pad: int, generator: torch.Generator, *, flip: bool = True) -> Tensor:
    """Reflect-pad float images by ``pad``, take a random crop of the original size per sample and (with ``flip``)
    flip half of them horizontally. The draws are the same with and without ``flip``."""
    batch, _, height, width = images.shape
    draws = to_device(torch.rand(3, batch, generator=generator, device=generator.device), images.device)
    if pad > 0:
        padded = F.pad(images, (pad, pad, pad, pad), mode="reflect")
        dy = (draws[0] * (2 * pad + 1)).long()
        dx = (draws[1] * (2 * pad + 1)).long()
        rows = (dy[:, None] + torch.arange(height, device=images.device))[:, None, :, None]
        cols = (dx[:, None] + torch.arange(width, device=images.device))[:, None, None, :]
        index = torch.arange(batch, device=images.device)[:, None, None, None]
        channels = torch.arange(images.shape[1], device=images.device)[None, :, None, None]
        images = padded[index, channels, rows, cols]
    return torch.where((draws[2] < 0.5).view(-1, 1, 1, 1), images.flip(3), images) if flip else images


class TensorLoader:
    """Batches of a uint8 tensor dataset held in memory (or on the GPU), shuffled by a seeded generator.

    Training batches are reflect-padded by ``pad`` and cropped randomly, and flipped horizontally with ``flip``
    (``augment=False``: neither). With ``world_size > 1`` each rank
    takes every ``world_size``-th sample of the same epoch permutation (a distributed sampler). The generator state
    is part of a checkpoint, so a resumed run draws the same batches.
    """

    def __init__(
        self,
        images: Tensor,
        labels: Tensor,
        *,
        batch_size: int,
        mean: Tensor,
        std: Tensor,
        train: bool,
        pad: int = 4,
        flip: bool = True,
        augment: bool = True,
        seed: int = 0,
        device: torch.device | str = "cpu",
        rank: int = 0,
        world_size: int = 1,
        channels_last: bool = False,
    ) -> None:
        self.device = torch.device(device)
        self.images = images.to(self.device)
        self.labels = labels.to(self.device)
        self.batch_size = batch_size
        self.mean, self.std = mean.to(self.device), std.to(self.device)
        self.train = train
        self.pad, self.flip, self.augment = pad, flip, augment
        self.rank, self.world_size = rank, world_size
        self.channels_last = channels_last
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        if self.train:  # every rank takes the same number of full batches
            return len(self.labels) // self.world_size // self.batch_size
        mine = -(-(len(self.labels) - self.rank) // self.world_size)  # evaluation covers every sample once
        return -(-mine // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        count = len(self.labels)
        order = torch.randperm(count, generator=self.generator) if self.train else torch.arange(count)
        order = order[self.rank :: self.world_size].to(self.device)
        for step in range(len(self)):
            index = order[step * self.batch_size : (step + 1) * self.batch_size]
            images = normalize(self.images.index_select(0, index), self.mean, self.std)
            if self.train and self.augment:
                images = random_crop_flip(images, self.pad, self.generator, flip=self.flip)
            if self.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            yield images, self.labels.index_select(0, index)

    def state_dict(self) -> dict[str, Tensor]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.generator.set_state(state["generator"])


def make_loaders(
    data: Dataset, config: TrainConfig, device: torch.device, rank: int = 0, world_size: int = 1
) -> tuple[TensorLoader | StreamLoader, TensorLoader | StreamLoader]:
    """Train and test loaders: tensor-resident for small datasets, streamed from files for large ones.

    The training augmentation is the dataset's own (``data.augment``): none for spectrograms.
    """
    common: dict[str, Any] = {
        "mean": data.mean,
        "std": data.std,
        "device": device,
        "rank": rank,
        "world_size": world_size,
        "channels_last": config.channels_last,
    }
    if data.resident:
        policy = data.augment
        augment: dict[str, Any] = (
            {"augment": False} if policy is None else {"pad": policy.pad(data.image_size), "flip": policy.flip}
        )
        (train_x, train_y), (test_x, test_y) = data.tensors("train"), data.tensors("test")
        train: TensorLoader | StreamLoader = TensorLoader(
            train_x,
            train_y,
            batch_size=config.batch_size,
            train=True,
            seed=config.seed,
            **augment,
            **common,
        )
        test: TensorLoader | StreamLoader = TensorLoader(test_x, test_y, batch_size=512, train=False, **common)
        return train, test
    stream: dict[str, Any] = {"image_size": data.image_size, "workers": config.workers, "seed": config.seed, **common}
    (train_paths, train_labels), (test_paths, test_labels) = data.files("train"), data.files("test")
    train = StreamLoader(train_paths, train_labels, batch_size=config.batch_size, train=True, **stream)
    test = StreamLoader(test_paths, test_labels, batch_size=config.batch_size, train=False, **stream)
    return train, test

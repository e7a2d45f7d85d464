"""Wide ResNets (Zagoruyko & Komodakis, 2016): WRN-depth-width, e.g. WRN28-10 (36.5 M parameters)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from saliency_grafting.models.preact_resnet import PreActBlock

__all__ = ["WideResNet"]


class WideResNet(nn.Module):
    """WRN-``depth``-``width``: three stages of ``(depth - 4) / 6`` wide pre-activation blocks (16k, 32k, 64k
    channels), with optional dropout inside each block."""

    def __init__(
        self, num_classes: int, depth: int = 28, width: int = 10, dropout: float = 0.0, *, in_channels: int = 3
    ) -> None:
        super().__init__()
        if (depth - 4) % 6 != 0 or depth < 10:
            raise ValueError(f"depth must be 6n + 4 with n >= 1 (e.g. 28), got {depth}")
        n = (depth - 4) // 6
        widths = [16, 16 * width, 32 * width, 64 * width]
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        cin = widths[0]
        for stage in range(3):
            stride = 1 if stage == 0 else 2
            out = widths[stage + 1]
            blocks = [PreActBlock(cin if i == 0 else out, out, stride if i == 0 else 1, dropout) for i in range(n)]
            self.add_module(f"block{stage + 1}", nn.Sequential(*blocks))
            cin = out
        self.bn = nn.BatchNorm2d(cin)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv1(x)
        for name in ("block1", "block2", "block3"):  # registered with add_module
            x = getattr(self, name)(x)
        x = F.relu(self.bn(x))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))

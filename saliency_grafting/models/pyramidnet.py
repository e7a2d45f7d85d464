"""PyramidNet (Han et al., 2017) with bottleneck blocks: PyramidNet-200, alpha = 240 (26.8 M parameters)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["PyramidNet"]


class PyramidBottleneck(nn.Module):
    """BN-conv1x1-BN-ReLU-conv3x3-BN-ReLU-conv1x1-BN; the shortcut is average-pooled and zero-padded in channels."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int) -> None:
        super().__init__()
        cout = planes * self.expansion
        self.branch = nn.Sequential(
            nn.BatchNorm2d(cin),
            nn.Conv2d(cin, planes, 1, bias=False),
            nn.BatchNorm2d(planes),
            nn.ReLU(inplace=True),
            nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(planes),
            nn.ReLU(inplace=True),
            nn.Conv2d(planes, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.stride = stride
        self.extra_channels = cout - cin
        self.regulariser: nn.Module = nn.Identity()  # applied to the residual branch (ShakeDrop)

    def forward(self, x: Tensor) -> Tensor:
        out = self.regulariser(self.branch(x))
        shortcut = F.avg_pool2d(x, 2, ceil_mode=True) if self.stride != 1 else x
        if self.extra_channels > 0:
            pad = torch.zeros(
                shortcut.shape[0],
                self.extra_channels,
                *shortcut.shape[2:],
                dtype=shortcut.dtype,
                device=shortcut.device,
            )
            shortcut = torch.cat([shortcut, pad], dim=1)
        return out + shortcut


class PyramidNet(nn.Module):
    """Bottleneck PyramidNet for 32 px inputs: ``(depth - 2) / 9`` blocks per stage, widths growing by ``alpha``."""

    def __init__(self, num_classes: int, depth: int = 200, alpha: int = 240, *, in_channels: int = 3) -> None:
        super().__init__()
        if (depth - 2) % 9 != 0:
            raise ValueError(f"depth must be 9n + 2 for bottleneck PyramidNet (e.g. 200, 272), got {depth}")
        n = (depth - 2) // 9
        add_rate = alpha / (3 * n)
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        width, cin = 16.0, 16
        for stage in range(3):
            blocks = []
            for i in range(n):
                width += add_rate
                planes = round(width)
                blocks.append(PyramidBottleneck(cin, planes, 2 if (stage > 0 and i == 0) else 1))
                cin = planes * PyramidBottleneck.expansion
            self.add_module(f"layer{stage + 1}", nn.Sequential(*blocks))
        self.bn_final = nn.BatchNorm2d(cin)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.bn1(self.conv1(x))
        for name in ("layer1", "layer2", "layer3"):  # registered with add_module
            x = getattr(self, name)(x)
        x = F.relu(self.bn_final(x))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))

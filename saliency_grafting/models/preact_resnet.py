"""Pre-activation ResNets (He et al., 2016): ResNet-18 for CIFAR / Tiny-ImageNet and a narrow one for CPUs."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["PreActBlock", "PreActResNet"]


class PreActBlock(nn.Module):
    """BN-ReLU-conv3x3-BN-ReLU-(dropout)-conv3x3 with an identity (or 1x1 projection) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Conv2d(cin, cout, 1, stride=stride, bias=False)
        self.regulariser: nn.Module = nn.Identity()  # applied to the residual branch (ShakeDrop)
        self.dropout = dropout

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if self.shortcut is not None else x
        out = F.relu(self.bn2(self.conv1(out)))
        if self.dropout > 0:
            out = F.dropout(out, p=self.dropout, training=self.training)
        return self.regulariser(self.conv2(out)) + shortcut


class PreActResNet(nn.Module):
    """A 3x3 stem and four stages of ``PreActBlock`` (strides 1, 2, 2, 2), then BN-ReLU, global pooling, linear.

    Global average pooling makes one network serve 32 px (CIFAR, last stage 4x4) and 64 px (Tiny-ImageNet, 8x8)
    inputs. ``blocks=(2, 2, 2, 2)`` with ``widths=(64, 128, 256, 512)`` is PreActResNet-18 (11.2 M parameters).
    """

    def __init__(
        self,
        num_classes: int,
        blocks: Sequence[int] = (2, 2, 2, 2),
        widths: Sequence[int] = (64, 128, 256, 512),
        *,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        cin = widths[0]
        for index, (count, width) in enumerate(zip(blocks, widths, strict=True)):
            stride = 1 if index == 0 else 2
            layers = [PreActBlock(cin if i == 0 else width, width, stride if i == 0 else 1) for i in range(count)]
            self.add_module(f"layer{index + 1}", nn.Sequential(*layers))
            cin = width
        self.num_stages = len(blocks)
        self.bn = nn.BatchNorm2d(cin)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv1(x)
        for index in range(self.num_stages):
            x = getattr(self, f"layer{index + 1}")(x)
        x = F.relu(self.bn(x))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))

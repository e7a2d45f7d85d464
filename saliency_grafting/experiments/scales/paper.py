"""The paper's own settings (its networks and epochs; each experiment names its dataset in its base config)."""

from saliency_grafting.experiments.scales.base import Scale, register_scale

PAPER = register_scale(
    Scale(
        name="paper",
        family="paper",
        dataset="cifar100",
        description="the paper's networks and schedules on CIFAR-100, Tiny-ImageNet and ImageNet (a GPU's work)",
    )
)

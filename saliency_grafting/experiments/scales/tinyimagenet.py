"""Tiny-ImageNet at a CPU scale (``cpu-tiny``): the paper's own second dataset at its 64 px, with its object boxes.

The archive of ``../shared/data`` (250 training images per class, the validation split as the test set), 50 of the
200 classes (drawn with seed 0), chosen by measurement with the criterion of the CIFAR-10 ``cpu`` scale (vanilla's
clean training error <= 2 %, test error >= 15 points higher; ``benchmarks/probe_scale.py`` and the ``network``
experiment at this scale) and a cost that keeps the dearest method (PuzzleMix) under ~45 min a run on one core.
At 64 px the 701 k PreAct-ResNet's last stage is 8 x 8, as in the paper.
"""

from saliency_grafting.experiments.scales.base import CPU_TRAINING, Scale, register_scale

# TinyImageNet fingerprint of ../shared/data/tiny-imagenet-200-250.tar.gz unpacked (train/, val/, box files).
TINY_IMAGENET_250 = "32463c5dd318dc48"

CPU_TINY = register_scale(
    Scale(
        name="cpu-tiny",
        family="cpu",
        dataset="tinyimagenet",
        fingerprint=TINY_IMAGENET_250,
        dataset_args={"classes": 50, "class_seed": 0},
        num_classes=50,
        description="Tiny-ImageNet, 50 classes (seeded), 64 px, 701 k PreAct-ResNet, 25-100 per class (overfits)",
        base=CPU_TRAINING,
        steps=1140,
        sizes=(25, 50, 100),
        main_size=50,
        val_per_class=50,
    )
)

"""Tiny-ImageNet at a CPU scale (``cpu-tiny``): the paper's own second dataset, with its object boxes.

The archive of ``../shared/data`` (250 training images per class, the validation split as the test set), a class
subset and size chosen by measurement with the criterion of the CIFAR-10 ``cpu`` scale (vanilla's clean training
error <= 2 %, test error >= 15 points higher): see the ``network`` experiment at this scale and ``docs/results.md``.
"""

from saliency_grafting.experiments.scales.base import Scale, register_scale

# TinyImageNet fingerprint of ../shared/data/tiny-imagenet-200-250.tar.gz unpacked (train/, val/, box files).
TINY_IMAGENET_250 = "32463c5dd318dc48"

CPU_TINY = register_scale(Scale(
    name="cpu-tiny", family="cpu", dataset="tinyimagenet", fingerprint=TINY_IMAGENET_250,
    dataset_args={"classes": 50, "class_seed": 0}, num_classes=50,
    description="Tiny-ImageNet, 50 classes (seeded), 32 px, 701 k PreAct-ResNet, 50-200 per class (overfits)",
    base={"model": "preactresnet18", "model_args": {"widths": [16, 32, 64, 128]}, "image_size": 32,
          "batch_size": 128, "lr": 0.1, "weight_decay": 5e-4, "schedule": "cosine", "amp": "bf16",
          "channels_last": True},
    steps=3000, sizes=(50, 100, 200), main_size=100, val_per_class=50,
))  # fmt: skip

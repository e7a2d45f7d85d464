"""CIFAR-10 (the JPEG archive, as an image folder) at two CPU scales: ``cpu`` (overfitting) and ``cpu-small``.

``cpu``: a 701 k-parameter PreAct-ResNet-18 (widths 16-128, last stage 4x4), bf16 autocast and channels-last,
50 / 100 / 250 images per class (the analogue of the paper's 10 / 20 / 50 % of CIFAR-100) with ~840 optimisation
steps of 128 at each size, 1.5x that at 250 per class, where ~840 steps left vanilla at 3 % training error (the
``network`` experiment). ``cpu-small``: a 78 k network that never fits its data (kept so its records reproduce).
"""

from saliency_grafting.experiments.scales.base import CPU_TRAINING, Scale, register_scale

# ImageFolder fingerprint of ../shared/data/cifar10-jpg.tar.gz unpacked (train/ and test/, 60 000 JPEGs).
CIFAR10_JPEG = "5c4c47b62b3990ff"

CPU = register_scale(
    Scale(
        name="cpu",
        family="cpu",
        dataset="imagefolder",
        fingerprint=CIFAR10_JPEG,
        num_classes=10,
        description="CIFAR-10 JPEG, 701 k PreAct-ResNet, 50-250 per class, ~840 steps (overfits)",
        base=CPU_TRAINING,
        steps=840,
        longer={250: 1.5},
        sizes=(50, 100, 250),
        main_size=100,
        val_per_class=500,
    )
)

CPU_SMALL = register_scale(
    Scale(
        name="cpu-small",
        family="cpu-small",
        dataset="imagefolder",
        fingerprint=CIFAR10_JPEG,
        num_classes=10,
        description="CIFAR-10 JPEG, 78 k ResNet, 500 per class, 20 epochs (underfits)",
    )
)

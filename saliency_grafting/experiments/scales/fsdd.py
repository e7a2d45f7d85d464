"""Spoken digits at a CPU scale (``cpu-speech``): FSDD log-mel spectrograms, 1 x 64 x 64, no flips or crops.

The official split (takes 0-4 of each speaker and digit are the test set); the network chosen by the criterion of
the CIFAR-10 ``cpu`` scale (the ``network`` experiment at this scale).
"""

from saliency_grafting.experiments.scales.base import CPU_TRAINING, Scale, register_scale

# FSDD fingerprint of ../shared/data/free-spoken-digit.tar.gz unpacked (recordings/*.wav).
FSDD_3000 = "16e5ea2d99700b8a"

CPU_SPEECH = register_scale(Scale(
    name="cpu-speech", family="cpu", dataset="fsdd", fingerprint=FSDD_3000, num_classes=10,
    description="FSDD spoken digits, log-mel 1 x 64 x 64, 701 k PreAct-ResNet, official split (overfits)",
    base=CPU_TRAINING,
    steps=840, sizes=(15, 45, 270), main_size=45, val_per_class=30,
))  # fmt: skip

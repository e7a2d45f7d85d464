"""Spoken digits at a CPU scale (``cpu-speech``): FSDD log-mel spectrograms, 1 x 64 x 64, no flips or crops.

The official split (takes 0-4 of each speaker and digit are the test set). Measured (``benchmarks/probe_scale.py
speech``, vanilla, seed 0): at 15 clips per digit and 280 steps the network fits its training clips (0 %) and tests
at 37 % error; at 45 per digit it tests at 5.7 %, too close to its training error for augmentation to matter by the
criterion of the CIFAR-10 ``cpu`` scale. Hence 15 / 30 / 45 per digit (fewer than 13 make no batch of 128), 15 the
main size, 280 steps. The network (the 701 k PreAct-ResNet, or the 176 k one at widths 8-64) is the ``network``
experiment's to decide at this scale.
"""

from saliency_grafting.experiments.scales.base import CPU_TRAINING, Scale, register_scale

# FSDD fingerprint of ../shared/data/free-spoken-digit.tar.gz unpacked (recordings/*.wav).
FSDD_3000 = "16e5ea2d99700b8a"

CPU_SPEECH = register_scale(
    Scale(
        name="cpu-speech",
        family="cpu",
        dataset="fsdd",
        fingerprint=FSDD_3000,
        num_classes=10,
        description="FSDD spoken digits, log-mel 1 x 64 x 64, 701 k PreAct-ResNet, official split (overfits)",
        base=CPU_TRAINING,
        steps=280,
        sizes=(15, 30, 45),
        main_size=15,
        val_per_class=30,
        protocols=("paper", "same compute"),
    )
)

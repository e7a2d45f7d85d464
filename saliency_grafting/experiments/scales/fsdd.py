"""Spoken digits at a CPU scale (``cpu-speech``): FSDD log-mel spectrograms, 1 x 64 x 64, no flips or crops.

The official split (takes 0-4 of each speaker and digit are the test set). Measured (``benchmarks/probe_scale.py
speech`` and the ``network`` experiment at this scale, vanilla, seed 0): the 176 k PreAct-ResNet (widths 8-64) fits
its 15 or 30 clips per digit (0 % training error) and tests at 49.0 / 28.7 % error at 280 steps, 100 s a run; the
701 k one at 37.3 / 15.3 %, 245 s; at 45 clips per digit the 701 k one tests at 5.7 %, too close to its training
error for augmentation to matter by the criterion of the CIFAR-10 ``cpu`` scale. Hence the smallest network that
meets the criterion, 15 / 30 / 45 clips per digit (fewer than 13 make no batch of 128), 15 the main size, 280 steps.
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
        description="FSDD spoken digits, log-mel 1 x 64 x 64, 176 k PreAct-ResNet, official split (overfits)",
        base={**CPU_TRAINING, "model_args": {"widths": [8, 16, 32, 64]}},
        steps=280,
        sizes=(15, 30, 45),
        main_size=15,
        val_per_class=30,
    )
)

"""Appendix A's speech claim: SG on spoken-digit spectrograms against the speech field's own augmentation.

Vanilla, SpecAugment, Mixup, CutMix, PuzzleMix, SG and SG followed by SpecAugment's masking, on a ``cpu`` scale of a
speech dataset (``fsdd``: ``cpu-speech``), at the scale's main size: on the official split (takes 0-4 of every
speaker are the test set) under the scale's protocols, and with a new voice at test time (``SPEAKER_FOLDS``: each a
speaker held out from training, the dataset's ``split="speaker"``) under the paper protocol. Defined only on scales of
audio datasets.
"""

from __future__ import annotations

from saliency_grafting.experiments import claims, sections
from saliency_grafting.experiments.core import Cell, Experiment, register
from saliency_grafting.experiments.overfit import grid
from saliency_grafting.experiments.scales import Scale

__all__ = ["SPEAKER_FOLDS", "SPEECH"]

SPEECH = ["Vanilla", "SpecAugment", "Mixup", "CutMix", "PuzzleMix", "Saliency Grafting", "SpecAugment + SG"]
SPEAKER_FOLDS = (0, 3)  # of the six speakers in sorted order: george and nicolas


def _speech(scale: Scale) -> list[Cell]:
    from saliency_grafting.data import get_source

    if get_source(scale.dataset).modality != "audio":
        return []
    cells = [c for c in grid(scale, SPEECH, (scale.main_size,), scale.protocols)]
    for fold in SPEAKER_FOLDS:
        options = {**scale.dataset_args, "split": "speaker", "fold": fold}
        for cell in grid(scale, SPEECH, (scale.main_size,), ("paper",)):
            column = f"speaker {fold} held out · paper"
            cells.append(
                Cell(cell.row, column, {**cell.config, "dataset_args": options}, size=cell.size, protocol=cell.protocol)
            )
    return cells


register(
    Experiment(
        name="speech",
        title="Appendix A: spoken digits (log-mel spectrograms), against SpecAugment",
        claim="SG improves on the baselines for speech, on the official split and on a new speaker",
        kind="table",
        check=claims.sg_rank(),
        cells={"cpu": lambda scale, _: _speech(scale)},
        extras=sections.cpu_report(sections.binomial_se, sections.protocol_verdicts),
        min_seeds={"cpu": 5},
    )
)

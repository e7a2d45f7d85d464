"""The soft-target cross-entropy."""

from __future__ import annotations

import pytest
import torch

import saliency_grafting as sg


def test_soft_target_cross_entropy_matches_hard_labels_and_reductions() -> None:
    logits = torch.randn(5, 4, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 3, 1, 1, 2])
    onehot = torch.nn.functional.one_hot(labels, 4).float()
    torch.testing.assert_close(
        sg.soft_target_cross_entropy(logits, onehot), torch.nn.functional.cross_entropy(logits, labels)
    )
    per = sg.soft_target_cross_entropy(logits, onehot, reduction="none")
    torch.testing.assert_close(sg.soft_target_cross_entropy(logits, onehot, reduction="sum"), per.sum())
    soft = torch.full((5, 4), 0.25)
    expected = -(torch.log_softmax(logits, 1)).mean(1)
    torch.testing.assert_close(sg.soft_target_cross_entropy(logits, soft, reduction="none"), expected)
    with pytest.raises(ValueError, match="share one shape"):
        sg.soft_target_cross_entropy(logits, onehot[:3])
    with pytest.raises(ValueError, match="reduction"):
        sg.soft_target_cross_entropy(logits, onehot, reduction="avg")

"""The knowledge-distillation loss (Hinton, Vinyals and Dean, 2015, "Distilling the Knowledge in a Neural
Network", arXiv:1503.02531).

    loss = alpha * CE(student, y) + beta * T^2 * KL(softmax(teacher / T) || softmax(student / T))

The T^2 factor keeps the soft term's gradients on the same scale as the hard term's when T changes (the
soft gradients shrink as 1/T^2). KL uses `reduction="batchmean"`, the true per-sample KL divergence.
Images without a label (label -1: the unlabeled pool) contribute only the soft term; the hard term is the
mean over the labeled images of the batch.

`form="convex"` is the other common weighting, `(1 - alpha) * CE + alpha * T^2 * KL` (beta unused).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pawprint.data.loaders import UNLABELED


def kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    temperature: float,
    alpha: float,
    beta: float = 1.0,
    form: str = "weighted",
) -> torch.Tensor:
    t = temperature
    soft = F.kl_div(
        F.log_softmax(student_logits.float() / t, dim=1),
        F.log_softmax(teacher_logits.float() / t, dim=1),
        reduction="batchmean",
        log_target=True,
    ) * (t * t)
    labeled = labels != UNLABELED
    hard = (
        F.cross_entropy(student_logits[labeled].float(), labels[labeled])
        if labeled.any()
        else student_logits.sum() * 0.0
    )
    if form == "convex":
        return (1 - alpha) * hard + alpha * soft
    return alpha * hard + beta * soft

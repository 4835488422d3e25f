import math

import pytest
import torch
import torch.nn.functional as F

from pawprint.data.loaders import UNLABELED
from pawprint.losses import kd_loss


def logits(seed, n=8, k=5):
    return torch.randn(n, k, generator=torch.Generator().manual_seed(seed)) * 3


def test_soft_term_is_zero_when_student_equals_teacher():
    t = logits(0)
    labels = torch.full((8,), UNLABELED)
    assert kd_loss(t, t, labels, temperature=4.0, alpha=0.5).item() == pytest.approx(0.0, abs=1e-6)


def test_soft_term_is_kl_times_t_squared():
    s, t = logits(1), logits(2)
    labels = torch.full((8,), UNLABELED)
    temp = 3.0
    kl = F.kl_div(F.log_softmax(s / temp, 1), F.softmax(t / temp, 1), reduction="batchmean")
    got = kd_loss(s, t, labels, temperature=temp, alpha=0.5, beta=1.0)
    assert got.item() == pytest.approx(temp**2 * kl.item(), rel=1e-5)
    doubled = kd_loss(s, t, labels, temperature=temp, alpha=0.5, beta=2.0)
    assert doubled.item() == pytest.approx(2 * got.item(), rel=1e-5)


def test_hard_term_uses_only_labeled_images():
    s = logits(3)
    labels = torch.tensor([0, 1, UNLABELED, UNLABELED, 2, UNLABELED, 4, UNLABELED])
    known = labels != UNLABELED
    got = kd_loss(s, s, labels, temperature=2.0, alpha=0.7, beta=1.0)
    assert got.item() == pytest.approx(0.7 * F.cross_entropy(s[known], labels[known]).item(), rel=1e-5)


def test_convex_form_weights_hard_by_one_minus_alpha():
    s, t = logits(4), logits(5)
    labels = torch.arange(8) % 5
    hard = F.cross_entropy(s, labels).item()
    soft = kd_loss(s, t, torch.full((8,), UNLABELED), temperature=2.0, alpha=1.0, beta=1.0).item()
    got = kd_loss(s, t, labels, temperature=2.0, alpha=0.25, form="convex").item()
    assert got == pytest.approx(0.75 * hard + 0.25 * soft, rel=1e-5)


def test_gradient_flows_to_student_only():
    s, t = logits(6).requires_grad_(), logits(7).requires_grad_()
    kd_loss(s, t.detach(), torch.arange(8) % 5, temperature=4.0, alpha=0.5).backward()
    assert s.grad is not None and math.isfinite(s.grad.abs().sum().item())

"""Knowledge distillation: the student learns from the teacher's soft labels on the student's own augmented
view ("consistent teaching", Beyer et al., 2022), over the unlabeled pool plus the labeled split."""

from __future__ import annotations

import torch

from pawprint.config import DistillConfig
from pawprint.losses import kd_loss
from pawprint.models import Classifier
from pawprint.training import Module


class Distill(Module):
    def __init__(self, student: Classifier, teacher: Classifier, augment, image_size: int, cfg: DistillConfig,
                 teacher_size: int):
        super().__init__(student, augment, image_size, cfg)
        self.teacher = teacher.eval().requires_grad_(False)
        self.teacher_size = teacher_size
        self.cfg = cfg

    def train(self, mode: bool = True):
        super().train(mode)
        self.teacher.eval()  # batch-norm statistics of the teacher stay frozen
        return self

    def training_loss(self, x: torch.Tensor, y: torch.Tensor):
        with torch.no_grad():
            t_in = x if self.teacher_size == self.image_size else torch.nn.functional.interpolate(
                x, size=(self.teacher_size, self.teacher_size), mode="bilinear", antialias=True)
            teacher_logits = self.teacher(t_in)
        logits = self(x)
        loss = kd_loss(logits, teacher_logits, y, temperature=self.cfg.temperature, alpha=self.cfg.alpha,
                       beta=self.cfg.beta, form=self.cfg.loss_form)
        return loss, logits

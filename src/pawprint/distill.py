"""Knowledge distillation over the unlabeled pool plus the labeled split, in one of two ways:

- on the fly (`distill.teacher_cache_views: 0`): the teacher labels the student's own augmented view at every
  step ("consistent teaching", Beyer et al., 2022, "Knowledge distillation: A good teacher is patient and
  consistent"); a fresh view every epoch, but a teacher forward pass per student step.
- cached (`teacher_cache_views: K`): K augmented views per image and the teacher's logits on them are
  computed once; each epoch the student trains on one of the K views, drawn at random. The teacher runs
  K times per image in all instead of once per epoch.

The teacher side is one or several fine-tuned teachers (`Teachers`): an ensemble averages their logits with
weights. Teachers and student may see different resolutions (a teacher fine-tuned at 96 px teaching a 64 px
student): each view is cropped once at the largest size and resized for each, so all see the same crop.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from pawprint import device, models
from pawprint.augment import SupervisedAugment, model_input, resize
from pawprint.config import DistillConfig
from pawprint.data.loaders import ArrayDataset, as_tensor
from pawprint.losses import kd_loss
from pawprint.models import Classifier
from pawprint.progress import track
from pawprint.training import Module


class Teachers(nn.Module):
    """Frozen teachers whose logits are averaged with weights; each sees a view at its own resolution.

    Logits rather than probabilities are averaged, as the study does; with one teacher it is that teacher.
    They predict at their own precision (`train.precision`, inference rule of `device.precision`): bf16 on
    bf16 CPUs from 64 px even when the student trains in fp32, since ResNet50 predicts 2.4x faster so.
    """

    def __init__(self, members: list[tuple[Classifier, int, float]], precision: str = "auto"):
        super().__init__()
        self.members = nn.ModuleList(m.eval().requires_grad_(False) for m, _, _ in members)
        self.sizes = [size for _, size, _ in members]
        total = sum(w for _, _, w in members)
        self.weights = [w / total for _, _, w in members]
        self.image_size = max(self.sizes)
        self.precision = device.precision(precision)

    @classmethod
    def load(cls, weighted_paths: dict[Path, float], precision: str = "auto") -> Teachers:
        members = []
        for path, weight in weighted_paths.items():
            model, meta = models.load(path)
            members.append((model, meta["image_size"], weight))
        return cls(members, precision)

    def train(self, mode: bool = True):
        return super().train(False)  # batch-norm statistics stay those of fine-tuning

    def forward(self, view: torch.Tensor) -> torch.Tensor:
        """Weighted mean logits for a float view in [0, 1] cropped at `image_size` or larger."""
        out = None
        for model, size, weight in zip(self.members, self.sizes, self.weights):
            with device.autocast(self.precision, view.device.type):
                logits = weight * model(model_input(view, size)).float()
            out = logits if out is None else out + logits
        return out


class CachedViews(torch.utils.data.Dataset):
    """K stored views per image with the teacher's logits; each fetch draws one view per image."""

    def __init__(self, views: torch.Tensor, labels: torch.Tensor, logits: torch.Tensor):
        self.views, self.labels, self.logits = views, labels, logits

    def __len__(self) -> int:
        return len(self.labels)

    def __getitems__(self, indices: list[int]):
        idx = torch.as_tensor(indices)
        pick = torch.randint(self.views.shape[1], (len(idx),))
        return self.views[idx, pick], self.labels[idx], self.logits[idx, pick]


@torch.inference_mode()
def cache_views(
    teacher: Teachers,
    data: ArrayDataset,
    augment: SupervisedAugment,
    student_size: int,
    k: int,
    batch_size: int = 256,
) -> CachedViews:
    teacher = teacher.to(memory_format=torch.channels_last)
    views, logits = [], []
    starts = range(0, len(data), batch_size)
    for start in track(starts, len(starts), f"teachers labelling {k} views of each image", unit="batches"):
        images = as_tensor(data.images[start : start + batch_size])
        batch_views, batch_logits = [], []
        for _ in range(k):
            view = augment.view(images)
            stored = (resize(view, student_size) * 255).round().to(torch.uint8)  # as the student will see it
            batch_views.append(stored)
            batch_logits.append(teacher(view))
        views.append(torch.stack(batch_views, 1))
        logits.append(torch.stack(batch_logits, 1))
    return CachedViews(torch.cat(views), data.labels, torch.cat(logits))


class Distill(Module):
    """`augment` crops at max(student, teachers) resolution; with `teacher=None` batches come from CachedViews."""

    def __init__(
        self,
        student: Classifier,
        augment: SupervisedAugment,
        image_size: int,
        cfg: DistillConfig,
        teacher: Teachers | None = None,
    ):
        super().__init__(student, augment, image_size, cfg)
        self.cfg = cfg
        self.teacher = teacher

    # The frozen teachers are rebuilt from their own checkpoints, so checkpoints (to resume, and the best
    # epoch's that `training.fit` loads at the end) leave them out; every other key must match.
    def on_save_checkpoint(self, checkpoint) -> None:
        state = checkpoint["state_dict"]
        for key in [k for k in state if k.startswith("teacher.")]:
            del state[key]

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        result = super().load_state_dict(state_dict, strict=False, assign=assign)
        missing = [k for k in result.missing_keys if not k.startswith("teacher.")]
        if strict and (missing or result.unexpected_keys):
            raise RuntimeError(f"checkpoint does not fit this student: missing {missing}, "
                               f"unexpected {result.unexpected_keys}")  # fmt: skip
        return result

    def training_batch(self, batch):
        if self.teacher is None:  # cached views (uint8, student size) with their teacher logits
            views, labels, teacher_logits = batch
            return model_input(views, self.image_size), labels, teacher_logits
        images, labels = batch
        view = self.augment.view(images)
        return model_input(view, self.image_size), labels, view

    def training_loss(self, batch):
        x, y, teacher_side = batch
        if self.teacher is None:
            teacher_logits = teacher_side
        else:
            with torch.no_grad():
                teacher_logits = self.teacher(teacher_side.contiguous(memory_format=torch.channels_last))
        logits = self(x)
        cfg = self.cfg
        loss = kd_loss(
            logits, teacher_logits, y, temperature=cfg.temperature, alpha=cfg.alpha, beta=cfg.beta, form=cfg.loss_form
        )
        return loss, logits, y

"""The models one pipeline run compares, named once for evaluation, reports and the study.

Students (`models/students/<name>.pt`): the baseline, SimCLR + fine-tuning, one student per entry of
`distill_runs` and the hybrid (SimCLR init + KD). Teachers (`models/teachers/<name>.pt`): one per entry of
`teachers`, plus the self-supervised teacher. The list follows params.yaml, not the folder, so a model left
over from a removed entry is never reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pawprint.config import SSL_TEACHER, Params
from pawprint.paths import STUDENTS_DIR, TEACHERS_DIR


@dataclass(frozen=True)
class Entry:
    name: str  # file stem, MLflow metric prefix
    kind: str  # student | teacher
    method: str  # the row label of the study's tables
    uses_pool: bool  # trained on the unlabeled pool, so its result depends on unlabeled_size

    @property
    def path(self) -> Path:
        return (STUDENTS_DIR if self.kind == "student" else TEACHERS_DIR) / f"{self.name}.pt"


def _teachers(weights: dict[str, float]) -> str:
    if len(weights) == 1:
        return next(iter(weights))
    same = len(set(weights.values())) == 1
    return " + ".join(name if same else f"{w:g}*{name}" for name, w in weights.items())


def compared(params: Params) -> list[Entry]:
    """The yardstick first, then the transfer routes, then the teachers they learned from."""
    arch = params.student.arch
    entries = [
        Entry("baseline", "student", f"baseline ({arch} from scratch)", False),
        Entry("simclr", "student", "SimCLR + fine-tuning", True),
    ]
    for name, run in params.distill_runs.items():
        entries.append(Entry(name, "student", f"KD from {_teachers(run.teachers)}", True))
    entries.append(Entry("hybrid", "student", f"SimCLR init + KD from {_teachers(params.hybrid.teachers)}", True))
    for name, t in params.teachers.items():
        entries.append(Entry(name, "teacher", f"teacher {t.arch} (weights {t.weights})", False))
    entries.append(Entry(SSL_TEACHER, "teacher", f"teacher {params.ssl_teacher.arch} (SimCLR on the pool)", True))
    return entries

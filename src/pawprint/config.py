"""The one place where `params.yaml` becomes typed, frozen config.

Every key is checked before a stage does any work, so a typo or an impossible value costs a second, not an
hour of training followed by a crash. Errors name the key, the value and what is allowed, on one line.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pawprint.errors import PawprintError


class ConfigError(PawprintError):
    """A params.yaml value that no stage can work with."""


def _rule(check: Callable[[Any], bool], allowed: str, default: Any) -> Any:
    return field(default=default, metadata={"check": check, "allowed": allowed})


def positive(default: Any) -> Any:
    return _rule(lambda v: v > 0, "must be > 0", default)


def non_negative(default: Any) -> Any:
    return _rule(lambda v: v >= 0, "must be >= 0", default)


def unit(default: float) -> Any:
    return _rule(lambda v: 0 <= v <= 1, "must be between 0 and 1", default)


def one_of(default: str, *choices: str) -> Any:
    return _rule(lambda v: v in choices, f"must be one of {', '.join(choices)}", default)


SOURCES = ("digits", "folder", "kaggle", "cifar10")
STUDENTS = ("mobilenet_v2", "mobilenet_v2_32", "small_cnn")
TEACHERS = ("resnet50", "vgg16", "vgg16_bn")
PRECISIONS = ("auto", "32", "bf16", "16-mixed")
STRATEGIES = ("auto", "ddp")


@dataclass(frozen=True)
class DataConfig:
    source: str = one_of("digits", *SOURCES)
    folder: str = ""
    test_folder: str = ""  # the whole test split, same class folders (then test_size is unused)
    kaggle_slug: str = _rule(
        lambda v: v.count("/") == 1 and all(v.split("/")),
        "must be owner/dataset",
        "bhavikjikadara/dog-and-cat-classification-dataset",
    )
    split_seed: int = non_negative(0)
    test_size: int = positive(500)
    val_size: int = positive(100)
    labeled_size: int = positive(200)
    image_size: int = _rule(lambda v: v >= 16, "must be >= 16 pixels", 32)
    cache_size: int = _rule(lambda v: v >= 16, "must be >= 16 pixels", 36)


@dataclass(frozen=True)
class TrainConfig:
    """Settings every training stage shares: how to train, not what."""

    batch_size: int = positive(64)
    patience: int = positive(5)
    min_epochs: int = positive(1)
    precision: str = one_of("auto", *PRECISIONS)
    resume: bool = True
    monitor: str = one_of("val/loss", "val/loss", "val/accuracy")
    # Which epoch's weights a supervised or distilled stage keeps. best: the best `monitor` epoch, with early
    # stopping after `min_epochs`. last: the schedule run to its end and its last epoch kept, because a val
    # split of a hundred images is one point an image, too coarse to tell epochs of one run apart. Either way
    # an epoch that predicts one class is kept only if every epoch does. SimCLR pretraining always keeps its
    # lowest val loss.
    keep: str = one_of("best", "best", "last")
    # cosine: the learning rate annealed per epoch from `lr`; onecycle: warmed up to `lr` over the first 15% of
    # steps, then annealed per step (torch's OneCycleLR), which trains a small network further in few epochs.
    schedule: str = one_of("cosine", "cosine", "onecycle")
    # Batch-norm statistics recomputed from training images before each validation (training.PreciseBatchNorm).
    precise_bn: bool = False
    # Lightning's Trainer arguments: `devices` processes per node (GPUs, or CPU processes), `num_nodes`
    # machines; `batch_size` is per process, so the global batch is batch_size * devices * num_nodes.
    strategy: str = one_of("auto", *STRATEGIES)
    devices: int = positive(1)
    num_nodes: int = positive(1)

    @property
    def processes(self) -> int:
        return self.devices * self.num_nodes


@dataclass(frozen=True)
class AugmentConfig:
    """Supervised augmentation: random resized crop, optional shift and horizontal flip (off for digits)."""

    min_scale: float = _rule(lambda v: 0 < v <= 1, "must be in (0, 1]", 0.5)
    hflip: bool = False
    translate: float = _rule(lambda v: 0 <= v < 0.5, "must be in [0, 0.5)", 0.0)


@dataclass(frozen=True)
class OptimConfig:
    """How long and how fast one network trains: every training section of params.yaml has these three."""

    epochs: int = positive(30)
    lr: float = positive(1e-3)
    weight_decay: float = non_negative(5e-4)


@dataclass(frozen=True)
class SimCLRConfig(OptimConfig):
    """SimCLR pretraining; the augmentation keys mirror lightly's SimCLRTransform arguments."""

    temperature: float = positive(0.5)
    projection_dim: int = positive(128)
    min_scale: float = _rule(lambda v: 0 < v <= 1, "must be in (0, 1]", 0.08)
    cj_prob: float = unit(0.8)
    cj_strength: float = non_negative(1.0)
    random_gray_scale: float = unit(0.2)
    gaussian_blur: float = unit(0.0)
    hf_prob: float = unit(0.5)


def _unfreeze(default: int) -> Any:
    return _rule(lambda v: v >= -1, "must be -1 (the whole network), 0 (head only) or N (last N blocks)", default)


def _own_size(default: int) -> Any:
    """A teacher's own resolution; `data.cache_size` must hold it (checked in `_check_relations`)."""
    return _rule(lambda v: v == 0 or v >= 16, "must be 0 (the student's size) or >= 16 pixels", default)


@dataclass(frozen=True)
class FinetuneConfig(OptimConfig):
    """A pretrained backbone with a fresh head on the labels: a linear probe (head only) for `probe_epochs`,
    then the head and the last `unfreeze` blocks (-1: everything)."""

    probe_epochs: int = non_negative(0)
    unfreeze: int = _unfreeze(-1)


@dataclass(frozen=True)
class TeacherConfig(OptimConfig):
    arch: str = one_of("resnet50", *TEACHERS)
    weights: str = _rule(
        lambda v: v in ("imagenet", "none") or v.endswith((".pt", ".pth")),
        "must be imagenet, none or a path to a .pt/.pth state dict",
        "none",
    )
    image_size: int = _own_size(0)
    unfreeze: int = _unfreeze(-1)


@dataclass(frozen=True)
class SSLTeacherConfig(FinetuneConfig):
    """Method 7, for when no ImageNet weights exist: the teacher architecture pretrained with SimCLR on the
    unlabeled pool (augmentation from `simclr`), then fine-tuned on the labels like any teacher."""

    arch: str = one_of("resnet50", *TEACHERS)
    image_size: int = _own_size(0)
    pretrain_epochs: int = positive(10)
    pretrain_lr: float = positive(1e-3)


SSL_TEACHER = "ssl_teacher"


@dataclass(frozen=True)
class KDRun:
    """One distilled student: the teachers whose logits it learns from, averaged with these weights."""

    teachers: dict[str, float] = field(default_factory=lambda: {"resnet50": 1.0})


@dataclass(frozen=True)
class DistillConfig(OptimConfig):
    """Knowledge distillation: loss = alpha * CE(hard) + beta * T^2 * KL(teacher_T || student_T)."""

    temperature: float = positive(4.0)
    alpha: float = unit(0.5)
    loss_form: str = one_of("weighted", "weighted", "convex")
    teacher_cache_views: int = non_negative(0)
    beta: float = non_negative(1.0)
    # The crop of the views the student learns from, apart from `augment.min_scale`: soft labels over a pool
    # many times the labels regularise, and a small student underfits crops that a few labels need.
    min_scale: float = _rule(lambda v: 0 <= v <= 1, "must be 0 (augment.min_scale) or in (0, 1]", 0.0)


@dataclass(frozen=True)
class StudentConfig:
    arch: str = one_of("mobilenet_v2", *STUDENTS)


@dataclass(frozen=True)
class Params:
    seed: int = non_negative(0)
    study: str = ""  # the preset this run belongs to (studies/<study>.yaml), for its published numbers
    unlabeled_size: int = non_negative(800)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    baseline: OptimConfig = field(default_factory=OptimConfig)
    simclr: SimCLRConfig = field(default_factory=SimCLRConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    teachers: dict[str, TeacherConfig] = field(default_factory=lambda: {"resnet50": TeacherConfig()})
    ssl_teacher: SSLTeacherConfig = field(default_factory=SSLTeacherConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    distill_runs: dict[str, KDRun] = field(default_factory=lambda: {"kd": KDRun()})
    hybrid: KDRun = field(default_factory=KDRun)

    @property
    def distill_augment(self) -> AugmentConfig:
        """The augmentation of distillation's views: `augment`, its crop from `distill.min_scale` when set."""
        return dataclasses.replace(self.augment, min_scale=self.distill.min_scale or self.augment.min_scale)

    def teacher_size(self, name: str) -> int:
        """The resolution a named teacher trains and predicts at."""
        size = self.ssl_teacher.image_size if name == SSL_TEACHER else self.teachers[name].image_size
        return size or self.data.image_size


def _type_ok(value: Any, hint: Any) -> bool:
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


NAME = re.compile(r"[a-z][a-z0-9_]*")


def _build_dict(hint: Any, raw: Any, key: str) -> dict:
    """A `name -> value` section (teachers, distill runs): names become file and DVC stage names."""
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"params.yaml: {key} must be a non-empty mapping of name -> settings, got {raw!r}")
    _, value_hint = typing.get_args(hint)
    out = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise ConfigError(f"params.yaml: {key}.{name}: names must be lower-case letters, digits and _")
        if dataclasses.is_dataclass(value_hint):
            out[name] = _build(value_hint, value, f"{key}.{name}.")
        elif not _type_ok(value, value_hint) or value <= 0:
            raise ConfigError(f"params.yaml: {key}.{name} = {value!r}: must be a number > 0")
        else:
            out[name] = value_hint(value)
    return out


def _build(cls: type, raw: Any, prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"params.yaml: {prefix.rstrip('.') or 'top level'} must be a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in fields:
            raise ConfigError(f"params.yaml: unknown key {prefix}{key}; allowed keys here: {', '.join(fields)}")
    values = {}
    for name, f in fields.items():
        if name not in raw:
            continue
        value, hint, key = raw[name], hints[name], prefix + name
        if dataclasses.is_dataclass(hint):
            values[name] = _build(hint, value, key + ".")
            continue
        if typing.get_origin(hint) is dict:
            values[name] = _build_dict(hint, value, key)
            continue
        if hint is str and _type_ok(value, int):
            value = str(value)  # `dvc exp run -S train.precision=32` writes the number 32 into params.yaml
        if not _type_ok(value, hint):
            type_name = hint.__name__ if isinstance(hint, type) else str(hint)
            raise ConfigError(f"params.yaml: {key} = {value!r}: must be of type {type_name}")
        if hint is float:
            value = float(value)
        check = f.metadata.get("check")
        if check and not check(value):
            raise ConfigError(f"params.yaml: {key} = {value!r}: {f.metadata['allowed']}")
        values[name] = value
    return cls(**values)


def _check_relations(p: Params) -> None:
    if p.data.cache_size < p.data.image_size:
        raise ConfigError(
            f"params.yaml: data.cache_size = {p.data.cache_size}: must be >= data.image_size "
            f"({p.data.image_size}); about 1.15x gives random crops room"
        )
    if SSL_TEACHER in p.teachers:
        raise ConfigError(f"params.yaml: teachers.{SSL_TEACHER}: the name is taken by the self-supervised teacher")
    for name in [*p.teachers, SSL_TEACHER]:
        key, size = SSL_TEACHER if name == SSL_TEACHER else f"teachers.{name}", p.teacher_size(name)
        if size < p.data.image_size:  # a default's own size left behind by a larger student
            raise ConfigError(
                f"params.yaml: {key}.image_size = {size}: below data.image_size ({p.data.image_size}), the "
                f"teacher would see less than its student; set it to 0 (the student's size) or at least "
                f"{p.data.image_size}"
            )
        if size > p.data.cache_size:
            raise ConfigError(
                f"params.yaml: data.cache_size = {p.data.cache_size}: must be >= {key}.image_size "
                f"({size}); the cache holds what every consumer needs"
            )
    for name, t in p.teachers.items():
        if t.weights == "none" and t.unfreeze != -1:
            raise ConfigError(
                f"params.yaml: teachers.{name}.unfreeze = {t.unfreeze} with weights none: the frozen blocks "
                f"would keep their random weights; set teachers.{name}.unfreeze: -1 (the whole network) or "
                "give it weights (imagenet or a state dict)"
            )
    archs = {**{f"teachers.{n}": t.arch for n, t in p.teachers.items()}, SSL_TEACHER: p.ssl_teacher.arch}
    for key, arch in archs.items():
        size = p.teacher_size(key.removeprefix("teachers."))
        if arch.startswith("vgg16") and size < 32:
            raise ConfigError(
                f"params.yaml: {key}.image_size: {arch} needs >= 32 pixels (five 2x poolings), it would get "
                f"{size}; set {key}.image_size: 32 and data.cache_size >= 32"
            )
    for name in p.distill_runs:
        if name in ("baseline", "simclr", "hybrid"):
            raise ConfigError(f"params.yaml: distill_runs.{name}: the name is taken by another method's student")
    known = [*p.teachers, SSL_TEACHER]
    for key, run in [*(("distill_runs." + n, r) for n, r in p.distill_runs.items()), ("hybrid", p.hybrid)]:
        for name in run.teachers:
            if name not in known:
                raise ConfigError(f"params.yaml: {key}.teachers.{name}: no such teacher; known: {', '.join(known)}")
    for key, tuning in (("finetune", p.finetune), (SSL_TEACHER, p.ssl_teacher)):
        if p.train.processes > 1 and tuning.probe_epochs:
            raise ConfigError(
                f"params.yaml: {key}.probe_epochs = {tuning.probe_epochs}: a linear probe unfreezes the backbone "
                "mid-training, which DDP does not synchronise across processes (Lightning issue #20340); "
                "set it to 0 or train.devices and train.num_nodes to 1"
            )
        if p.train.schedule == "onecycle" and tuning.probe_epochs:
            raise ConfigError(
                f"params.yaml: {key}.probe_epochs = {tuning.probe_epochs}: a linear probe adds the backbone to the "
                "optimizer mid-training, which train.schedule = onecycle cannot schedule; set it to 0 or "
                "train.schedule to cosine"
            )
    if p.data.source == "cifar10" and p.data.test_folder:
        raise ConfigError(
            f"params.yaml: data.test_folder = {p.data.test_folder!r}: the cifar10 source tests on CIFAR-10's "
            "official test set; set data.test_folder: '' (or use data.source: folder for your own images)"
        )
    if p.data.source == "folder" and not p.data.folder:
        raise ConfigError(
            "params.yaml: data.folder = '': data.source=folder needs the path of a folder of class folders"
        )


def parse(raw: Any) -> Params:
    params = _build(Params, raw if raw is not None else {}, "")
    _check_relations(params)
    return params


def load(path: str | Path = "params.yaml") -> Params:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: not found; run from the repository root or pass the path of params.yaml")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from exc
    try:
        return parse(raw)
    except ConfigError as exc:
        raise ConfigError(f"{exc}{_way_back(path, raw, str(exc))}") from None


def _committed(path: Path) -> Any:
    """params.yaml as the last commit has it, or None (no git, not committed)."""
    import subprocess

    try:
        out = subprocess.run(
            ["git", "show", f"HEAD:./{path.name}"], cwd=path.parent, capture_output=True, text=True, timeout=10
        )
        return yaml.safe_load(out.stdout) if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, yaml.YAMLError):
        return None


def _way_back(path: Path, raw: Any, message: str) -> str:
    """How to undo a bad value that is not in the last commit. `dvc exp run -S key=value` writes the value
    into the workspace's params.yaml before running and leaves it there when the run fails, so every later
    experiment fails on it too, whatever it sets: the error says where the value came from."""
    committed = _committed(path)
    if not isinstance(raw, dict) or not isinstance(committed, dict):
        return ""
    now, before = flatten(raw), flatten(committed)
    changed = [k for k in now if k in before and now[k] != before[k]]
    named = [k for k in changed if f"{k} " in message or f"{k}:" in message]
    if not named:
        return ""
    key = named[0]
    return (
        f". {path.name} differs from its last commit here ({key} was {before[key]!r}): `dvc exp run -S` writes "
        f"its values into {path.name} and keeps them after a failure; undo with `git checkout {path.name}` "
        f"or -S {key}={before[key]}"
    )


def section(params: Params, key: str, kind: type) -> Any:
    """The section a dotted key names (`distill_runs.kd`, `finetune`), which must be a `kind`: how dvc.yaml
    tells one variant of a stage which settings are its own."""
    value: Any = params
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else getattr(value, part, None)
    if not isinstance(value, kind):
        raise ConfigError(f"params.yaml: {key}: no such section of {kind.__name__} settings (see dvc.yaml)")
    return value


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted keys (`distill.alpha`) as DVC and MLflow name them."""
    out: dict[str, Any] = {}
    items = dataclasses.asdict(obj).items() if dataclasses.is_dataclass(obj) else obj.items()
    for key, value in items:
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out

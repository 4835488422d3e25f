"""Students and teachers, built by name, each split into a backbone (image -> feature vector) and a head.

The split is what lets SimCLR pretrain a backbone and fine-tuning put a fresh head on it, and what lets a
checkpoint say which architecture it holds so that it loads without the code that trained it.
"""

from __future__ import annotations

import urllib.error
from collections.abc import Callable
from pathlib import Path

import torch
import torchvision
from torch import nn

from pawprint.errors import PawprintError
from pawprint.paths import atomic_path


class Classifier(nn.Module):
    def __init__(self, backbone: nn.Module, head: nn.Module, feature_dim: int):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.feature_dim = feature_dim
        self.frozen: list[nn.Module] = []  # a plain list: frozen blocks stay registered under backbone only

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))

    def train(self, mode: bool = True):
        super().train(mode)
        for block in self.frozen:  # frozen blocks keep their batch-norm statistics too
            block.eval()
        return self

    def blocks(self) -> list[nn.Module]:
        """The backbone's stages from input to output: the unit of `unfreeze`.

        ResNet50: the stem and its four stages; VGG16: its five conv blocks (each ends in a max-pool);
        MobileNetV2: its 19 feature blocks; small CNN: its two conv blocks and the dense layer.
        """
        net = self.backbone
        if isinstance(net, torchvision.models.ResNet):
            return [nn.ModuleList([net.conv1, net.bn1]), net.layer1, net.layer2, net.layer3, net.layer4]
        layers = list(net[0]) if isinstance(net[0], nn.Sequential) else list(net)
        if isinstance(net[0], nn.Sequential) and not any(isinstance(m, nn.MaxPool2d) for m in layers):
            return layers  # MobileNetV2 features
        groups, current = [], []
        for layer in layers:
            current.append(layer)
            if isinstance(layer, (nn.MaxPool2d, nn.Linear)):
                groups.append(nn.ModuleList(current))
                current = []
        if current and any(p.numel() for m in current for p in m.parameters()):
            groups.append(nn.ModuleList(current))
        elif current:
            groups[-1].extend(current)  # a trailing activation belongs to the block before it
        return groups

    def freeze(self, trainable_blocks: int) -> None:
        """Train only the head and the last `trainable_blocks` blocks (-1: everything, 0: the head only)."""
        blocks = self.blocks()
        self.frozen = [] if trainable_blocks < 0 else blocks[: max(0, len(blocks) - trainable_blocks)]
        self.requires_grad_(True)
        for block in self.frozen:
            block.requires_grad_(False)


def _mobilenet_v2(num_classes: int, image_size: int, stem_stride: int = 2) -> Classifier:
    net = torchvision.models.mobilenet_v2(num_classes=num_classes)
    net.features[0][0].stride = (stem_stride, stem_stride)
    backbone = nn.Sequential(net.features, nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return Classifier(backbone, net.classifier, net.last_channel)


class Dropout(nn.Dropout):
    """`nn.Dropout` with its keep mask drawn from raw random bytes: on CPUs torch's per-element Bernoulli
    sampling costs more than the small CNN's convolutions (docs/speed.md). `p` is rounded to 1/256, which
    leaves 0.25 and 0.5 exact."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = round(256 * (1 - self.p))
        n = x.numel()
        words = torch.empty((n + 7) // 8, dtype=torch.int64, device=x.device).random_(-(2**63), 2**63 - 1)
        mask = words.view(torch.uint8)[:n].view(x.shape) < keep
        return x * mask.to(x.dtype).mul_(256 / keep)


def _small_cnn(num_classes: int, image_size: int) -> Classifier:
    """The study's Keras small CNN: two conv/pool/dropout blocks, then Dense(256).

    Each block pools before its ReLU: the same function (max-pooling commutes with a non-decreasing
    activation) with the activation on a quarter of the values, which with channels-last pooling and the
    cheaper dropout makes a training step about twice as fast on a CPU.
    """
    side = ((image_size - 2) // 2 - 2) // 2
    backbone = nn.Sequential(
        nn.Conv2d(3, 32, 3), nn.MaxPool2d(2), nn.ReLU(), Dropout(0.25),
        nn.Conv2d(32, 64, 3), nn.MaxPool2d(2), nn.ReLU(), Dropout(0.25),
        nn.Flatten(), nn.Linear(64 * side * side, 256), nn.ReLU(),
    )  # fmt: skip
    return Classifier(backbone, nn.Sequential(Dropout(0.5), nn.Linear(256, num_classes)), 256)


STUDENTS: dict[str, Callable[[int, int], Classifier]] = {
    "mobilenet_v2": _mobilenet_v2,
    "mobilenet_v2_32": lambda k, s: _mobilenet_v2(k, s, stem_stride=1),
    "small_cnn": _small_cnn,
}

IMAGENET_WEIGHTS = {
    "resnet50": torchvision.models.ResNet50_Weights.IMAGENET1K_V2,
    "vgg16": torchvision.models.VGG16_Weights.IMAGENET1K_V1,
    "vgg16_bn": torchvision.models.VGG16_BN_Weights.IMAGENET1K_V1,  # learns from scratch, where vgg16 stalls
}


def _imagenet_state(arch: str) -> dict:
    """ImageNet weights through torchvision's enum and the torch hub cache (`$TORCH_HOME/hub/checkpoints`),
    loaded with `weights_only=True` (torchvision's own default would unpickle anything)."""
    enum = IMAGENET_WEIGHTS[arch]
    try:
        return enum.get_state_dict(progress=True, check_hash=False, weights_only=True)
    except (urllib.error.URLError, OSError) as exc:
        cache = Path(torch.hub.get_dir()) / "checkpoints" / Path(enum.url).name
        raise PawprintError(
            f"teacher.weights = imagenet: {arch} weights are not in {cache} and could not be downloaded "
            f"({exc}); copy the file there, or set teacher.weights: none"
        ) from exc


def _torchvision_teacher(arch: str, weights: str) -> nn.Module:
    net = getattr(torchvision.models, arch)(weights=None)
    if weights == "none":
        return net
    if weights == "imagenet":
        state, source = _imagenet_state(arch), f"ImageNet {arch} weights"
    else:
        path = Path(weights)
        if not path.is_file():
            raise PawprintError(
                f"teacher.weights = {weights!r}: no such file; give a state dict path, imagenet or none"
            )
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # unsafe pickles and foreign formats alike
            raise PawprintError(
                f"teacher.weights = {weights!r}: refused to load ({str(exc).splitlines()[0][:100]})"
            ) from exc
        source = f"teacher.weights = {weights!r}"
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise PawprintError(f"{source}: not a torchvision {arch} state dict ({str(exc).splitlines()[0]})") from exc
    return net


def build_teacher(arch: str, num_classes: int, image_size: int, weights: str = "none") -> Classifier:
    net = _torchvision_teacher(arch, weights)
    if arch == "resnet50":
        feature_dim = net.fc.in_features
        net.fc = nn.Identity()
        return Classifier(net, nn.Linear(feature_dim, num_classes), feature_dim)
    # VGG16 with the study's head: Flatten -> Dense(256, ReLU) -> Dense(classes) on the conv features.
    side = max(1, image_size // 32)
    backbone = nn.Sequential(net.features, nn.Flatten())
    head = nn.Sequential(nn.Linear(512 * side * side, 256), nn.ReLU(), nn.Linear(256, num_classes))
    return Classifier(backbone, head, 512 * side * side)


def build(arch: str, num_classes: int, image_size: int, weights: str = "none") -> Classifier:
    if arch in STUDENTS:
        return STUDENTS[arch](num_classes, image_size)
    if arch in IMAGENET_WEIGHTS:
        return build_teacher(arch, num_classes, image_size, weights)
    raise PawprintError(f"unknown architecture {arch!r}; known: {', '.join([*STUDENTS, *IMAGENET_WEIGHTS])}")


def save(model: Classifier, path: Path, *, arch: str, classes: list[str], image_size: int, cache_size: int) -> None:
    """A checkpoint of plain tensors and strings, loadable with `weights_only=True` and no training code.

    `cache_size` is the size images were decoded to before the model's resize: what `pawprint predict` needs
    to preprocess a new photo as the test split was.
    """
    payload = {
        "arch": arch,
        "classes": list(classes),
        "image_size": image_size,
        "cache_size": cache_size,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load(path: Path) -> tuple[Classifier, dict]:
    """Load a pawprint checkpoint; refuses pickles that would run code (weights_only=True)."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise PawprintError(f"{path}: no such checkpoint; run the stage that writes it (dvc repro)") from exc
    except Exception as exc:  # torch raises UnpicklingError and others for unsafe or foreign files
        raise PawprintError(
            f"{path}: refused to load ({str(exc).splitlines()[0][:120]}); not a pawprint checkpoint"
        ) from exc
    model = build(payload["arch"], len(payload["classes"]), payload["image_size"])
    model.load_state_dict(payload["state_dict"])
    return model.eval(), payload

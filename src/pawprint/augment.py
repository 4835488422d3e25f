"""Augmentation on whole batches of tensors, on whatever device the batch is on.

Per-image PIL transforms (lightly's `SimCLRTransform`, torchvision's) cost a core per ~700 images and
serialise with training; here every random parameter is drawn per sample, as those transforms do, but each
operation runs once per batch. The sampling rules copy torchvision's `RandomResizedCrop` and `ColorJitter`
and lightly's SimCLR defaults; the only deliberate difference is that the order of the four colour
operations is drawn once per batch rather than once per image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from pawprint.config import AugmentConfig

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
GRAY_WEIGHTS = (0.2989, 0.587, 0.114)


def to_float(batch: torch.Tensor) -> torch.Tensor:
    return batch.float().div_(255.0) if batch.dtype == torch.uint8 else batch.float()


def normalize(x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(IMAGENET_MEAN, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - mean) / std


def resize(batch: torch.Tensor, size: int) -> torch.Tensor:
    """The evaluation view: the whole cached square at the model's resolution, in [0, 1]."""
    x = to_float(batch)
    if x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False).clamp_(0, 1)


def model_input(batch: torch.Tensor, size: int) -> torch.Tensor:
    """The evaluation view as every model takes it: normalised, channels-last (the layout `device.py` chose)."""
    return normalize(resize(batch, size)).contiguous(memory_format=torch.channels_last)


def crop_boxes(n: int, height: int, width: int, scale: tuple[float, float], ratio=(3 / 4, 4 / 3), device=None):
    """torchvision's RandomResizedCrop.get_params for `n` images at once: 10 tries, then the centre crop."""
    area = height * width
    tries = 10
    target = area * torch.empty(n, tries, device=device).uniform_(*scale)
    log_r = torch.empty(n, tries, device=device).uniform_(math.log(ratio[0]), math.log(ratio[1]))
    aspect = torch.exp(log_r)
    w = torch.round(torch.sqrt(target * aspect))
    h = torch.round(torch.sqrt(target / aspect))
    ok = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = torch.argmax(ok.int(), dim=1)
    found = ok.any(dim=1)
    rows = torch.arange(n, device=device)
    w, h = w[rows, first], h[rows, first]
    # Fallback as torchvision: the largest centred crop whose ratio lies inside `ratio`.
    in_ratio = width / height
    if in_ratio < ratio[0]:
        fw, fh = float(width), round(width / ratio[0])
    elif in_ratio > ratio[1]:
        fw, fh = round(height * ratio[1]), float(height)
    else:
        fw, fh = float(width), float(height)
    w = torch.where(found, w, torch.full_like(w, fw))
    h = torch.where(found, h, torch.full_like(h, fh))
    top = torch.floor(torch.rand(n, device=device) * (height - h + 1))
    left = torch.floor(torch.rand(n, device=device) * (width - w + 1))
    top = torch.where(found, top, torch.full_like(top, (height - fh) // 2))
    left = torch.where(found, left, torch.full_like(left, (width - fw) // 2))
    return top, left, h, w


def resized_crop(
    x: torch.Tensor, size: int, scale: tuple[float, float], hflip_p: float, translate: float = 0.0
) -> torch.Tensor:
    """Random resized crop, then a random shift, plus horizontal flip, as one affine resampling of the batch.

    The shift (at most `translate` of the side each way, as torchvision's RandomAffine) moves the crop box by
    whole source pixels, so an unscaled crop copies pixels exactly, and what it uncovers is black: with
    `scale` (1, 1) this is CIFAR's classic pad-and-crop.
    """
    n, _, height, width = x.shape
    if scale == (1.0, 1.0) and translate == 0 and height == width == size:  # the image as it is: flips only
        flip = torch.rand(n, device=x.device) < hflip_p
        return torch.where(flip.view(n, 1, 1, 1), x.flip(3), x)
    top, left, h, w = crop_boxes(n, height, width, scale, device=x.device)
    if translate > 0:
        dy, dx = round(translate * height), round(translate * width)
        top = top + torch.randint(-dy, dy + 1, (n,), device=x.device)
        left = left + torch.randint(-dx, dx + 1, (n,), device=x.device)
    flip = torch.where(torch.rand(n, device=x.device) < hflip_p, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = w / width * flip
    theta[:, 0, 2] = (2 * left + w) / width - 1
    theta[:, 1, 1] = h / height
    theta[:, 1, 2] = (2 * top + h) / height - 1
    grid = F.affine_grid(theta, [n, 3, size, size], align_corners=False)
    padding = "zeros" if translate > 0 else "border"
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding, align_corners=False)


def grayscale(x: torch.Tensor) -> torch.Tensor:
    w = torch.tensor(GRAY_WEIGHTS, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * w).sum(dim=1, keepdim=True)


def _rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    r, g, b = x.unbind(1)
    maxc, minc = x.amax(1), x.amin(1)
    same = maxc == minc
    chroma = maxc - minc
    ones = torch.ones_like(maxc)
    s = chroma / torch.where(same, ones, maxc)
    div = torch.where(same, ones, chroma)
    rc, gc, bc = (maxc - r) / div, (maxc - g) / div, (maxc - b) / div
    hr = (maxc == r) * (bc - gc)
    hg = ((maxc == g) & (maxc != r)) * (2.0 + rc - bc)
    hb = ((maxc != g) & (maxc != r)) * (4.0 + gc - rc)
    h = torch.fmod((hr + hg + hb) / 6.0 + 1.0, 1.0)
    return torch.stack((h, s, maxc), 1)


def _hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    h, s, v = x.unbind(1)
    i = torch.floor(h * 6.0)
    f = h * 6.0 - i
    i = i.to(torch.int64) % 6
    p = (v * (1 - s)).clamp(0, 1)
    q = (v * (1 - s * f)).clamp(0, 1)
    t = (v * (1 - s * (1 - f))).clamp(0, 1)
    sector = (i.unsqueeze(1) == torch.arange(6, device=x.device).view(1, 6, 1, 1)).to(x.dtype)
    table = torch.stack(
        (torch.stack((v, q, p, p, t, v), 1), torch.stack((t, v, v, q, p, p), 1), torch.stack((p, p, t, v, v, q), 1)), 1
    )
    return (sector.unsqueeze(1) * table).sum(2)


def _factors(n: int, spread: float, device, centre: float = 1.0) -> torch.Tensor:
    low = max(0.0, centre - spread) if centre else -spread
    return torch.empty(n, 1, 1, 1, device=device).uniform_(low, centre + spread)


def color_jitter(x: torch.Tensor, brightness: float, contrast: float, saturation: float, hue: float) -> torch.Tensor:
    """torchvision ColorJitter with a factor per image (the order of the four operations: one per batch)."""
    n = x.shape[0]
    for op in torch.randperm(4).tolist():
        if op == 0 and brightness > 0:
            x = (x * _factors(n, brightness, x.device)).clamp(0, 1)
        elif op == 1 and contrast > 0:
            mean = grayscale(x).mean(dim=(1, 2, 3), keepdim=True)
            f = _factors(n, contrast, x.device)
            x = (f * x + (1 - f) * mean).clamp(0, 1)
        elif op == 2 and saturation > 0:
            f = _factors(n, saturation, x.device)
            x = (f * x + (1 - f) * grayscale(x)).clamp(0, 1)
        elif op == 3 and hue > 0:
            hsv = _rgb_to_hsv(x)
            shift = _factors(n, hue, x.device, centre=0.0).view(n, 1, 1)
            hsv = torch.stack((torch.remainder(hsv[:, 0] + shift, 1.0), hsv[:, 1], hsv[:, 2]), 1)
            x = _hsv_to_rgb(hsv)
    return x


def gaussian_blur(x: torch.Tensor, sigmas: tuple[float, float]) -> torch.Tensor:
    """Separable Gaussian blur with a sigma drawn per image, as lightly's GaussianBlur (PIL radius = sigma)."""
    n, c, height, width = x.shape
    sigma = torch.empty(n, device=x.device).uniform_(*sigmas)
    radius = min(int(math.ceil(3 * sigmas[1])), (min(height, width) - 1) // 2)
    offsets = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-(offsets.view(1, -1) ** 2) / (2 * sigma.view(-1, 1) ** 2))
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(c, 0)
    flat = x.reshape(1, n * c, height, width)
    flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode="reflect"), kernel.view(n * c, 1, 1, -1), groups=n * c)
    flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode="reflect"), kernel.view(n * c, 1, -1, 1), groups=n * c)
    return flat.view(n, c, height, width)


def _apply(x: torch.Tensor, p: float, fn) -> torch.Tensor:
    if p <= 0:
        return x
    chosen = torch.rand(x.shape[0], device=x.device) < p
    if chosen.any():
        x = x.clone()
        x[chosen] = fn(x[chosen])
    return x


@dataclass(frozen=True)
class SupervisedAugment:
    """The labeled-data view: random resized crop, optional shift and flip, normalised."""

    size: int
    min_scale: float = 0.5
    hflip: bool = False
    translate: float = 0.0

    @classmethod
    def of(cls, cfg: AugmentConfig, size: int) -> SupervisedAugment:
        return cls(size, cfg.min_scale, cfg.hflip, cfg.translate)

    def view(self, batch: torch.Tensor) -> torch.Tensor:
        """The augmented images in [0, 1], before normalisation (what a view cache stores)."""
        flip = 0.5 if self.hflip else 0.0
        return resized_crop(to_float(batch), self.size, (self.min_scale, 1.0), flip, self.translate)

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        return normalize(self.view(batch))


@dataclass(frozen=True)
class SimCLRAugment:
    """One SimCLR view per call, with the arguments and defaults of lightly's `SimCLRTransform`."""

    size: int
    cj_prob: float = 0.8
    cj_strength: float = 1.0
    cj_bright: float = 0.8
    cj_contrast: float = 0.8
    cj_sat: float = 0.8
    cj_hue: float = 0.2
    min_scale: float = 0.08
    random_gray_scale: float = 0.2
    gaussian_blur: float = 0.5
    sigmas: tuple[float, float] = (0.1, 2.0)
    hf_prob: float = 0.5

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        x = resized_crop(to_float(batch), self.size, (self.min_scale, 1.0), self.hf_prob)
        s = self.cj_strength
        x = _apply(
            x,
            self.cj_prob,
            lambda v: color_jitter(v, s * self.cj_bright, s * self.cj_contrast, s * self.cj_sat, s * self.cj_hue),
        )
        x = _apply(x, self.random_gray_scale, lambda v: grayscale(v).expand(-1, 3, -1, -1))
        x = _apply(x, self.gaussian_blur, lambda v: gaussian_blur(v, self.sigmas))
        return normalize(x)

"""`augment.SimCLRAugment` (whole batches of tensors) against lightly's `SimCLRTransform` (one PIL image at a
time) with the same arguments: the same parameter ranges and statistically the same views.

Both make 1,200 views of the same 40 photo-like images; the distributions compared are those SimCLR
depends on: per-channel pixel mean and spread, per-view brightness and saturation (colour jitter and
grayscale), the share of grayscale views, and local pixel differences (crop scale and blur)."""

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.stats import ks_2samp

from pawprint import augment

SIZE, SOURCE, VIEWS_PER_IMAGE = 32, 40, 30
SETTINGS = [
    dict(cj_prob=0.8, cj_strength=1.0, min_scale=0.08, random_gray_scale=0.2, gaussian_blur=0.5, hf_prob=0.5),
    dict(cj_prob=0.8, cj_strength=0.5, min_scale=0.3, random_gray_scale=0.2, gaussian_blur=0.0, hf_prob=0.0),
]


def photos() -> np.ndarray:
    """Smooth coloured images with edges: low-frequency colour fields plus a few hard-edged shapes."""
    rng = np.random.default_rng(0)
    low = torch.from_numpy(rng.random((SOURCE, 3, 6, 6), dtype=np.float32))
    images = torch.nn.functional.interpolate(low, size=(40, 40), mode="bicubic", align_corners=False)
    images = images.clamp(0, 1).numpy()
    for img in images:
        for _ in range(3):
            y, x, h, w = rng.integers(0, 30, 4)
            img[:, y : y + h // 2 + 4, x : x + w // 2 + 4] = rng.random((3, 1, 1))
    return (images * 255).round().astype(np.uint8)


def statistics(views: torch.Tensor) -> dict[str, np.ndarray]:
    """Per-view summaries of un-normalised views (N, 3, S, S) in [0, 1]."""
    mean = torch.tensor(augment.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(augment.IMAGENET_STD).view(1, 3, 1, 1)
    x = (views * std + mean).clamp(0, 1)
    saturation = x.amax(1) - x.amin(1)
    return {
        "brightness": x.mean((1, 2, 3)).numpy(),
        "saturation": saturation.mean((1, 2)).numpy(),
        "gray": (saturation.amax((1, 2)) < 1e-3).float().numpy(),
        "edges": (x[..., 1:] - x[..., :-1]).abs().mean((1, 2, 3)).numpy(),
        "channel_mean": x.mean((2, 3)).numpy(),
    }


@pytest.mark.parametrize("settings", SETTINGS, ids=["lightly-defaults", "project-digits"])
def test_batched_views_match_lightly_simclr_transform(settings):
    from lightly.transforms import SimCLRTransform

    images = photos()
    torch.manual_seed(0)
    theirs_transform = SimCLRTransform(input_size=SIZE, **settings)
    pil = [Image.fromarray(img.transpose(1, 2, 0)) for img in images]
    theirs = torch.stack([theirs_transform(p)[0] for _ in range(VIEWS_PER_IMAGE) for p in pil])
    ours_transform = augment.SimCLRAugment(SIZE, **settings)
    batch = torch.from_numpy(images)
    ours = torch.cat([ours_transform(batch) for _ in range(VIEWS_PER_IMAGE)])
    assert ours.shape == theirs.shape

    a, b = statistics(ours), statistics(theirs)
    for key in ("brightness", "saturation", "edges"):
        result = ks_2samp(a[key], b[key])
        # 1,200 views each: p > 0.001 allows no visible difference in the distribution (a 10% shift fails)
        assert result.pvalue > 0.001, (key, result, a[key].mean(), b[key].mean())
    assert abs(a["gray"].mean() - b["gray"].mean()) < 0.04
    assert np.abs(a["channel_mean"].mean(0) - b["channel_mean"].mean(0)).max() < 0.02
    assert np.abs(a["channel_mean"].std(0) - b["channel_mean"].std(0)).max() < 0.02


def test_a_real_difference_is_detected():
    """The comparison above can fail: a weaker colour jitter is told apart."""
    images = torch.from_numpy(photos())
    torch.manual_seed(0)
    strong = augment.SimCLRAugment(SIZE, cj_strength=1.0, gaussian_blur=0.0)
    weak = augment.SimCLRAugment(SIZE, cj_strength=0.5, gaussian_blur=0.0)
    a = statistics(torch.cat([strong(images) for _ in range(VIEWS_PER_IMAGE)]))
    b = statistics(torch.cat([weak(images) for _ in range(VIEWS_PER_IMAGE)]))
    assert ks_2samp(a["saturation"], b["saturation"]).pvalue < 0.001

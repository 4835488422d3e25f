"""Decoding one image file into the square RGB array the cache stores, or saying why it cannot be used."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

# Real photo collections hold huge images; PIL's bomb check would otherwise raise on the largest ones.
Image.MAX_IMAGE_PIXELS = 300_000_000

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


class UnusableImage(Exception):
    """A file that cannot become a training image; the message is the reason written to skipped.csv."""


def load_rgb(path: str | Path, size: int | None = None) -> Image.Image:
    """Decode fully (not just the header), so truncated files are caught here and never during training.

    With `size`, a JPEG is decoded at the smallest DCT scale that still leaves twice `size` pixels on the
    shorter side (`Image.draft`): several times faster on large photos, and the whole stream is still read.
    """
    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise UnusableImage("not an image file name")
    if path.stat().st_size == 0:
        raise UnusableImage("empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if size and img.format == "JPEG":
                    img.draft("RGB", (2 * size, 2 * size))
                img.load()
                return img.convert("RGB")
    except UnidentifiedImageError as exc:
        raise UnusableImage("not a decodable image") from exc
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise UnusableImage(f"too large ({str(exc).split('(')[0].strip()[:60]})") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise UnusableImage(f"corrupt image ({str(exc).splitlines()[0][:80]})") from exc


def square(img: Image.Image, size: int) -> np.ndarray:
    """Shorter side to `size`, centre crop to a square: (3, size, size) uint8, channels first like torch."""
    w, h = img.size
    scale = size / min(w, h)
    img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.Resampling.BICUBIC)
    w, h = img.size
    left, top = (w - size) // 2, (h - size) // 2
    img = img.crop((left, top, left + size, top + size))
    return np.asarray(img, dtype=np.uint8).transpose(2, 0, 1).copy()

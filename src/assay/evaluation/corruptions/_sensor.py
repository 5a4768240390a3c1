"""Sensor and transmission effects, each with a tunable parameter and a severity default."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from PIL import Image

from assay.evaluation.corruptions._digital import encode_jpeg, from_pil, to_pil
from assay.evaluation.corruptions._image import ByteImage

JPEG_QUALITY = (80, 60, 40, 20, 10)
DOWNSCALE_FACTOR = (1 / 1.5, 1 / 2, 1 / 3, 1 / 4, 1 / 6)
DROPOUT_RATE = (0.005, 0.01, 0.02, 0.05, 0.1)
OCCLUSION = ((1, 0.1), (1, 0.2), (2, 0.2), (3, 0.25), (4, 0.3))
"""(patch count, patch side as a fraction of the image side) per severity."""


def jpeg(
    image: ByteImage, severity: int, rng: np.random.Generator, params: Mapping[str, float]
) -> ByteImage:
    """JPEG round trip at `quality` (default 80, 60, 40, 20, 10 by severity)."""
    return encode_jpeg(image, int(params.get("quality", JPEG_QUALITY[severity - 1])))


def downscale(
    image: ByteImage, severity: int, rng: np.random.Generator, params: Mapping[str, float]
) -> ByteImage:
    """Area-average down to `factor` of the size, bilinear back up (a lower-resolution sensor).

    `factor` defaults to 1/1.5, 1/2, 1/3, 1/4, 1/6 by severity.
    """
    height, width = image.shape[:2]
    factor = float(params.get("factor", DOWNSCALE_FACTOR[severity - 1]))
    small = to_pil(image).resize(
        (max(1, round(width * factor)), max(1, round(height * factor))), Image.Resampling.BOX
    )
    return from_pil(small.resize((width, height), Image.Resampling.BILINEAR))


def pixel_dropout(
    image: ByteImage, severity: int, rng: np.random.Generator, params: Mapping[str, float]
) -> ByteImage:
    """Dead pixels: each pixel (all its channels) becomes `value` with probability `rate`.

    `rate` defaults to 0.005, 0.01, 0.02, 0.05, 0.1 by severity; `value` to 0.
    """
    rate = float(params.get("rate", DROPOUT_RATE[severity - 1]))
    value = int(params.get("value", 0))
    dead = rng.random(image.shape[:2]) < rate
    out = image.copy()
    out[dead] = value
    return out


def occlusion(
    image: ByteImage, severity: int, rng: np.random.Generator, params: Mapping[str, float]
) -> ByteImage:
    """Cover `count` axis-aligned patches of `size` x the image sides with `value`.

    Patches lie fully inside the image and may overlap. Defaults by severity: 1 patch of 0.1,
    1 of 0.2, 2 of 0.2, 3 of 0.25, 4 of 0.3; `value` 0 (black).
    """
    default_count, default_size = OCCLUSION[severity - 1]
    count = int(params.get("count", default_count))
    size = float(params.get("size", default_size))
    value = int(params.get("value", 0))
    height, width = image.shape[:2]
    patch_h = max(1, round(size * height))
    patch_w = max(1, round(size * width))
    tops = rng.integers(0, height - patch_h + 1, size=count)
    lefts = rng.integers(0, width - patch_w + 1, size=count)
    out = image.copy()
    for top, left in zip(tops, lefts, strict=True):
        out[top : top + patch_h, left : left + patch_w] = value
    return out

"""Blur corruptions: defocus, glass, motion and zoom."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from assay.evaluation.corruptions import _filters
from assay.evaluation.corruptions._image import FloatImage

DEFOCUS = ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5))
"""(disk radius, anti-alias sigma) per severity."""
GLASS = ((0.7, 1, 2), (0.9, 2, 1), (1.0, 2, 3), (1.1, 3, 2), (1.5, 4, 2))
"""(blur sigma, max pixel displacement, shuffle iterations) per severity."""
MOTION = ((10, 3.0), (15, 5.0), (15, 8.0), (15, 12.0), (20, 15.0))
"""(radius, sigma) of the half-Gaussian streak per severity."""
ZOOM = (
    np.arange(1, 1.11, 0.01),
    np.arange(1, 1.16, 0.01),
    np.arange(1, 1.21, 0.02),
    np.arange(1, 1.26, 0.02),
    np.arange(1, 1.31, 0.03),
)
"""Zoom factors averaged per severity (the same `np.arange` calls as ImageNet-C)."""


def defocus_blur(
    image: FloatImage, severity: int, rng: np.random.Generator, params: Mapping[str, float]
) -> FloatImage:
    """Convolve with an anti-aliased disk of radius 3 .. 10 pixels."""
    radius, alias_blur = DEFOCUS[severity - 1]
    return _filters.convolve_reflect(image, _filters.disk_kernel(radius, alias_blur))


def local_shuffle(
    image: np.ndarray, max_delta: int, iterations: int, rng: np.random.Generator
) -> None:
    """Swap pixels with random neighbours up to `max_delta` away, in place.

    ImageNet-C walks the image in reverse raster order and swaps pixel (h, w) with
    (h + dy, w + dx), dx, dy uniform in [-max_delta, max_delta). That loop costs ~9 s per
    640x480 image. Here the same swaps run in (2 * max_delta)^2 vectorised batches: pixels
    whose row and column agree modulo 2 * max_delta touch disjoint neighbourhoods, so each
    batch is an exact set of simultaneous swaps. Batches go in reverse raster order of their
    offset, so a pixel can still be carried several steps, as in the original. The result is a
    permutation of the input pixels.
    """
    height, width = image.shape[:2]
    delta = max_delta
    rows = np.arange(delta + 1, height - delta + 1)
    cols = np.arange(delta + 1, width - delta + 1)
    if rows.size == 0 or cols.size == 0:
        return
    flat = image.reshape(height * width, -1)
    stride = 2 * delta
    for _ in range(iterations):
        for row_phase in range(stride - 1, -1, -1):
            batch_rows = rows[(rows % stride) == row_phase]
            for col_phase in range(stride - 1, -1, -1):
                batch_cols = cols[(cols % stride) == col_phase]
                if batch_rows.size == 0 or batch_cols.size == 0:
                    continue
                src = (batch_rows[:, None] * width + batch_cols[None, :]).ravel()
                dy, dx = rng.integers(-delta, delta, size=(2, src.size))
                dst = src + dy * width + dx
                moved = flat[dst].copy()
                flat[dst] = flat[src]
                flat[src] = moved


def glass_blur(
    image: FloatImage, severity: int, rng: np.random.Generator, params: Mapping[str, float]
) -> FloatImage:
    """Blur, shuffle pixels locally (frosted glass), blur again."""
    sigma, max_delta, iterations = GLASS[severity - 1]
    blurred = _filters.gaussian_blur(image, sigma)
    quantised = (blurred * 255).astype(np.uint8)
    local_shuffle(quantised, max_delta, iterations, rng)
    return _filters.gaussian_blur(quantised / 255.0, sigma)


def motion_blur(
    image: FloatImage, severity: int, rng: np.random.Generator, params: Mapping[str, float]
) -> FloatImage:
    """Streak the image along a random direction in [-45, 45] degrees."""
    radius, sigma = MOTION[severity - 1]
    angle = float(rng.uniform(-45, 45))
    # single precision halves the memory traffic of the 21..41 shifted copies
    blurred = _filters.motion_blur(image.astype(np.float32), radius, sigma, angle)
    return blurred.astype(np.float64)


def zoom_blur(
    image: FloatImage, severity: int, rng: np.random.Generator, params: Mapping[str, float]
) -> FloatImage:
    """Average the image with centre zooms of up to 1.11 .. 1.30x (moving towards the camera)."""
    factors = ZOOM[severity - 1]
    single = image.astype(np.float32)  # as ImageNet-C; halves the memory traffic
    out = single.copy()
    for factor in factors:
        out += _filters.clipped_zoom(single, float(factor))
    return np.asarray(out, dtype=np.float64) / (len(factors) + 1)

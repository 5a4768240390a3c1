"""A procedural frost texture, standing in for the photographs ImageNet-C ships.

ImageNet-C's frost blends the image with a random crop of one of five photographs of ice on a
window. assay downloads and bundles nothing, so it grows a texture instead: clusters of thin
ice needles radiating from random nuclei (fern frost), over a cloudy plasma-fractal film, plus
a fine grain. The texture is then coloured to the mean and spread of the five photographs
(measured once from the originals: per-channel RGB mean ~(146, 167, 179), standard deviation
~30), so the blended image has the same average brightness, tint and contrast loss as the
original corruption. Crystal size grows with the image as the cropped photographs do (they are
only ever enlarged, to at least 1.1x the image).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from assay.evaluation.corruptions import _filters

FROST_MEAN = np.array([146.0, 164.0, 174.0])
FROST_STD = np.array([30.0, 28.0, 28.0])
_PHOTO_HEIGHT, _PHOTO_WIDTH = 350.0, 530.0  # typical size of the original photographs


def _needles(
    rng: np.random.Generator, height: int, width: int, scale: float
) -> npt.NDArray[np.float64]:
    """Rasterise clusters of straight needles into an (H, W) coverage map in [0, 1)."""
    nuclei = max(1, math.ceil(height * width / (250.0 * scale * scale)))
    per_nucleus = rng.integers(4, 11, size=nuclei)
    count = int(per_nucleus.sum())
    cy = np.repeat(rng.uniform(0, height, nuclei), per_nucleus)
    cx = np.repeat(rng.uniform(0, width, nuclei), per_nucleus)
    # needles of one nucleus fan out around a common direction, like fern-frost blades
    angle = np.repeat(rng.uniform(0, 2 * np.pi, nuclei), per_nucleus)
    angle += rng.normal(0.0, 0.6, count)
    length = rng.uniform(6.0, 40.0, count) * scale
    brightness = rng.uniform(0.4, 1.0, count)
    samples = np.ceil(length).astype(int) + 1
    owner = np.repeat(np.arange(count), samples)
    offsets = np.arange(owner.size) - np.repeat(np.cumsum(samples) - samples, samples)
    along = offsets.astype(np.float64)
    ys = np.round(cy[owner] + along * np.sin(angle[owner])).astype(int)
    xs = np.round(cx[owner] + along * np.cos(angle[owner])).astype(int)
    fade = brightness[owner] * (1.0 - 0.7 * along / np.maximum(length[owner], 1.0))
    inside = (ys >= 0) & (ys < height) & (xs >= 0) & (xs < width)
    canvas = np.bincount(
        ys[inside] * width + xs[inside], weights=fade[inside], minlength=height * width
    ).reshape(height, width)
    return np.asarray(1.0 - np.exp(-0.8 * canvas), dtype=np.float64)


def frost_texture(rng: np.random.Generator, height: int, width: int) -> npt.NDArray[np.float64]:
    """An (H, W, 3) RGB frost texture with values in [0, 255], deterministic given `rng`."""
    scale = max(1.0, height / _PHOTO_HEIGHT, width / _PHOTO_WIDTH)
    size = _filters.next_power_of_two(max(height, width))
    film = _filters.plasma_fractal(rng, size, 2.0)[:height, :width]
    needles = _needles(rng, height, width, scale)
    needles = needles[:, :, None]
    sharp = _filters.gaussian_blur(needles, 0.7 * scale)[:, :, 0]
    soft = _filters.gaussian_blur(needles, 2.5 * scale)[:, :, 0]
    grain = rng.normal(0.0, 0.04, size=(height, width))
    texture = 0.6 * film + 1.0 * sharp + 1.5 * soft + grain
    spread = texture.std()
    texture = (texture - texture.mean()) / (spread if spread > 0 else 1.0)
    rgb = FROST_MEAN + FROST_STD * texture[:, :, None]
    return np.asarray(np.clip(rgb, 0, 255), dtype=np.float64)

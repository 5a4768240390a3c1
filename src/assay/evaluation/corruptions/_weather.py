"""Weather corruptions: snow, frost, fog and brightness."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from assay.evaluation.corruptions import _filters
from assay.evaluation.corruptions._frost import frost_texture
from assay.evaluation.corruptions._image import FloatImage, gray

SNOW = (
    (0.1, 0.3, 3.0, 0.5, 10, 4.0, 0.8),
    (0.2, 0.3, 2.0, 0.5, 12, 4.0, 0.7),
    (0.55, 0.3, 4.0, 0.9, 12, 8.0, 0.7),
    (0.55, 0.3, 4.5, 0.85, 12, 8.0, 0.65),
    (0.55, 0.3, 2.5, 0.85, 12, 12.0, 0.55),
)
"""(flake mean, flake std, flake zoom, flake threshold, streak radius, streak sigma,
image weight) per severity."""
FROST = ((1.0, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75))
"""(image weight, frost weight) per severity."""
FOG = ((1.5, 2.0), (2.0, 2.0), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4))
"""(fog strength, fractal roughness decay) per severity."""
BRIGHTNESS = (0.1, 0.2, 0.3, 0.4, 0.5)
"""Amount added to the HSV value channel per severity."""


def snow(
    image: FloatImage, severity: int, rng: np.random.Generator, params: Mapping[str, float]
) -> FloatImage:
    """Falling snow: thresholded, zoomed noise streaked by motion blur, over a whitened image."""
    mean, std, zoom, threshold, radius, sigma, weight = SNOW[severity - 1]
    height, width = image.shape[:2]
    noise = rng.normal(loc=mean, scale=std, size=(height, width))
    zoomed = _filters.clipped_zoom(noise, zoom)
    zoomed[zoomed < threshold] = 0
    angle = float(rng.uniform(-135, -45))
    streaks = _filters.motion_blur(np.clip(zoomed, 0, 1), radius, sigma, angle)
    flakes = np.round(streaks * 255).astype(np.uint8)[:, :, None] / 255.0
    whitened = np.maximum(image, gray(image)[:, :, None] * 1.5 + 0.5)
    out = weight * image + (1 - weight) * whitened
    return np.asarray(out + flakes + np.rot90(flakes, k=2), dtype=np.float64)


def frost(
    image: FloatImage, severity: int, rng: np.random.Generator, params: Mapping[str, float]
) -> FloatImage:
    """Blend the image with a procedurally grown ice-crystal texture (see `_frost`)."""
    image_weight, frost_weight = FROST[severity - 1]
    texture = frost_texture(rng, image.shape[0], image.shape[1]) / 255.0
    if image.shape[2] == 1:
        texture = gray(texture)[:, :, None]
    return image_weight * image + frost_weight * texture


def fog(
    image: FloatImage, severity: int, rng: np.random.Generator, params: Mapping[str, float]
) -> FloatImage:
    """Add a diamond-square plasma fractal and rescale so the brightest value keeps its level."""
    strength, decay = FOG[severity - 1]
    height, width = image.shape[:2]
    size = _filters.next_power_of_two(max(height, width))
    haze = _filters.plasma_fractal(rng, size, decay)[:height, :width, None]
    peak = float(image.max())
    return (image + strength * haze) * peak / (peak + strength)


def brightness(
    image: FloatImage, severity: int, rng: np.random.Generator, params: Mapping[str, float]
) -> FloatImage:
    """Raise the HSV value channel by 0.1 .. 0.5, keeping hue and saturation.

    For an RGB pixel, hue and saturation fixed, every channel scales with the value (the
    maximum channel), so the HSV round trip of ImageNet-C reduces to one multiplication.
    """
    value = image.max(axis=2, keepdims=True)
    raised = np.minimum(value + BRIGHTNESS[severity - 1], 1.0)
    safe = np.where(value > 0, value, 1.0)
    return np.asarray(np.where(value > 0, image * (raised / safe), raised), dtype=np.float64)

"""Noise corruptions: gaussian, shot (Poisson) and impulse (salt and pepper)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from assay.evaluation.corruptions._image import FloatImage

GAUSSIAN_STD = (0.08, 0.12, 0.18, 0.26, 0.38)
SHOT_PHOTONS = (60, 25, 12, 5, 3)
IMPULSE_AMOUNT = (0.03, 0.06, 0.09, 0.17, 0.27)


def gaussian_noise(
    image: FloatImage, severity: int, rng: np.random.Generator, params: Mapping[str, float]
) -> FloatImage:
    """Add zero-mean Gaussian noise of std 0.08 .. 0.38 (on the [0, 1] scale) to every value."""
    return image + rng.normal(scale=GAUSSIAN_STD[severity - 1], size=image.shape)


def shot_noise(
    image: FloatImage, severity: int, rng: np.random.Generator, params: Mapping[str, float]
) -> FloatImage:
    """Photon noise: Poisson counts with 60 .. 3 photons at full intensity, rescaled."""
    photons = SHOT_PHOTONS[severity - 1]
    return np.asarray(rng.poisson(image * photons) / photons, dtype=np.float64)


def impulse_noise(
    image: FloatImage, severity: int, rng: np.random.Generator, params: Mapping[str, float]
) -> FloatImage:
    """Salt and pepper: each value independently becomes 0 or 1 with probability 0.03 .. 0.27.

    Like skimage's `random_noise(mode="s&p")` that ImageNet-C uses, values (not pixels) flip,
    so a flipped RGB pixel is usually coloured; salt and pepper are equally likely.
    """
    flipped = rng.random(image.shape) < IMPULSE_AMOUNT[severity - 1]
    salt = rng.random(image.shape) < 0.5
    out = image.copy()
    out[flipped & salt] = 1.0
    out[flipped & ~salt] = 0.0
    return out

"""Vectorised building blocks: Gaussian and disk blurs, motion blur, centre zoom, plasma fractal.

Each mirrors the helper of the same role in Hendrycks & Dietterich's ImageNet-C code (as
reimplemented for any image size by the `imagecorruptions` package), rewritten with numpy and
scipy so that no Python loop runs per pixel.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from assay.errors import require

Array = npt.NDArray[np.float64]
AnyFloat = npt.NDArray[np.floating[Any]]


def ndimage() -> Any:
    """scipy.ndimage, imported lazily (it belongs to the `eval` extra)."""
    return require("scipy.ndimage", "eval")


def gaussian_blur(image: Array, sigma: float, *, mode: str = "nearest") -> Array:
    """Blur each channel of an (H, W, C) image; skimage.filters.gaussian's defaults (truncate 4)."""
    out: Array = ndimage().gaussian_filter(image, sigma=(sigma, sigma, 0), mode=mode, truncate=4.0)
    return out


def _gaussian_taps(size: int, sigma: float) -> Array:
    """OpenCV's getGaussianKernel(size, sigma) for sigma > 0."""
    offsets = np.arange(size) - (size - 1) / 2
    taps = np.exp(-(offsets**2) / (2 * sigma**2))
    return np.asarray(taps / taps.sum(), dtype=np.float64)


def disk_kernel(radius: int, alias_blur: float) -> Array:
    """The anti-aliased disk of ImageNet-C's defocus blur, normalised to sum 1."""
    half = 8 if radius <= 8 else radius
    taps = 3 if radius <= 8 else 5
    grid = np.arange(-half, half + 1)
    xx, yy = np.meshgrid(grid, grid)
    disk = (xx**2 + yy**2 <= radius**2).astype(np.float64)
    disk /= disk.sum()
    weights = _gaussian_taps(taps, alias_blur)
    nd = ndimage()
    disk = nd.correlate1d(disk, weights, axis=0, mode="mirror")
    out: Array = nd.correlate1d(disk, weights, axis=1, mode="mirror")
    return out


def convolve_reflect(image: Array, kernel: Array) -> Array:
    """Convolve each channel with a symmetric odd kernel, borders mirrored (OpenCV REFLECT_101).

    Uses single-precision FFT convolution (as OpenCV's filter2D on float32 in ImageNet-C): a
    21x21 kernel on a 640x480 image costs ~0.1 s instead of ~1 s for a direct convolution.
    """
    signal: Any = require("scipy.signal", "eval")
    ry, rx = kernel.shape[0] // 2, kernel.shape[1] // 2
    padded = np.pad(image.astype(np.float32), ((ry, ry), (rx, rx), (0, 0)), mode="reflect")
    taps = kernel.astype(np.float32)[:, :, None]
    out = signal.fftconvolve(padded, taps, mode="valid", axes=(0, 1))
    return np.asarray(out, dtype=np.float64)


def motion_blur(image: AnyFloat, radius: int, sigma: float, angle_deg: float) -> AnyFloat:
    """One-sided Gaussian streak along `angle_deg`, edges replicated.

    Sums 2 * radius + 1 shifted copies of the image, each a slice of one edge-padded array,
    weighted by a half Gaussian (ImageNet-C's `_motion_blur`).
    """
    width = 2 * radius + 1
    taps = np.exp(-(np.arange(width) ** 2) / (2 * sigma**2))
    taps /= taps.sum()
    rad = math.radians(angle_deg)
    steps = np.arange(width)
    dys = -np.ceil(steps * math.sin(rad) - 0.5).astype(int)
    dxs = -np.ceil(steps * math.cos(rad) - 0.5).astype(int)
    pad = int(max(np.abs(dys).max(), np.abs(dxs).max()))
    height, wide = image.shape[:2]
    pad_width = [(pad, pad), (pad, pad)] + [(0, 0)] * (image.ndim - 2)
    padded = np.pad(image, pad_width, mode="edge")
    out = np.zeros_like(image)
    for tap, dy, dx in zip(taps.astype(image.dtype), dys, dxs, strict=True):
        out += tap * padded[pad - dy : pad - dy + height, pad - dx : pad - dx + wide]
    return out


def _crop(length: int, factor: float) -> tuple[int, int]:
    """(first index, size) of the centre 1/factor of an axis, as ImageNet-C's clipped_zoom."""
    size = math.ceil(length / factor)
    return (length - size) // 2, size


def _zoom_axis(image: AnyFloat, axis: int, length: int, factor: float, start: int) -> AnyFloat:
    """Stretch the centre crop of `axis` (beginning at `start` in `image`) back to `length`.

    Linear interpolation at the sample positions of scipy.ndimage.zoom(order=1) (corners
    aligned), so the result equals ImageNet-C's `clipped_zoom` along this axis. Keeps the dtype.
    """
    _, size = _crop(length, factor)
    zoomed = round(size * factor)
    step = (size - 1) / (zoomed - 1) if zoomed > 1 else 0.0
    pos = start + np.minimum(np.arange(length), zoomed - 1) * step
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, start + size - 1)
    shape = [-1 if i == axis else 1 for i in range(image.ndim)]
    frac = (pos - lo).astype(image.dtype).reshape(shape)
    low = np.take(image, lo, axis=axis)
    out: AnyFloat = low + (np.take(image, hi, axis=axis) - low) * frac
    return out


def clipped_zoom(image: AnyFloat, factor: float) -> AnyFloat:
    """Zoom into the centre of an (H, W, ...) array by `factor` >= 1, keeping shape and dtype."""
    height, width = image.shape[:2]
    left, size = _crop(width, factor)
    # the row pass only needs the columns that the column pass reads
    rows = _zoom_axis(image[:, left : left + size], 0, height, factor, _crop(height, factor)[0])
    return _zoom_axis(rows, 1, width, factor, 0)


def plasma_fractal(rng: np.random.Generator, mapsize: int, wibbledecay: float) -> Array:
    """Diamond-square height map in [0, 1], `mapsize` a power of two (ImageNet-C's fog)."""
    mapsize = max(mapsize, 4)
    grid = np.zeros((mapsize, mapsize), dtype=np.float64)
    stepsize = mapsize
    wibble = 100.0
    while stepsize >= 2:
        half = stepsize // 2
        corners = grid[0:mapsize:stepsize, 0:mapsize:stepsize]
        square = corners + np.roll(corners, shift=-1, axis=0)
        square += np.roll(square, shift=-1, axis=1)
        grid[half:mapsize:stepsize, half:mapsize:stepsize] = square / 4 + wibble * rng.uniform(
            -wibble, wibble, square.shape
        )
        centres = grid[half:mapsize:stepsize, half:mapsize:stepsize]
        corners = grid[0:mapsize:stepsize, 0:mapsize:stepsize]
        left = centres + np.roll(centres, 1, axis=0) + corners + np.roll(corners, -1, axis=1)
        grid[0:mapsize:stepsize, half:mapsize:stepsize] = left / 4 + wibble * rng.uniform(
            -wibble, wibble, left.shape
        )
        top = centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=0)
        grid[half:mapsize:stepsize, 0:mapsize:stepsize] = top / 4 + wibble * rng.uniform(
            -wibble, wibble, top.shape
        )
        stepsize //= 2
        wibble /= wibbledecay
    grid -= grid.min()
    peak = grid.max()
    return grid / peak if peak > 0 else grid


def next_power_of_two(value: int) -> int:
    """Smallest power of two >= value (1 for 0)."""
    return 1 if value <= 1 else 1 << (value - 1).bit_length()

"""Digital corruptions: contrast, elastic transform, pixelate and JPEG compression."""

from __future__ import annotations

import io
from collections.abc import Mapping

import numpy as np
from PIL import Image

from assay.evaluation.corruptions import _filters
from assay.evaluation.corruptions._image import ByteImage, FloatImage

CONTRAST = (0.4, 0.3, 0.2, 0.1, 0.05)
"""Factor the deviation from the per-channel mean is multiplied by, per severity."""
ELASTIC_ALPHA = (250 * 0.05, 250 * 0.065, 250 * 0.085, 250 * 0.1, 250 * 0.12)
"""Displacement gain per severity (imagecorruptions' size-independent variant)."""
PIXELATE = (0.6, 0.5, 0.4, 0.3, 0.25)
"""Fraction of the side length the image is box-downsampled to, per severity."""
JPEG_QUALITY = (25, 18, 15, 10, 7)
"""JPEG quality per severity."""


def contrast(
    image: FloatImage, severity: int, rng: np.random.Generator, params: Mapping[str, float]
) -> FloatImage:
    """Pull every value towards its channel's mean by a factor 0.4 .. 0.05."""
    means = np.mean(image, axis=(0, 1), keepdims=True)
    return np.asarray((image - means) * CONTRAST[severity - 1] + means, dtype=np.float64)


def elastic_transform(
    image: FloatImage, severity: int, rng: np.random.Generator, params: Mapping[str, float]
) -> FloatImage:
    """Warp the image by a smooth random displacement field (bilinear, mirrored borders).

    Follows imagecorruptions, which scales the field to the image size, rather than the fixed
    224-pixel affine-plus-elastic recipe of the original ImageNet-C code.
    """
    nd = _filters.ndimage()
    height, width, channels = image.shape
    sigma = (height * 0.01, width * 0.01)
    alpha = ELASTIC_ALPHA[severity - 1]
    max_delta = height * 0.005
    fields = []
    for _ in range(2):
        noise = rng.uniform(-max_delta, max_delta, size=(height, width))
        fields.append(nd.gaussian_filter(noise, sigma, mode="reflect", truncate=3.0) * alpha)
    dx, dy = fields
    yy, xx = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    coords = np.stack([yy + dy, xx + dx])
    out = np.empty_like(image)
    for channel in range(channels):
        out[:, :, channel] = nd.map_coordinates(
            image[:, :, channel], coords, order=1, mode="reflect"
        )
    return out


def to_pil(image: ByteImage) -> Image.Image:
    """An (H, W, 1) or (H, W, 3) uint8 array as a Pillow "L" or "RGB" image."""
    if image.shape[2] == 1:
        return Image.fromarray(np.ascontiguousarray(image[:, :, 0]), mode="L")
    return Image.fromarray(np.ascontiguousarray(image), mode="RGB")


def from_pil(picture: Image.Image) -> ByteImage:
    """Back from Pillow to (H, W, C)."""
    out = np.asarray(picture, dtype=np.uint8)
    return out[:, :, None] if out.ndim == 2 else out


def pixelate(
    image: ByteImage, severity: int, rng: np.random.Generator, params: Mapping[str, float]
) -> ByteImage:
    """Box-downsample to 0.6 .. 0.25 of the size, then blow back up with nearest neighbour."""
    height, width = image.shape[:2]
    factor = PIXELATE[severity - 1]
    small = to_pil(image).resize(
        (max(1, int(width * factor)), max(1, int(height * factor))), Image.Resampling.BOX
    )
    return from_pil(small.resize((width, height), Image.Resampling.NEAREST))


def encode_jpeg(image: ByteImage, quality: int) -> ByteImage:
    """Round-trip through Pillow's JPEG encoder at `quality` (1 .. 100)."""
    buffer = io.BytesIO()
    to_pil(image).save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return from_pil(decoded.convert("L" if image.shape[2] == 1 else "RGB"))


def jpeg_compression(
    image: ByteImage, severity: int, rng: np.random.Generator, params: Mapping[str, float]
) -> ByteImage:
    """JPEG at quality 25 .. 7."""
    return encode_jpeg(image, JPEG_QUALITY[severity - 1])

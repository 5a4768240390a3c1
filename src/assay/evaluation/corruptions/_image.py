"""Image plumbing shared by the corruptions: layout checks, alpha split, float/uint8 round trips."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from assay.errors import InvalidInput

FloatImage = npt.NDArray[np.float64]
"""An (H, W, C) image with C in {1, 3}, values in [0, 1] (may leave it before the final clip)."""

ByteImage = npt.NDArray[np.uint8]
"""An (H, W, C) uint8 image with C in {1, 3}."""

LUMA = np.array([0.299, 0.587, 0.114])
"""ITU-R BT.601 luma weights, as OpenCV's RGB2GRAY and Pillow's "L" conversion use."""


@dataclass(frozen=True)
class SplitImage:
    """An input image taken apart: the colour planes to corrupt and what to put back.

    Attributes:
        color: (H, W, 1) or (H, W, 3) uint8 planes that the corruption sees.
        alpha: (H, W, 1) alpha plane of an RGBA input, passed through untouched.
        squeeze: True when the input was (H, W) and the output must be too.
    """

    color: ByteImage
    alpha: ByteImage | None
    squeeze: bool

    def join(self, corrupted: ByteImage) -> ByteImage:
        """Reassemble the corrupted colour planes into the caller's original layout."""
        out = corrupted
        if self.alpha is not None:
            out = np.concatenate([out, self.alpha], axis=2)
        if self.squeeze:
            out = out[:, :, 0]
        return np.ascontiguousarray(out)


def split_image(image: object) -> SplitImage:
    """Check an input image and split off alpha.

    Accepts uint8 arrays shaped (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), H and W >= 1.

    Raises:
        InvalidInput: naming what is wrong with the array.
    """
    if not isinstance(image, np.ndarray):
        raise InvalidInput(f"image: expected a numpy uint8 array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise InvalidInput(f"image: expected dtype uint8, got {image.dtype}; convert it first")
    if image.ndim == 2:
        return SplitImage(image[:, :, None], None, squeeze=True)
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise InvalidInput(
            f"image: expected shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {image.shape}"
        )
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise InvalidInput(f"image: height and width must be at least 1, got {image.shape}")
    if image.shape[2] == 4:
        return SplitImage(image[:, :, :3], image[:, :, 3:], squeeze=False)
    return SplitImage(image, None, squeeze=False)


def to_float(image: ByteImage) -> FloatImage:
    """uint8 [0, 255] -> float64 [0, 1], the domain the ImageNet-C formulas are written in."""
    return image / 255.0


def to_uint8(image: npt.NDArray[np.floating]) -> ByteImage:
    """float [0, 1] -> uint8, clipped and truncated as ImageNet-C's `np.uint8(x * 255)` does."""
    return np.asarray(np.clip(image, 0.0, 1.0) * 255, dtype=np.float64).astype(np.uint8)


def gray(image: FloatImage) -> npt.NDArray[np.float64]:
    """(H, W) luma of an (H, W, 1) or (H, W, 3) float image."""
    if image.shape[2] == 1:
        return np.asarray(image[:, :, 0], dtype=np.float64)
    return np.asarray(image @ LUMA, dtype=np.float64)

"""`apply` and `corrupt`: run a corruption on a uint8 image, shape and dtype preserved."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from assay.errors import InvalidInput
from assay.evaluation.corruptions._image import split_image, to_float, to_uint8
from assay.evaluation.corruptions._registry import lookup
from assay.evaluation.corruptions._spec import CorruptionSpec


def _rng(seed: int, index: int | None) -> np.random.Generator:
    if index is None:
        return np.random.default_rng(seed)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))


def apply(
    image: npt.NDArray[np.uint8], spec: CorruptionSpec, *, index: int | None = None
) -> npt.NDArray[np.uint8]:
    """Corrupt one image as `spec` says.

    Args:
        image: uint8, shaped (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); any size >= 1x1.
            An alpha channel passes through untouched; grayscale stays grayscale.
        spec: which corruption, severity and seed.
        index: optional stream number (e.g. the item's position in a dataset): the random
            stream is then seeded by (spec.seed, index), so items get independent noise
            that is still reproducible.

    Returns:
        A new uint8 array of the input's shape.

    Raises:
        InvalidInput: the image is not a uint8 array of a supported shape, or index < 0.

    Example:
        >>> img = np.full((32, 48, 3), 128, dtype=np.uint8)
        >>> apply(img, CorruptionSpec("gaussian_noise", severity=3, seed=7)).shape
        (32, 48, 3)
    """
    if not isinstance(spec, CorruptionSpec):
        raise InvalidInput(
            f"spec: expected a CorruptionSpec, got {type(spec).__name__}; "
            "build one with CorruptionSpec.from_dict for a dict"
        )
    parts = split_image(image)
    if index is not None and (isinstance(index, bool) or not isinstance(index, int) or index < 0):
        raise InvalidInput(f"index: expected a non-negative integer, got {index!r}")
    corruption = lookup(spec.name)
    rng = _rng(spec.seed, index)
    if corruption.domain == "uint8":
        out = np.asarray(corruption.fn(parts.color, spec.severity, rng, spec.params), np.uint8)
    else:
        values = corruption.fn(to_float(parts.color), spec.severity, rng, spec.params)
        out = to_uint8(values)
    return parts.join(out)


def corrupt(
    image: npt.NDArray[np.uint8],
    name: str,
    severity: int = 1,
    seed: int = 0,
    **params: float,
) -> npt.NDArray[np.uint8]:
    """Shorthand for ``apply(image, CorruptionSpec(name, severity, seed, params))``.

    Example:
        >>> img = np.zeros((20, 30), dtype=np.uint8)
        >>> corrupt(img, "jpeg", quality=50).shape
        (20, 30)
    """
    return apply(image, CorruptionSpec(name, severity, seed, params))

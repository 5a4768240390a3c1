"""Image corruptions for robustness evaluation.

The 15 ImageNet-C corruptions of Hendrycks & Dietterich (2019) at severities 1..5, following the
parameter tables of their code as reimplemented for any image size by `imagecorruptions`, plus
sensor effects (JPEG at a quality, down-and-up scaling, pixel dropout, occlusion patches).

Every corruption takes a uint8 image of any size, 1, 3 or 4 channels (alpha untouched), returns
one of the same shape, and is deterministic given its seed. Frost uses a procedural texture
instead of the original photographs (see `_frost`).

Example:
    >>> import numpy as np
    >>> from assay.evaluation.corruptions import CorruptionSpec, apply, corruption_names
    >>> img = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    >>> out = [apply(img, CorruptionSpec(n, severity=3, seed=1)) for n in corruption_names()]
    >>> len(out), out[0].shape
    (15, (48, 64, 3))
"""

from assay.evaluation.corruptions._accuracy import (
    CorruptionRow,
    CorruptionTable,
    accuracy_under_corruptions,
)
from assay.evaluation.corruptions._apply import apply, corrupt
from assay.evaluation.corruptions._frost import frost_texture
from assay.evaluation.corruptions._registry import (
    REGISTRY,
    Corruption,
    ParamRange,
    corruption_names,
    lookup,
)
from assay.evaluation.corruptions._spec import CorruptionSpec

__all__ = [
    "REGISTRY",
    "Corruption",
    "CorruptionRow",
    "CorruptionSpec",
    "CorruptionTable",
    "ParamRange",
    "accuracy_under_corruptions",
    "apply",
    "corrupt",
    "corruption_names",
    "frost_texture",
    "lookup",
]

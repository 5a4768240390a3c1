"""The fast path for big COCO files: typed decoding (msgspec) and regions built without
re-validation.

A COCO file of train2017's shape is mostly polygon coordinates. msgspec decodes the
annotations straight into compact structs, checking every type in C (numbers are numbers,
never NaN), several times faster than ``json`` and without one dict per annotation. What types
cannot say (ring lengths, boxes inside the image, known ids) is checked here with cheap
builtins. Anything this path does not accept - a malformed file, an unusual shape - returns
None, and the reader takes the validating path, which names the failing field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import msgspec

from assay.domain.labels import Region, trusted_region
from assay.formats._validate import BOUNDS_TOLERANCE_PX


class _Fields(msgspec.Struct, kw_only=True):
    """An annotation's fields but its segmentation."""

    image_id: int | str
    category_id: int | str
    id: int | str | None = None
    bbox: list[float] | None = None
    area: float | None = None
    iscrowd: int = 0
    score: float | None = None
    attributes: dict[str, Any] | None = None


class Ann(_Fields, kw_only=True):
    segmentation: list[list[float]] | dict[str, Any] | None = None


class RawAnn(_Fields, kw_only=True):
    """`Ann` with its segmentation left as the file's own JSON text (checked as JSON by the
    decoder, not typed): coordinates need never become Python floats (`polygon_points`)."""

    segmentation: msgspec.Raw = msgspec.Raw()  # empty when absent


class _Top(msgspec.Struct, kw_only=True):
    images: list[dict[str, Any]]
    categories: list[dict[str, Any]]
    info: Any = None
    licenses: Any = None


class Doc(_Top, kw_only=True):
    annotations: list[Ann] = []


class RawDoc(_Top, kw_only=True):
    annotations: list[RawAnn] = []


T = TypeVar("T")
_DECODER = msgspec.json.Decoder(Doc)
_RAW_DECODER = msgspec.json.Decoder(RawDoc)
_SEGMENTATION = msgspec.json.Decoder(list[list[float]] | dict[str, Any] | None)


def decode(path: Path) -> Doc | None:
    """The file as typed structs, or None when it does not decode as such (bad JSON, types)."""
    return _decode(path, _DECODER)


def decode_raw(path: Path) -> RawDoc | None:
    """`decode` with each annotation's segmentation kept as JSON text."""
    return _decode(path, _RAW_DECODER)


def _decode(path: Path, decoder: msgspec.json.Decoder[T]) -> T | None:
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    try:
        return decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def typed(a: RawAnn) -> Ann | None:
    """The annotation as `decode` gives it, or None when its segmentation is not of `Ann`'s
    types (then the file takes the validating path, as it would have from `decode`)."""
    seg = None
    if len(a.segmentation):
        try:
            seg = _SEGMENTATION.decode(a.segmentation)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
    fields = {k: getattr(a, k) for k in _Fields.__struct_fields__}
    return Ann(**fields, segmentation=seg)


def regions(
    a: Ann, label: str, width: int | None, height: int | None, author: str
) -> list[Region] | None:
    """The regions of one annotation (as `_coco_objects.to_regions` makes them, with `author`
    filled in as the import does), or None when it needs the validating path (RLE masks,
    attributes, anything out of the common shape)."""
    seg = a.segmentation
    if a.attributes or isinstance(seg, dict) or a.iscrowd not in (0, 1):
        return None
    if width is None or height is None:
        return None
    tol = BOUNDS_TOLERANCE_PX
    hi_x, hi_y = width + tol, height + tol
    rid = "" if a.id is None else str(a.id)
    attrs: dict[str, Any] = {"iscrowd": 1} if a.iscrowd else {}
    rings = seg or []
    if len(rings) != 1:
        return None  # boxes only, or several parts: the validating path
    flat = rings[0]
    n = len(flat)
    if n < 6 or n % 2:
        return None
    # Two scans of the whole ring; x and y apart only when it reaches past the shorter side.
    if min(flat) < -tol:
        return None
    if max(flat) > min(hi_x, hi_y) and (max(flat[0::2]) > hi_x or max(flat[1::2]) > hi_y):
        return None
    if n == 8 and a.bbox is not None:
        return None  # may be a box written as its rectangle
    if a.area is not None:
        attrs["area"] = a.area
    pairs = iter(flat)
    return [
        trusted_region(
            {
                "id": rid,
                "kind": "polygon",
                "label": label,
                "points": tuple(zip(pairs, pairs, strict=True)),  # the ring in (x, y) pairs
                "attributes": attrs,
                "author": author,
                **({"score": a.score} if a.score is not None else {}),
            }
        )
    ]

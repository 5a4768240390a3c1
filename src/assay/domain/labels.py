"""Labels in canonical form.

A label payload is the list of regions an item carries. Geometry is in pixels
with a top-left origin: boxes are ``[x, y, w, h]``, polygons and points are
lists of ``[x, y]``, spans are ``[start, end)`` character offsets. Whole-item
answers (choices, free text, ratings, rankings) are regions without geometry.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

import msgspec
from pydantic import BaseModel, ConfigDict, Field, field_validator

from assay.domain.canonical import canonical_json, metadata_record

__all__ = [
    "Region",
    "RegionKind",
    "box_iou",
    "canonical_json",
    "metadata_record",
    "payload_for_display",
    "payload_from_json",
    "payload_from_json_trusted",
    "payload_hash",
    "payload_of_texts",
    "payload_text_and_hash",
    "payload_to_json",
    "payload_to_json_trusted",
    "region_texts",
    "regions_from_dicts",
    "trusted_region",
]

RegionKind = Literal["box", "polygon", "point", "span", "choice", "text", "rating", "ranking"]
#: Boxes and points may stick out of the image by at most this many pixels (rounding in the
#: tools that wrote them); anything further is an error, on import and on a labeling answer.
BOUNDS_TOLERANCE_PX = 1.0


def off_image(x: float, y: float, width: int, height: int) -> bool:
    """Whether the point lies outside a `width` x `height` image by more than the tolerance
    (a coordinate that is not a number, NaN, lies nowhere on it: off the image too)."""
    tol = BOUNDS_TOLERANCE_PX
    return not (-tol <= x <= width + tol and -tol <= y <= height + tol)


MAX_ATTRIBUTE_DEPTH = 16
TOO_DEEP = "<nested too deep>"


def nesting_depth(value: Any, stop: int) -> int:
    """How deep lists and dicts nest in `value`, counted without recursion up to `stop + 1`."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            depth += 1
            if depth > stop:
                return depth
            deepest = max(deepest, depth)
            stack.extend(
                (child, depth) for child in (node.values() if isinstance(node, dict) else node)
            )
    return deepest


def prune_deep(value: Any, limit: int = MAX_ATTRIBUTE_DEPTH) -> Any:
    """`value` with every list or dict below `limit` levels replaced by ``TOO_DEEP``."""
    if not isinstance(value, dict | list):
        return value
    if limit <= 0:
        return TOO_DEEP
    if isinstance(value, dict):
        return {k: prune_deep(v, limit - 1) for k, v in value.items()}
    return [prune_deep(v, limit - 1) for v in value]


class Region(BaseModel):
    """One labelled region or whole-item answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = ""
    kind: RegionKind
    control: str = "label"
    label: str | None = None
    box: tuple[float, float, float, float] | None = None
    points: tuple[tuple[float, float], ...] | None = None
    span: tuple[int, int] | None = None
    text: str | None = None
    value: float | None = None
    ranking: tuple[str, ...] | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    score: float | None = None
    author: str | None = None

    @field_validator("attributes")
    @classmethod
    def _shallow(cls, value: dict[str, Any]) -> dict[str, Any]:
        # Parsers and encoders recurse: a deep value would fail wherever it is read again.
        if nesting_depth(value, MAX_ATTRIBUTE_DEPTH) > MAX_ATTRIBUTE_DEPTH:
            raise ValueError(f"attributes nested deeper than {MAX_ATTRIBUTE_DEPTH} levels")
        return value

    def content_key(self) -> dict[str, Any]:
        """What makes two regions the same label: everything but id, author and score."""
        return _record(self, ("id", "author", "score"))


def _record(r: Region, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    # `r.model_dump(exclude_none=True)` without the serializer's cost: the fields are plain
    # values (tuples encode as JSON lists), so the canonical JSON is the same.
    return {k: v for k, v in r.__dict__.items() if v is not None and k not in exclude}


def payload_to_json(regions: list[Region]) -> str:
    return canonical_json([_record(r) for r in regions])


def payload_to_json_trusted(records: list[dict[str, Any]]) -> str:
    """`payload_to_json` of regions given as the fields they store (every field a `Region`
    holds that is not None, `attributes` too, with plain values that the code making them has
    checked), without building a `Region` per record: for batch paths that write many
    payloads (pre-labeling). Encoded as `payload_text_and_hash` encodes, so the text is
    byte-equal to the canonical form."""
    return "[" + b",".join(_record_json(r) for r in records).decode() + "]"


def _record_json(fields: dict[str, Any]) -> bytes:
    fast = _fast_json(fields)
    return fast if fast is not None else canonical_json(fields).encode()


_HASH_EXCLUDED = ("id", "author", "score")


def payload_text_and_hash(regions: list[Region]) -> tuple[str, str]:
    """`payload_to_json(regions)` and `payload_hash(regions)` at once (a bulk import's cost is
    mostly encoding coordinates, and both texts hold the same ones)."""
    texts = [region_texts(r) for r in regions]
    return payload_of_texts([t[0] for t in texts], [t[1] for t in texts])


def region_texts(r: Region) -> tuple[bytes, bytes]:
    """One region's canonical JSON (``canonical_json`` of its fields) and that of its content
    key (`Region.content_key`), as UTF-8: the pieces `payload_of_texts` joins.

    Each region is encoded by msgspec (C, sorted keys), which writes the same text as
    `canonical_json` for strings, integers and floats written out in full; a region whose text
    holds anything where the two may differ (an exponent, a float under 1e-4, ``null`` for NaN,
    attributes beyond flat plain values) is encoded by
    `canonical_json` instead, so both texts are always byte-equal to the canonical form."""
    fields = {k: v for k, v in r.__dict__.items() if v is not None}
    content = {k: v for k, v in fields.items() if k not in _HASH_EXCLUDED}
    record = _fast_json(fields)
    if record is not None:
        # The content is the record less some pairs: no mark can appear by their removal.
        return record, _ENCODE(content)
    return canonical_json(fields).encode(), canonical_json(content).encode()


def payload_of_texts(records: list[bytes], keys: list[bytes]) -> tuple[str, str]:
    """The stored payload text and label hash of regions given as their `region_texts`
    (records in payload order)."""
    text = b"[" + b",".join(records) + b"]"
    # Sorting UTF-8 bytes is sorting their code points, as sorting the texts does.
    digest = hashlib.sha256(b"\n".join(sorted(keys))).hexdigest()
    return text.decode(), digest


_ENCODE = msgspec.json.Encoder(order="sorted").encode
# Where msgspec's text may not be json.dumps's: exponents (json.dumps writes 1e-05, 1e+16;
# msgspec 0.00001, 1e16), and NaN or infinity (msgspec writes null). Strings can hold these
# too: that region then merely takes the slow path. Byte tests, not a regular expression: that
# would cost more than the encoding.
_DIGITS = bytes.maketrans(b"123456789", b"000000000")
_PLAIN = (str, int, float, bool)


def _fast_json(fields: dict[str, Any]) -> bytes | None:
    """`canonical_json(fields).encode()` by msgspec, or None when it might differ from it."""
    attrs = fields.get("attributes")
    if attrs and not all(type(k) is str and type(v) in _PLAIN for k, v in attrs.items()):
        return None  # nested values, or keys json.dumps would sort or convert its own way
    try:
        text = _ENCODE(fields)
    except (TypeError, ValueError, OverflowError, UnicodeEncodeError):
        return None
    if b"0e" in text.translate(_DIGITS) or b"0.0000" in text or b"null" in text:
        return None
    return text


def payload_from_json(text: str) -> list[Region]:
    return [Region.model_validate(d) for d in json.loads(text)] if text else []


def payload_for_display(text: str) -> list[Region]:
    """A stored payload to show a person: attributes nested too deep (stored before they were
    refused) are cut at the limit and marked ``TOO_DEEP``, so one bad answer cannot break a
    page or a queue for good."""
    try:
        dicts = json.loads(text) if text else []
    except RecursionError:
        return [Region(kind="text", control="", text=f"stored answer {TOO_DEEP}")]
    for d in dicts:
        if isinstance(d, dict) and isinstance(d.get("attributes"), dict):
            d["attributes"] = prune_deep(d["attributes"], MAX_ATTRIBUTE_DEPTH)
    return [Region.model_validate(d) for d in dicts]


_TUPLES = ("box", "span", "ranking")


def _defaults() -> dict[str, Any]:
    return {
        name: f.default
        for name, f in Region.model_fields.items()
        if f.default_factory is None and not f.is_required()
    }


_DEFAULTS = _defaults()


def _construct(d: dict[str, Any]) -> Region:
    # What `model_construct` does, without its per-field default lookups, which cost more than
    # parsing the JSON on bulk reads. The payload was validated when it was stored.
    values = {**_DEFAULTS, **d}
    if "attributes" not in d:
        values["attributes"] = {}
    region = Region.__new__(Region)
    object.__setattr__(region, "__dict__", values)
    object.__setattr__(region, "__pydantic_fields_set__", set(d))
    object.__setattr__(region, "__pydantic_extra__", None)
    object.__setattr__(region, "__pydantic_private__", None)
    return region


def trusted_region(fields: dict[str, Any]) -> Region:
    """A region from fields a reader has checked itself (tuples in place), without pydantic's
    validation: for bulk imports, where it costs more than everything else."""
    return _construct(fields)


def payload_from_json_trusted(text: str) -> list[Region]:
    """Like `payload_from_json` for payloads assay itself wrote (manifests, the working state):
    builds regions without re-validating them, which is many times faster on bulk reads."""
    return regions_from_dicts(json.loads(text) if text else [])


def regions_from_dicts(dicts: list[dict[str, Any]]) -> list[Region]:
    """Regions from already-parsed stored payload dicts (see `payload_from_json_trusted`)."""
    out: list[Region] = []
    for d in dicts:
        for key in _TUPLES:
            if d.get(key) is not None:
                d[key] = tuple(d[key])
        if d.get("points") is not None:
            d["points"] = tuple(tuple(p) for p in d["points"])
        out.append(_construct(d))
    return out


def payload_hash(regions: list[Region]) -> str:
    """Order-independent hash of what the labels say (ids and authors excluded)."""
    keys = sorted(canonical_json(r.content_key()) for r in regions)
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()


def box_iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ax2, ay2 = a[0] + a[2], a[1] + a[3]
    bx2, by2 = b[0] + b[2], b[1] + b[3]
    iw = min(ax2, bx2) - max(a[0], b[0])
    ih = min(ay2, by2) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0

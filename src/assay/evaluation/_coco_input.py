"""Read COCO ground truth and detection results into flat numpy arrays.

Validation is vectorised: each field is pulled out with one comprehension and
converted with one `np.asarray`; only when that fails is the column scanned
element by element to name the first bad record. Errors name the source (a
file path or a label), the list, the index and the field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from assay.errors import InvalidInput

IdArray = NDArray[Any]  # int64 or unicode ids


@dataclass(frozen=True)
class GroundTruth:
    """COCO ground truth as columns. Image and category indices point into the sorted ids."""

    image_ids: IdArray
    category_ids: IdArray
    category_names: tuple[str, ...]
    image: NDArray[np.int64]
    category: NDArray[np.int64]
    bbox: NDArray[np.float64]
    area: NDArray[np.float64]
    iscrowd: NDArray[np.bool_]
    id_is_zero: NDArray[np.bool_]


@dataclass(frozen=True)
class Detections:
    """Detection results as columns, in file order.

    `area` is the box's w * h; segmentation evaluation replaces it (see `_segm_input`).
    """

    image: NDArray[np.int64]
    category: NDArray[np.int64]
    bbox: NDArray[np.float64]
    score: NDArray[np.float64]
    area: NDArray[np.float64]


def load_json(path: str | Path) -> Any:
    """Read one JSON document, raising `InvalidInput` that names the file on any failure."""
    try:
        with open(path, "rb") as fh:
            return json.load(fh)
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read file: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"{path}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from exc
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path}: not valid JSON: not UTF-8 text") from exc
    except RecursionError:
        raise InvalidInput(f"{path}: not valid JSON: nested too deep to read") from None


def _records(doc: Mapping[str, Any], key: str, src: str) -> list[Any]:
    if key not in doc:
        raise InvalidInput(f"{src}: missing the top-level field '{key}'")
    recs = doc[key]
    if not isinstance(recs, list):
        raise InvalidInput(f"{src}: '{key}' must be a list, got {type(recs).__name__}")
    return recs


def _column(recs: list[Any], field: str, src: str, where: str) -> list[Any]:
    try:
        return [r[field] for r in recs]
    except (KeyError, TypeError, IndexError):
        pass
    for i, r in enumerate(recs):
        if not isinstance(r, dict):
            raise InvalidInput(f"{src}: {where}[{i}] must be an object, got {type(r).__name__}")
        if field not in r:
            raise InvalidInput(f"{src}: {where}[{i}] is missing the field '{field}'")
    raise InvalidInput(f"{src}: {where} could not be read")  # pragma: no cover


def _array(values: list[Any], empty: NDArray[Any]) -> NDArray[Any]:
    """`np.asarray` that returns an object array instead of raising on ragged input."""
    if not values:
        return empty
    try:
        return np.asarray(values)
    except (ValueError, TypeError):
        return np.empty(0, dtype=object)


def _bad(src: str, where: str, i: int, field: str, want: str, value: object) -> InvalidInput:
    try:
        shown = json.dumps(value)
    except (TypeError, ValueError):
        shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return InvalidInput(f"{src}: {where}[{i}].{field} must be {want}, got {shown}")


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


_PLAIN = frozenset({int, float})


def _numbers(values: list[Any], src: str, where: str, field: str) -> NDArray[np.float64]:
    if set(map(type, values)) <= _PLAIN:
        arr = np.fromiter(values, dtype=np.float64, count=len(values))
        if np.isfinite(arr).all():
            return arr
    for i, v in enumerate(values):
        if not _is_number(v):
            raise _bad(src, where, i, field, "a finite number", v)
    return np.asarray(values, dtype=np.float64)


def _boxes(values: list[Any], src: str, where: str) -> NDArray[np.float64]:
    try:
        four = set(map(len, values)) <= {4} and set(map(type, values)) <= {list, tuple}
    except TypeError:
        four = False
    if four and set(map(type, chain.from_iterable(values))) <= _PLAIN:
        flat = np.fromiter(chain.from_iterable(values), dtype=np.float64, count=4 * len(values))
        if np.isfinite(flat).all():
            return flat.reshape(-1, 4)
    for i, v in enumerate(values):
        if not (isinstance(v, list | tuple) and len(v) == 4 and all(_is_number(x) for x in v)):
            raise _bad(src, where, i, "bbox", "a list of 4 finite numbers [x, y, w, h]", v)
    return np.asarray(values, dtype=np.float64).reshape(-1, 4)


def _ids(values: list[Any], src: str, where: str, field: str) -> IdArray:
    arr = _array(values, np.zeros(0, dtype=np.int64))
    if arr.ndim == 1 and arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    if arr.ndim == 1 and arr.dtype.kind == "f" and np.all(np.floor(arr) == arr):
        return arr.astype(np.int64)
    if arr.ndim == 1 and arr.dtype.kind == "U" and all(isinstance(v, str) for v in values):
        return arr
    first = next((v for v in values if isinstance(v, int | str) and not isinstance(v, bool)), 0)
    want_str = isinstance(first, str)
    for i, v in enumerate(values):
        ok = isinstance(v, str) if want_str else _is_number(v) and float(v).is_integer()
        if not ok:
            kind = "a string like the others" if want_str else "an integer"
            raise _bad(src, where, i, field, kind, v)
    raise InvalidInput(f"{src}: {where} ids could not be read")  # pragma: no cover


def _index(
    values: IdArray, known: IdArray, src: str, where: str, field: str, what: str
) -> NDArray[np.int64]:
    """Map ids to positions in the sorted `known`; name the first unknown id."""
    if values.size == 0:
        return np.zeros(0, dtype=np.int64)
    if known.size == 0 or values.dtype.kind != known.dtype.kind:
        bad = 0
    else:
        pos = np.searchsorted(known, values)
        hit = known[np.minimum(pos, known.size - 1)] == values
        if bool(hit.all()):
            return pos.astype(np.int64)
        bad = int(np.argmin(hit))
    raise InvalidInput(
        f"{src}: {where}[{bad}].{field} {json.dumps(values[bad].item())} is not {what}"
    )


def read_ground_truth(doc: object, src: str, need_bbox: bool = True) -> GroundTruth:
    """Validate a COCO ground-truth document (already parsed JSON) and return its columns.

    Without `need_bbox` (segmentation evaluation) a missing ``bbox`` reads as zeros.
    """
    if not isinstance(doc, dict):
        raise InvalidInput(
            f"{src}: ground truth must be a JSON object with 'images', "
            f"'annotations' and 'categories', got {type(doc).__name__}"
        )
    images = _records(doc, "images", src)
    cats = _records(doc, "categories", src)
    anns = _records(doc, "annotations", src)
    image_ids = np.unique(_ids(_column(images, "id", src, "images"), src, "images", "id"))
    cat_col = _ids(_column(cats, "id", src, "categories"), src, "categories", "id")
    cat_ids, first = np.unique(cat_col, return_index=True)
    names: list[str] = []
    for i in first.tolist():
        name = cats[i].get("name", str(cat_col[i]))
        names.append(name if isinstance(name, str) else str(name))

    ann_ids = _ids(_column(anns, "id", src, "annotations"), src, "annotations", "id")
    uniq, inverse, counts = np.unique(ann_ids, return_inverse=True, return_counts=True)
    if uniq.size != ann_ids.size:
        dup = int(np.flatnonzero(counts[inverse] > 1)[1])
        raise InvalidInput(
            f"{src}: annotations[{dup}].id {json.dumps(ann_ids[dup].item())} is used by "
            "more than one annotation; annotation ids must be unique"
        )
    image = _ids(_column(anns, "image_id", src, "annotations"), src, "annotations", "image_id")
    cat = _ids(_column(anns, "category_id", src, "annotations"), src, "annotations", "category_id")
    bbox = _optional_boxes(anns, need_bbox, src, "annotations")
    area = _numbers(_column(anns, "area", src, "annotations"), src, "annotations", "area")
    crowd_col = [a.get("iscrowd", 0) for a in anns]
    crowd = _numbers(
        [int(v) if isinstance(v, bool) else v for v in crowd_col], src, "annotations", "iscrowd"
    )
    zero = ann_ids == 0 if ann_ids.dtype.kind == "i" else np.zeros(ann_ids.size, dtype=np.bool_)
    return GroundTruth(
        image_ids=image_ids,
        category_ids=cat_ids,
        category_names=tuple(names),
        image=_index(image, image_ids, src, "annotations", "image_id", "an id in 'images'"),
        category=_index(cat, cat_ids, src, "annotations", "category_id", "an id in 'categories'"),
        bbox=bbox,
        area=area,
        iscrowd=crowd != 0,
        id_is_zero=zero,
    )


def detection_records(doc: object, src: str) -> list[Any]:
    """The list of result records (a list, or an object with 'annotations')."""
    if isinstance(doc, dict) and isinstance(doc.get("annotations"), list):
        doc = doc["annotations"]
    if not isinstance(doc, Sequence) or isinstance(doc, str | bytes):
        raise InvalidInput(
            f"{src}: detections must be a JSON list of objects with image_id, category_id, "
            f"bbox (or segmentation) and score, got {type(doc).__name__}"
        )
    return list(doc)


def _optional_boxes(recs: list[Any], need: bool, src: str, where: str) -> NDArray[np.float64]:
    if need:
        return _boxes(_column(recs, "bbox", src, where), src, where)
    boxes = np.zeros((len(recs), 4))
    have = [
        i for i, r in enumerate(recs) if isinstance(r, dict) and r.get("bbox") not in (None, [])
    ]
    if have:
        boxes[have] = _boxes([recs[i]["bbox"] for i in have], src, where)
    return boxes


def read_detections(doc: object, gt: GroundTruth, src: str, need_bbox: bool = True) -> Detections:
    """Validate COCO detection results (a list, or an object with 'annotations')."""
    recs = detection_records(doc, src)
    where = "detections"
    bbox = _optional_boxes(recs, need_bbox, src, where)
    image = _ids(_column(recs, "image_id", src, where), src, where, "image_id")
    cat = _ids(_column(recs, "category_id", src, where), src, where, "category_id")
    return Detections(
        image=_index(
            image, gt.image_ids, src, where, "image_id", "an image id of the ground truth"
        ),
        category=_index(
            cat, gt.category_ids, src, where, "category_id", "a category id of the ground truth"
        ),
        bbox=bbox,
        score=_numbers(_column(recs, "score", src, where), src, where, "score"),
        area=bbox[:, 2] * bbox[:, 3],
    )

"""Prediction files: COCO results JSON (detection), class probabilities as CSV or Parquet.

A probability table has one key column, ``item`` (item id or a unique prefix of 12+ hex
digits) or ``name`` (the file name the dataset exports the item under), and one numeric
column per class. A COCO results file is a list of ``{image_id, category_id, bbox, score}``:
``image_id`` is the id `assay export --format coco` gives the image, an item id or a file
name; ``category_id`` is the exported category id or the class name (``category_name``, where
a row has it, is taken instead).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from assay.errors import InvalidInput

PROBABILITY_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
KEY_COLUMNS = ("item", "name")
# A row may miss 1 by rounding: six classes written to three decimals are off by up to 0.003.
SUM_TOLERANCE = 0.01


@dataclass(frozen=True)
class ProbabilityTable:
    """Rows of class probabilities keyed by item id or file name."""

    source: str
    key: str  # "item" or "name"
    keys: list[str]
    classes: list[str]
    probs: npt.NDArray[np.float64]


@dataclass(frozen=True)
class CocoResult:
    """One detection as the results file has it."""

    image_id: int | str
    category: int | str
    bbox: tuple[float, float, float, float]
    score: float
    # The field the row named its category with, for errors that point at it.
    category_field: str = "category_id"


def prediction_format(path: Path) -> str:
    """``coco-json``, ``csv`` or ``parquet`` from the file suffix."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "coco-json"
    if suffix in PROBABILITY_FORMATS:
        return PROBABILITY_FORMATS[suffix]
    raise InvalidInput(
        f"{path}: unknown prediction file type {suffix or '(none)'}; use a COCO results .json, "
        "or a .csv / .parquet of class probabilities"
    )


def read_probabilities(path: Path, fmt: str | None = None) -> ProbabilityTable:
    """Read and check a CSV or Parquet probability table (`fmt` overrides the suffix)."""
    import pandas as pd

    fmt = fmt or prediction_format(path)
    try:
        frame = (
            pd.read_csv(path, dtype={k: str for k in KEY_COLUMNS})
            if fmt == "csv"
            else (pd.read_parquet(path))
        )
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file") from None
    except Exception as exc:  # pandas and pyarrow raise many types for unreadable files
        raise InvalidInput(f"{path}: cannot read as {fmt} ({exc})") from None
    keys = [k for k in KEY_COLUMNS if k in frame.columns]
    if len(keys) != 1:
        raise InvalidInput(
            f"{path}: needs exactly one key column, 'item' (item id) or 'name' (file name); "
            f"columns are {', '.join(map(str, frame.columns))}"
        )
    key = keys[0]
    classes = [str(c) for c in frame.columns if c != key]
    if not classes:
        raise InvalidInput(f"{path}: no class probability columns besides '{key}'")
    for c in classes:
        if not pd.api.types.is_numeric_dtype(frame[c]):
            raise InvalidInput(f"{path}: column '{c}' must hold numbers (class probabilities)")
    probs = frame[classes].to_numpy(dtype=np.float64)
    bad = np.argwhere(~np.isfinite(probs) | (probs < 0))
    if bad.size:
        r, c = bad[0]
        raise InvalidInput(
            f"{path}: row {int(r) + 1}, column '{classes[int(c)]}': probabilities must be finite "
            "and >= 0"
        )
    # Logits or per-class scores read as probabilities would skew the Brier score and ECE.
    sums = probs.sum(axis=1)
    off = np.flatnonzero(np.abs(sums - 1.0) > SUM_TOLERANCE)
    if off.size:
        r = int(off[0])
        raise InvalidInput(
            f"{path}: row {r + 1}: the class probabilities ({', '.join(classes)}) sum to "
            f"{sums[r]:.4g}, not 1; write each row's softmax over the model's classes"
        )
    names = frame[key].astype(str).tolist()
    dup = frame[key].duplicated()
    if dup.any():
        raise InvalidInput(f"{path}: '{key}' {names[int(np.argmax(dup))]!r} appears twice")
    return ProbabilityTable(str(path), key, names, classes, probs)


def _field(rec: dict[str, Any], name: str, where: str) -> Any:
    if name not in rec:
        raise InvalidInput(f"{where}: missing field '{name}'")
    return rec[name]


def _number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v)


def read_coco_results(path: Path) -> list[CocoResult]:
    """Read and check a COCO results JSON file."""
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"{path}: not a JSON file ({exc})") from None
    except RecursionError:
        raise InvalidInput(f"{path}: JSON nested too deep to read") from None
    if not isinstance(doc, list):
        raise InvalidInput(f"{path}: a COCO results file is a JSON list of detections")
    out = []
    for i, rec in enumerate(doc):
        where = f"{path}: [{i}]"
        if not isinstance(rec, dict):
            raise InvalidInput(f"{where}: expected an object")
        iid = _field(rec, "image_id", where)
        cat_field = "category_name" if "category_name" in rec else "category_id"
        cat = _field(rec, cat_field, where)
        bbox = _field(rec, "bbox", where)
        score = _field(rec, "score", where)
        if not isinstance(iid, int | str) or isinstance(iid, bool):
            raise InvalidInput(f"{where}.image_id: expected an integer or a string")
        if not isinstance(cat, int | str) or isinstance(cat, bool):
            raise InvalidInput(f"{where}.{cat_field}: expected an integer or a class name")
        if not isinstance(bbox, list) or len(bbox) != 4 or not all(_number(v) for v in bbox):
            raise InvalidInput(f"{where}.bbox: expected [x, y, w, h] numbers")
        if not _number(score):
            raise InvalidInput(f"{where}.score: expected a number")
        b = tuple(float(v) for v in bbox)
        if b[2] < 0 or b[3] < 0:  # matched by area and IoU as if it were a real box
            raise InvalidInput(
                f"{where}.bbox: width and height must be >= 0, got {bbox} (COCO boxes are "
                "[x, y, width, height], not corners)"
            )
        out.append(CocoResult(iid, cat, (b[0], b[1], b[2], b[3]), float(score), cat_field))
    return out

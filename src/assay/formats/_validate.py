"""Checks shared by the readers: every failure is one `InvalidInput` naming file and place.

Messages look like ``annotations.json: annotations[12].bbox: expected 4 numbers, got 3``
or ``labels/scene_004.txt line 3: class id 7 not in data.yaml names (0..2)``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, NoReturn, TypeGuard

# (Defined with the labels, since labeling answers are held to it too.)
from assay.domain.labels import BOUNDS_TOLERANCE_PX as BOUNDS_TOLERANCE_PX
from assay.domain.labels import off_image
from assay.errors import InvalidInput


def fail(file: str, place: str, message: str) -> NoReturn:
    """Raise `InvalidInput` as ``file: place: message`` (place may be empty)."""
    where = f"{file}: {place}: " if place else f"{file}: "
    raise InvalidInput(where + message)


def display_name(path: Path, root: Path | None = None) -> str:
    """The name used in messages: relative to `root` when inside it, else the file name."""
    if root is not None:
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            pass
    return path.name


def read_text(path: Path, name: str | None = None) -> str:
    """Read a file as strict UTF-8 (a BOM is allowed) or fail naming the line of the bad byte."""
    label = name or path.name
    from assay.ingest import ProbeError, read_regular

    try:
        data = read_regular(str(path))  # a FIFO or device in its place cannot hang the read
    except FileNotFoundError:
        raise InvalidInput(f"{label}: file not found ({path})") from None
    except ProbeError as exc:
        if "folder" in str(exc):
            raise InvalidInput(f"{label}: expected a file, found a folder ({path})") from None
        raise InvalidInput(f"{label}: {exc}") from None
    except OSError as exc:
        raise InvalidInput(f"{label}: cannot read {path} ({exc.strerror or exc})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InvalidInput(
            f"{label} line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start}); re-save the file as UTF-8"
        ) from None


def load_json(path: Path, name: str | None = None) -> Any:
    """Parse a UTF-8 JSON file or fail naming line and column."""
    label = name or path.name
    text = read_text(path, label)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"{label} line {exc.lineno} column {exc.colno}: invalid JSON: {exc.msg}"
        ) from None
    except RecursionError:
        raise InvalidInput(f"{label}: JSON nested too deep to read") from None
    except ValueError:  # an integer of more digits than Python converts (4300)
        raise InvalidInput(f"{label}: invalid JSON: a number of more than 4300 digits") from None


def json_cell(text: str, file: str, place: str) -> Any:
    """Parse JSON held in one field of a file (a Parquet cell), failing with file and place."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        fail(file, place, f"invalid JSON: {exc.msg}")
    except RecursionError:
        fail(file, place, "JSON nested too deep to read")


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def need_obj(value: Any, file: str, place: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        fail(file, place, f"expected an object, got {type_name(value)}")
    return value


def need_attributes(value: Any, file: str, place: str) -> dict[str, Any]:
    """Region attributes: an object nested no deeper than regions allow."""
    from assay.domain.labels import MAX_ATTRIBUTE_DEPTH, nesting_depth

    obj = need_obj(value, file, place)
    if nesting_depth(obj, MAX_ATTRIBUTE_DEPTH) > MAX_ATTRIBUTE_DEPTH:
        fail(file, place, f"nested deeper than {MAX_ATTRIBUTE_DEPTH} levels")
    return obj


def need_list(value: Any, file: str, place: str) -> list[Any]:
    if not isinstance(value, list):
        fail(file, place, f"expected a list, got {type_name(value)}")
    return value


def need_key(obj: dict[str, Any], key: str, file: str, place: str) -> Any:
    if key not in obj:
        fail(file, place, f"missing key {key!r}")
    return obj[key]


def need_str(value: Any, file: str, place: str) -> str:
    if not isinstance(value, str):
        fail(file, place, f"expected a string, got {type_name(value)}")
    return value


def need_number(value: Any, file: str, place: str) -> float:
    if not is_number(value):
        fail(file, place, f"expected a number, got {type_name(value)}")
    return float(value)


INT64 = 2**63  # what a database column of integers holds: -INT64 <= n < INT64


def need_int(value: Any, file: str, place: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        fail(file, place, f"expected an integer, got {type_name(value)}")
    if not -INT64 <= value < INT64:
        fail(file, place, "integer out of range (at most 19 digits)")
    return value


def need_numbers(value: Any, n: int | None, file: str, place: str) -> list[float]:
    """A list of finite numbers, of exactly `n` when `n` is given."""
    if not isinstance(value, list):
        fail(file, place, f"expected a list of numbers, got {type_name(value)}")
    if n is not None and len(value) != n:
        fail(file, place, f"expected {n} numbers, got {len(value)}")
    for v in value:
        if not is_number(v):
            fail(file, place, f"expected numbers, found {type_name(v)} {v!r}")
    return [float(v) for v in value]


def check_box(
    box: tuple[float, float, float, float],
    width: int | None,
    height: int | None,
    file: str,
    place: str,
) -> None:
    """Width and height must be >= 0 and the box inside the image (with the tolerance)."""
    x, y, w, h = box
    if not all(math.isfinite(c) for c in box):
        fail(file, place, f"box [x={x:g}, y={y:g}, w={w:g}, h={h:g}]: not all finite numbers")
    if w < 0 or h < 0:
        fail(file, place, f"box has negative size (w={w:g}, h={h:g})")
    if width is None or height is None:
        return
    tol = BOUNDS_TOLERANCE_PX
    if off_image(x, y, width, height) or off_image(x + w, y + h, width, height):
        fail(
            file,
            place,
            f"box [x={x:g}, y={y:g}, w={w:g}, h={h:g}] lies outside the {width}x{height} image "
            f"(tolerance {tol:g} px)",
        )


def check_points(
    points: list[tuple[float, float]],
    width: int | None,
    height: int | None,
    file: str,
    place: str,
) -> None:
    """Every point inside the image (with the tolerance)."""
    if width is None or height is None:
        return
    tol = BOUNDS_TOLERANCE_PX
    for x, y in points:
        if off_image(x, y, width, height):
            fail(
                file,
                place,
                f"point ({x:g}, {y:g}) lies outside the {width}x{height} image "
                f"(tolerance {tol:g} px)",
            )

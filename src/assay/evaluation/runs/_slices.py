"""Slices: named queries over item metadata and labels, written in YAML.

```yaml
slices:
  drone:        {sensor: drone}                 # metadata "sensor", else the ingest source
  night:        {time_of_day: night}            # from captured_at (see TIME_OF_DAY)
  north-sector: {geo_box: [lon_min, lat_min, lon_max, lat_max]}
  small:        {object_size: small}            # COCO area: small < 32², medium < 96², large
  secret:       {marking: SECRET}               # the item's marking level
  boats:        {label: boat}                   # the item carries this label (no crowd)
  site-a:       {metadata.site: a}              # any metadata key
```

A slice's conditions must all hold; a list of values means any of them. Every run also has
the slice ``all``. For detection, ``object_size`` restricts the boxes scored (COCO's
area-range rule, so the slice's AP is COCO's AP_small / AP_medium / AP_large) and the slice
holds the images with something of that size to score: a ground-truth box that is no crowd
region, or a detection. pycocotools ignores everything else, so the other images would add
nothing, and a size with neither is an empty slice (n 0), as a query that matches nothing.
For classification ``object_size`` keeps items that carry an object (box or outline, its area
as for detection, see `_data.EvalItem.objects`) of that size that is no crowd region (COCO
ignores crowd regions: they are no object of any size). Likewise ``label`` counts an item's
boxes and outlines that are no crowd region, and its other labels (a ``choice``, points,
spans): an item whose only boat is a crowd region has no boat the metrics score, so the slice
``{label: boat}`` leaves it out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from assay._yaml_errors import yaml_problem
from assay.errors import InvalidInput

FIELDS = (
    "sensor",
    "source",
    "time_of_day",
    "geo_box",
    "object_size",
    "marking",
    "label",
    "metadata.<key>",
)
# Hours [start, end) of each part of the day, local time as captured_at states it.
TIME_OF_DAY = {"night": (21, 5), "morning": (5, 12), "afternoon": (12, 17), "evening": (17, 21)}
SIZES = ("small", "medium", "large")
SIZE_RANGES = {"small": (0.0, 32.0**2), "medium": (32.0**2, 96.0**2), "large": (96.0**2, 1e10)}
ALL = "all"


@dataclass(frozen=True)
class SliceDef:
    """A named conjunction of conditions; `where` maps a field to a value or list of values."""

    name: str
    where: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """``{"name", "where"}``, JSON-ready."""
        return {"name": self.name, "where": dict(self.where)}

    @property
    def object_size(self) -> str | None:
        """The object size this slice restricts boxes to, if any."""
        v = self.where.get("object_size")
        return str(v) if v is not None else None


def _values(v: Any) -> list[Any]:
    return list(v) if isinstance(v, list | tuple) else [v]


def _check_condition(key: str, value: Any, where: str) -> Any:
    if key == "geo_box":
        ok = isinstance(value, list | tuple) and len(value) == 4
        if not ok or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
            raise InvalidInput(f"{where}.geo_box: expected [lon_min, lat_min, lon_max, lat_max]")
        lo_lon, lo_lat, hi_lon, hi_lat = (float(v) for v in value)
        if lo_lon > hi_lon or lo_lat > hi_lat:
            raise InvalidInput(f"{where}.geo_box: minimum above maximum")
        return [lo_lon, lo_lat, hi_lon, hi_lat]
    vals = _values(value)
    if not vals or not all(isinstance(v, str | int | float) and v is not None for v in vals):
        raise InvalidInput(f"{where}.{key}: expected a value or a list of values")
    if key == "time_of_day" and any(v not in TIME_OF_DAY for v in vals):
        raise InvalidInput(f"{where}.time_of_day: expected one of {', '.join(TIME_OF_DAY)}")
    if key == "object_size":
        if len(vals) != 1 or vals[0] not in SIZES:
            raise InvalidInput(f"{where}.object_size: expected one of {', '.join(SIZES)}")
        return vals[0]
    return [str(v) for v in vals] if len(vals) > 1 else str(vals[0])


def parse_slices(doc: Any, source: str) -> list[SliceDef]:
    """Check a parsed slices document (``{"slices": {name: {field: value}}}``)."""
    if doc is None:
        return []
    if not isinstance(doc, dict):
        raise InvalidInput(f"{source}: expected a mapping with the key 'slices'")
    unknown = sorted(set(doc) - {"slices"})
    if unknown:
        raise InvalidInput(f"{source}: unknown field '{unknown[0]}'; the file has 'slices'")
    body = doc.get("slices") or {}
    if not isinstance(body, dict):
        raise InvalidInput(f"{source}: slices: expected a mapping of slice name -> conditions")
    out = []
    for name, cond in body.items():
        where = f"{source}: slices.{name}"
        if not isinstance(name, str) or not name or name == ALL:
            raise InvalidInput(f"{where}: a slice name must be a non-empty string other than 'all'")
        if not isinstance(cond, dict) or not cond:
            raise InvalidInput(f"{where}: expected a mapping of field -> value")
        checked: dict[str, Any] = {}
        for key, value in cond.items():
            k = str(key)
            if k not in FIELDS[:-1] and not (k.startswith("metadata.") and len(k) > 9):
                raise InvalidInput(
                    f"{where}.{k}: unknown field '{k}'; allowed: {', '.join(FIELDS)}"
                )
            checked[k] = _check_condition(k, value, where)
        out.append(SliceDef(name, dict(sorted(checked.items()))))
    return out


def load_slices(path: str | Path) -> list[SliceDef]:
    """Read a slices YAML file."""
    import yaml

    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{p}: not readable YAML ({exc})") from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{p}: not readable YAML ({yaml_problem(exc)})") from None
    except RecursionError:
        raise InvalidInput(f"{p}: not readable YAML (nested too deep)") from None
    return parse_slices(doc, str(p))


def time_of_day(captured_at: object) -> str | None:
    """The part of the day of an ISO-8601 time ("2026-03-01T22:10:00" -> "night")."""
    if not isinstance(captured_at, str) or "T" not in captured_at:
        return None
    try:
        hour = int(captured_at.split("T", 1)[1][:2])
    except ValueError:
        return None
    for part, (start, end) in TIME_OF_DAY.items():
        if (start <= hour < end) if start < end else (hour >= start or hour < end):
            return part
    return None


def _match(series: pd.Series, value: Any) -> npt.NDArray[np.bool_]:
    wanted = set(_values(value))
    return np.asarray(series.map(lambda v: v is not None and str(v) in wanted), dtype=bool)


def slice_mask(
    items: pd.DataFrame, s: SliceDef, task: str = "classification"
) -> npt.NDArray[np.bool_]:
    """Which rows of the items table (see `_data.items_frame`) the slice holds.

    For detection `object_size` keeps the images with a box of that size to score, which the
    detection run adds as the columns ``scored_<size>`` (see `_detect.holds_size`).
    """
    mask = np.ones(len(items), dtype=bool)
    for key, value in s.where.items():
        if key == "geo_box":
            lo_lon, lo_lat, hi_lon, hi_lat = value
            lon, lat = items["lon"].to_numpy(float), items["lat"].to_numpy(float)
            with np.errstate(invalid="ignore"):
                mask &= (lon >= lo_lon) & (lon <= hi_lon) & (lat >= lo_lat) & (lat <= hi_lat)
        elif key == "object_size":
            column = f"scored_{value}" if task == "detection" else f"has_{value}"
            mask &= items[column].to_numpy(bool)
        elif key == "label":
            wanted = set(_values(value))
            mask &= np.asarray([bool(wanted & set(ls)) for ls in items["labels"]], dtype=bool)
        elif key == "marking":
            mask &= _match(items["marking_level"], value) | _match(items["marking"], value)
        elif key.startswith("metadata."):
            sub = key[9:]
            mask &= _match(items["metadata"].map(lambda m, k=sub: m.get(k)), value)
        else:
            mask &= _match(items[key], value)
    return mask


def slice_masks(
    items: pd.DataFrame, slices: Sequence[SliceDef], task: str = "classification"
) -> dict[str, npt.NDArray[np.bool_]]:
    """``all`` plus every slice, as boolean masks over the items table."""
    out = {ALL: np.ones(len(items), dtype=bool)}
    for s in slices:
        out[s.name] = slice_mask(items, s, task)
    return out

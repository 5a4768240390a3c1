"""Georeference helpers: pixel to WGS84 through an affine transform and pyproj, footprints,
ground sample distance."""

from __future__ import annotations

import math
from typing import Any

from assay.errors import InvalidInput, require


def to_wgs84(crs_wkt: str) -> Any:
    """A pyproj transformer from `crs_wkt` to WGS84 longitude/latitude.

    Raises:
        InvalidInput: pyproj does not know the CRS.
    """
    pyproj: Any = require("pyproj", "sensors")
    try:
        src = pyproj.CRS.from_wkt(crs_wkt)
        return pyproj.Transformer.from_crs(src, "EPSG:4326", always_xy=True)
    except pyproj.exceptions.CRSError as exc:
        raise InvalidInput(f"a CRS pyproj does not know ({exc})") from None


def apply(transform: tuple[float, ...], col: float, row: float) -> tuple[float, float]:
    a, b, c, d, e, f = transform[:6]
    return a * col + b * row + c, d * col + e * row + f


def window_transform(transform: tuple[float, ...], col: int, row: int) -> tuple[float, ...]:
    a, b, _, d, e, _ = transform[:6]
    x, y = apply(transform, col, row)
    return (a, b, x, d, e, y)


def pixel_to_wgs84(
    to_wgs84: Any, transform: tuple[float, ...], col: float, row: float
) -> tuple[float, float]:
    x, y = apply(transform, col, row)
    lon, lat = to_wgs84.transform(x, y)
    return float(lon), float(lat)


def footprint(
    to_wgs84: Any, transform: tuple[float, ...], col: int, row: int, width: int, height: int
) -> dict[str, Any]:
    """The window's outline as a GeoJSON polygon (corners UL, UR, LR, LL, closed)."""
    corners = [(col, row), (col + width, row), (col + width, row + height), (col, row + height)]
    ring = [pixel_to_wgs84(to_wgs84, transform, c, r) for c, r in corners]
    ring.append(ring[0])
    return {"type": "Polygon", "coordinates": [[[round(x, 8), round(y, 8)] for x, y in ring]]}


def gsd(transform: tuple[float, ...], crs: Any, row: float, col: float) -> float | None:
    """Ground sample distance in metres (the mean of a pixel's two sides)."""
    a, b, _, d, e, _ = transform[:6]
    sx, sy = math.hypot(a, d), math.hypot(b, e)
    if crs is None:
        return None
    if crs.is_geographic:
        pyproj: Any = require("pyproj", "sensors")
        geod = pyproj.Geod(ellps="WGS84")
        lon, lat = apply(transform, col, row)
        _, _, dx = geod.inv(lon, lat, lon + sx, lat)
        _, _, dy = geod.inv(lon, lat, lon, lat + sy)
        return round(float(abs(dx) + abs(dy)) / 2, 4)
    factor = float(crs.linear_units_factor[1]) if crs.linear_units_factor else 1.0
    return round((sx + sy) / 2 * factor, 4)

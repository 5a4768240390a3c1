"""Georeference helpers: pixel to WGS84 through an affine transform and pyproj or a frame's
corner homography, footprints, ground sample distance. pyproj is imported when first used."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

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


PixelMapper = Callable[[float, float], tuple[float, float]]


def homography(src: list[tuple[float, float]], dst: list[tuple[float, float]]) -> np.ndarray:
    """The 3x3 projective transform taking four `src` points to four `dst` points."""
    rows = []
    for (x, y), (u, v) in zip(src, dst, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y, -u])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y, -v])
    _, _, vt = np.linalg.svd(np.asarray(rows, dtype=float))
    h: np.ndarray = vt[-1].reshape(3, 3)
    out: np.ndarray = h / h[2, 2]
    return out


def pixel_mapper(
    metadata: dict[str, Any], width: int | None, height: int | None
) -> PixelMapper | None:
    """Pixel (x, y) of an item to WGS84 (lon, lat), from its georeference, or None.

    A chip maps through its affine transform and CRS; a video frame through the homography
    from its image corners to its footprint's corners (UL, UR, LR, LL)."""
    transform, crs = metadata.get("transform"), metadata.get("crs")
    if isinstance(transform, list) and len(transform) >= 6 and isinstance(crs, str):
        try:
            to = to_wgs84(_wkt(crs))
        except InvalidInput:
            return None
        t = tuple(float(v) for v in transform[:6])
        return lambda x, y: pixel_to_wgs84(to, t, x, y)
    ring = (metadata.get("footprint") or {}).get("coordinates") or []
    if width and height and ring and len(ring[0]) >= 4:
        corners = [(float(p[0]), float(p[1])) for p in ring[0][:4]]
        h = homography([(0, 0), (width, 0), (width, height), (0, height)], corners)

        def through(x: float, y: float) -> tuple[float, float]:
            u, v, w = h @ np.array([x, y, 1.0])
            return float(u / w), float(v / w)

        return through
    return None


def ground_mapper(
    metadata: dict[str, Any], width: int | None, height: int | None
) -> PixelMapper | None:
    """WGS84 (lon, lat) to pixel (x, y) of an item: the inverse of `pixel_mapper`, or None."""
    transform, crs = metadata.get("transform"), metadata.get("crs")
    if isinstance(transform, list) and len(transform) >= 6 and isinstance(crs, str):
        pyproj: Any = require("pyproj", "sensors")
        try:
            to = pyproj.Transformer.from_crs("EPSG:4326", _wkt(crs), always_xy=True)
        except (InvalidInput, pyproj.exceptions.CRSError):
            return None
        a, b, c, d, e, f = (float(v) for v in transform[:6])
        det = a * e - b * d
        if det == 0:
            return None

        def back(lon: float, lat: float) -> tuple[float, float]:
            x, y = to.transform(lon, lat)
            x, y = float(x) - c, float(y) - f
            return (e * x - b * y) / det, (a * y - d * x) / det

        return back
    ring = (metadata.get("footprint") or {}).get("coordinates") or []
    if width and height and ring and len(ring[0]) >= 4:
        corners = [(float(p[0]), float(p[1])) for p in ring[0][:4]]
        h = homography(corners, [(0, 0), (width, 0), (width, height), (0, height)])

        def through(lon: float, lat: float) -> tuple[float, float]:
            u, v, w = h @ np.array([lon, lat, 1.0])
            return float(u / w), float(v / w)

        return through
    return None


def _wkt(crs: str) -> str:
    pyproj: Any = require("pyproj", "sensors")
    return str(pyproj.CRS.from_user_input(crs).to_wkt())

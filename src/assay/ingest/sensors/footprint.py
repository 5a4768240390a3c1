"""The ground footprint of a video frame from its MISB ST 0601 telemetry, in WGS84.

In order of preference:

1. ``corners``: the four full-precision corner coordinates (tags 82-89);
2. ``offset_corners``: frame center (tags 23-24) plus the four corner offsets (tags 26-33);
3. ``target_width``: a rectangle centred on the frame center, ``target_width`` metres across
   (tag 22) and as tall as the frame's aspect ratio makes it, turned to the sensor's look
   azimuth (platform heading plus sensor relative azimuth);
4. ``sensor_geometry``: rays from the sensor position (tags 13-15) through the four corners
   of the field of view (tags 16-17), turned by the platform attitude (tags 5-7) and the
   sensor's relative angles (tags 18-20), intersected with a flat earth at the frame-center
   elevation (tag 25, else 0 m). This is an approximation: it ignores terrain and the earth's
   curvature, which matters at long slant ranges and low depression angles.

Corners go clockwise from the top-left of the image (ST 0601's corner point 1 is the upper
left, then upper right, lower right, lower left). Points are (longitude, latitude).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from assay.errors import require

Method = Literal["corners", "offset_corners", "target_width", "sensor_geometry"]
Point = tuple[float, float]


@dataclass(frozen=True)
class Footprint:
    corners: tuple[Point, Point, Point, Point]  # (lon, lat), image corners UL, UR, LR, LL
    method: Method

    def geojson(self) -> dict[str, object]:
        ring = [[round(x, 7), round(y, 7)] for x, y in (*self.corners, self.corners[0])]
        return {"type": "Polygon", "coordinates": [ring]}


def _geod() -> Any:
    pyproj: Any = require("pyproj", "sensors")
    return pyproj.Geod(ellps="WGS84")


def _num(values: Mapping[str, object], name: str) -> float | None:
    v = values.get(name)
    return float(v) if isinstance(v, int | float) else None


def footprint(values: Mapping[str, object], width: int, height: int) -> Footprint | None:
    """The frame's footprint from decoded telemetry values, or None where they do not
    carry enough to place it."""
    full = [_num(values, f"corner_{a}_{k}") for k in range(1, 5) for a in ("longitude", "latitude")]
    if all(v is not None for v in full):
        return Footprint(_pairs(full), "corners")
    lat0 = _num(values, "frame_center_latitude")
    lon0 = _num(values, "frame_center_longitude")
    if lat0 is not None and lon0 is not None:
        offs = [
            _num(values, f"offset_corner_{a}_{k}")
            for k in range(1, 5)
            for a in ("longitude", "latitude")
        ]
        if all(v is not None for v in offs):
            shifted = [
                (lon0 if i % 2 == 0 else lat0) + float(v)  # type: ignore[arg-type]
                for i, v in enumerate(offs)
            ]
            return Footprint(_pairs(shifted), "offset_corners")
        target = _num(values, "target_width")
        if target is not None and target > 0:
            look = _look_azimuth(values)
            half_w, half_h = target / 2, target * height / max(width, 1) / 2
            # image up is the look direction: UL is ahead-left, UR ahead-right ...
            local = [(-half_w, half_h), (half_w, half_h), (half_w, -half_h), (-half_w, -half_h)]
            return Footprint(_offsets(lon0, lat0, local, look), "target_width")
    return _from_sensor(values)


def _pairs(flat: Sequence[float | None]) -> tuple[Point, Point, Point, Point]:
    pts = [(float(flat[i] or 0.0), float(flat[i + 1] or 0.0)) for i in range(0, 8, 2)]
    return (pts[0], pts[1], pts[2], pts[3])


def _look_azimuth(values: Mapping[str, object]) -> float:
    heading = _num(values, "platform_heading") or 0.0
    return (heading + (_num(values, "sensor_relative_azimuth") or 0.0)) % 360


def _offsets(
    lon0: float, lat0: float, local: list[tuple[float, float]], azimuth: float
) -> tuple[Point, Point, Point, Point]:
    """Points given as (right, forward) metres from (lon0, lat0), forward along `azimuth`."""
    geod = _geod()
    out: list[Point] = []
    for right, forward in local:
        bearing = (azimuth + math.degrees(math.atan2(right, forward))) % 360
        lon, lat, _ = geod.fwd(lon0, lat0, bearing, math.hypot(right, forward))
        out.append((lon, lat))
    return (out[0], out[1], out[2], out[3])


def _rot(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Body-to-NED rotation for yaw (from north, clockwise), pitch (nose up), roll (right
    wing down), in degrees: the aerospace z-y-x sequence."""
    y, p, r = (math.radians(a) for a in (yaw, pitch, roll))
    rz = np.array([[math.cos(y), -math.sin(y), 0], [math.sin(y), math.cos(y), 0], [0, 0, 1]])
    ry = np.array([[math.cos(p), 0, math.sin(p)], [0, 1, 0], [-math.sin(p), 0, math.cos(p)]])
    rx = np.array([[1, 0, 0], [0, math.cos(r), -math.sin(r)], [0, math.sin(r), math.cos(r)]])
    out: np.ndarray = rz @ ry @ rx
    return out


def _from_sensor(values: Mapping[str, object]) -> Footprint | None:
    lat, lon = _num(values, "sensor_latitude"), _num(values, "sensor_longitude")
    alt = _num(values, "sensor_true_altitude")
    hfov, vfov = _num(values, "sensor_horizontal_fov"), _num(values, "sensor_vertical_fov")
    if None in (lat, lon, alt, hfov, vfov):
        return None
    assert lat is not None and lon is not None and alt is not None
    assert hfov is not None and vfov is not None
    ground = _num(values, "frame_center_elevation") or 0.0
    height = alt - ground
    if height <= 0:
        return None
    platform = _rot(
        _num(values, "platform_heading") or 0.0,
        _num(values, "platform_pitch_full") or _num(values, "platform_pitch") or 0.0,
        _num(values, "platform_roll_full") or _num(values, "platform_roll") or 0.0,
    )
    sensor = _rot(
        _num(values, "sensor_relative_azimuth") or 0.0,
        _num(values, "sensor_relative_elevation") or 0.0,
        _num(values, "sensor_relative_roll") or 0.0,
    )
    to_ned = platform @ sensor
    tx, ty = math.tan(math.radians(hfov / 2)), math.tan(math.radians(vfov / 2))
    # camera frame: x forward (boresight), y right, z down; image up is -z
    rays = [(1, -tx, -ty), (1, tx, -ty), (1, tx, ty), (1, -tx, ty)]
    local: list[tuple[float, float]] = []
    for ray in rays:
        n, e, d = to_ned @ np.array(ray, dtype=float)
        if d <= 1e-9:
            return None  # this corner looks at or above the horizon
        scale = height / d
        local.append((e * scale, n * scale))  # (east, north) metres
    return Footprint(_offsets(lon, lat, local, 0.0), "sensor_geometry")

"""Coordinates written in text reports, parsed into WGS84 points.

Three notations are recognised, as field teams write them:

- decimal degrees, ``29.7604, -95.3698`` or ``29.7604 N 95.3698 W`` (at least three
  decimals, or a hemisphere letter, so that "4.2 m" or "km 12" never match);
- degrees, minutes and seconds, ``29°45'37.4"N 95°22'11.3"W`` (also with ′ ″ and spaces);
- MGRS grid references, ``15R TN 70857 94589`` or ``15RTN7085794589`` (1 m to 10 km
  precision; converted with the `mgrs` package, the ``sensors`` extra).

>>> [(round(p.lat, 4), round(p.lon, 4)) for p in find_points("Roof rescue at 29.7604, -95.3698")]
[(29.7604, -95.3698)]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from assay.errors import require

_DEC = re.compile(
    r"(?<![\w.])(-?\d{1,2}\.\d+)\s*°?\s*([NS])?\s*[,;/ ]\s*(-?\d{1,3}\.\d+)\s*°?\s*([EW])?"
    r"(?!\w|\.\d)"  # a sentence's full stop may follow; another decimal part may not
)
_DMS = re.compile(
    r"(\d{1,2})\s*°\s*(\d{1,2})\s*['′]\s*(\d{1,2}(?:\.\d+)?)\s*(?:\"|″|'')?\s*([NS])[\s,;/]*"
    r"(\d{1,3})\s*°\s*(\d{1,2})\s*['′]\s*(\d{1,2}(?:\.\d+)?)\s*(?:\"|″|'')?\s*([EW])"
)
_MGRS = re.compile(
    r"\b(\d{1,2}[C-HJ-NP-X])\s?([A-HJ-NP-Z]{2})\s?(\d{1,5})\s?(\d{1,5})\b|"
    r"\b(\d{1,2}[C-HJ-NP-X])([A-HJ-NP-Z]{2})(\d{2}|\d{4}|\d{6}|\d{8}|\d{10})\b"
)


@dataclass(frozen=True)
class Place:
    lat: float
    lon: float
    notation: str  # decimal | dms | mgrs
    text: str  # as written

    def to_dict(self) -> dict[str, Any]:
        return {
            "lat": round(self.lat, 7),
            "lon": round(self.lon, 7),
            "notation": self.notation,
            "text": self.text,
        }


def _valid(lat: float, lon: float) -> bool:
    return -90 <= lat <= 90 and -180 <= lon <= 180


def find_points(text: str) -> list[Place]:
    """Every coordinate in `text`, in the order written."""
    found: list[tuple[int, Place]] = []
    taken: list[tuple[int, int]] = []

    def free(m: re.Match[str]) -> bool:
        return all(m.end() <= a or m.start() >= b for a, b in taken)

    for m in _DMS.finditer(text):
        d1, m1, s1, h1, d2, m2, s2, h2 = m.groups()
        lat = (int(d1) + int(m1) / 60 + float(s1) / 3600) * (-1 if h1 == "S" else 1)
        lon = (int(d2) + int(m2) / 60 + float(s2) / 3600) * (-1 if h2 == "W" else 1)
        if _valid(lat, lon) and int(m1) < 60 and int(m2) < 60:
            found.append((m.start(), Place(lat, lon, "dms", m.group(0).strip())))
            taken.append(m.span())
    for m in _DEC.finditer(text):
        if not free(m):
            continue
        a, ha, b, hb = m.groups()
        if not (ha or hb) and (len(a.split(".")[1]) < 3 or len(b.split(".")[1]) < 3):
            continue
        lat = float(a) * (-1 if ha == "S" else 1)
        lon = float(b) * (-1 if hb == "W" else 1)
        if _valid(lat, lon):
            found.append((m.start(), Place(lat, lon, "decimal", m.group(0).strip())))
            taken.append(m.span())
    for m in _MGRS.finditer(text):
        if not free(m):
            continue
        if m.group(1):
            zone, square, east, north = m.group(1), m.group(2), m.group(3), m.group(4)
            if len(east) != len(north):
                continue
            digits = east + north
        else:
            zone, square, digits = m.group(5), m.group(6), m.group(7)
        place = _mgrs(zone + square + digits, m.group(0).strip())
        if place is not None:
            found.append((m.start(), place))
            taken.append(m.span())
    return [p for _, p in sorted(found, key=lambda f: f[0])]


def _mgrs(ref: str, written: str) -> Place | None:
    mgrs: Any = require("mgrs", "sensors")
    try:
        lat, lon = mgrs.MGRS().toLatLon(ref)
    except Exception:  # not a grid reference after all (the library raises its own errors)
        return None
    return Place(float(lat), float(lon), "mgrs", written) if _valid(lat, lon) else None

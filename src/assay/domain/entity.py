"""Entities: fused objects in the world, and the picture they make together.

An `Entity` is what fusion believes is out there: a vehicle or a person at a position with an
uncertainty, moving with a velocity, seen first and last at given times, with a confidence, a
status, the highest classification marking of what it rests on, and provenance back to the
items (frames, chips, reports), annotations, model versions, evaluation runs and dataset
commits behind it. A `Picture` is one version of a named set of entities; pictures are saved
like dataset commits (content-identified, a parent each) and compared with `diff_entities`.

Positions are WGS84 longitude/latitude; uncertainty and velocity are in metres in the local
east/north plane at the entity.

Example:
    >>> a = Entity(id="e1", label="vehicle", cot_type="a-u-G-E-V-C", lon=-95.37, lat=29.76,
    ...            covariance=(4.0, 0.0, 4.0), first_seen="2026-07-25T17:20:00Z",
    ...            last_seen="2026-07-25T17:20:05Z", confidence=0.9, status="confirmed")
    >>> round(a.cep_m, 2)
    2.35
    >>> b = a.model_copy(update={"lon": -95.3699})
    >>> [c.kind for c in diff_entities([a], [b])]
    ['moved']
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from assay.domain.canonical import canonical_json

__all__ = [
    "COT_TYPES",
    "Entity",
    "EntityChange",
    "EntityStatus",
    "Picture",
    "Provenance",
    "TrackPoint",
    "cot_type_for",
    "diff_entities",
    "metres_between",
]

EntityStatus = Literal["new", "confirmed", "lost"]
ChangeKind = Literal["appeared", "moved", "lost", "reclassified"]

# Label-schema names to Cursor-on-Target types (MIL-STD-2525 function codes, unknown
# affiliation: fusion does not decide friend or foe). Labels not listed map to ground, `a-u-G`.
COT_TYPES: dict[str, str] = {
    "vehicle": "a-u-G-E-V-C",
    "car": "a-u-G-E-V-C",
    "truck": "a-u-G-E-V-C",
    "bus": "a-u-G-E-V-C",
    "boat": "a-u-S-X",
    "person": "a-u-G-U-C",
    "people": "a-u-G-U-C",
}
DEFAULT_COT_TYPE = "a-u-G"

# A move shorter than this (metres) or than the entity's own 2-sigma uncertainty is noise.
MOVE_THRESHOLD_M = 5.0
EARTH_RADIUS_M = 6_371_008.8


def cot_type_for(label: str, overrides: Mapping[str, str] | None = None) -> str:
    """The CoT type of a label: `overrides` first, then `COT_TYPES`, else `a-u-G`."""
    key = label.lower()
    if overrides and key in overrides:
        return overrides[key]
    return COT_TYPES.get(key, DEFAULT_COT_TYPE)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Provenance(_Frozen):
    """What an entity rests on. Every tuple is sorted and free of repeats.

    `items` are item ids (video frames, scene chips, text reports); `annotations` the
    annotation ids of human or model labels read from the workspace; `models` the authors of
    model detections as `model:NAME@VERSION`; `eval_runs` the evaluation runs whose precision
    weighted them; `commits` the dataset commits the labels were read from; `sources` the
    `--from` sources of `assay fuse` that contributed (e.g. `predictions:dets.jsonl`,
    `reports:field.jsonl`); `reports` the ids of field-report mentions resolved to the entity.
    """

    items: tuple[str, ...] = ()
    annotations: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    eval_runs: tuple[str, ...] = ()
    commits: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    reports: tuple[str, ...] = ()

    def merged(self, other: Provenance) -> Provenance:
        data = {
            k: tuple(sorted(set(getattr(self, k)) | set(getattr(other, k))))
            for k in Provenance.model_fields
        }
        return Provenance(**data)


class TrackPoint(_Frozen):
    """One fused position of the entity's track (after the filter's update at `time`)."""

    time: str
    lon: float
    lat: float


class Entity(_Frozen):
    """A fused object in the world.

    Attributes:
        id: stable across versions of a picture (made from the first detection it rests on).
        label: the class from the label schema (``vehicle``, ``person``...).
        cot_type: the Cursor-on-Target type, e.g. ``a-u-G-E-V-C``.
        lon, lat: WGS84 degrees; hae: height above the ellipsoid in metres, when known.
        covariance: position covariance in m² as (east-east, east-north, north-north).
        velocity: (east, north) in metres per second.
        first_seen, last_seen: ISO 8601 UTC of the first and last detection.
        confidence: 0..1, see `assay.fusion.confidence`.
        status: ``new`` (tentative), ``confirmed``, or ``lost`` (no detection for a while).
        marking: the highest marking of the sources, rendered (``CUI/FLOOD``).
        detections: how many detections were associated with it (corroboration count).
        sensors: the distinct sensors (or report sources) that saw it.
        track: its fused positions over time, oldest first (thinned to at most 200).
    """

    id: str
    label: str
    cot_type: str = DEFAULT_COT_TYPE
    lon: float
    lat: float
    hae: float | None = None
    covariance: tuple[float, float, float] = (25.0, 0.0, 25.0)
    velocity: tuple[float, float] = (0.0, 0.0)
    first_seen: str
    last_seen: str
    confidence: float = Field(ge=0.0, le=1.0)
    status: EntityStatus = "new"
    marking: str = ""
    detections: int = 0
    sensors: tuple[str, ...] = ()
    provenance: Provenance = Provenance()
    track: tuple[TrackPoint, ...] = ()

    @property
    def sigma_m(self) -> tuple[float, float]:
        """Standard deviations east and north, metres."""
        return math.sqrt(max(self.covariance[0], 0.0)), math.sqrt(max(self.covariance[2], 0.0))

    @property
    def cep_m(self) -> float:
        """Circular error probable (50 %), metres: 0.5887 (σe + σn), the usual approximation
        (within 3 % while the two sigmas differ by less than a factor of 3)."""
        se, sn = self.sigma_m
        return 0.5887 * (se + sn)

    @property
    def ce_m(self) -> float:
        """Circular 1-sigma error, metres (what CoT's ``ce`` attribute means)."""
        return math.sqrt((self.covariance[0] + self.covariance[2]) / 2)

    @property
    def speed_mps(self) -> float:
        return math.hypot(*self.velocity)

    @property
    def course_deg(self) -> float:
        """Direction of travel, degrees clockwise from true north."""
        return math.degrees(math.atan2(self.velocity[0], self.velocity[1])) % 360


class Picture(_Frozen):
    """One saved version of a named picture.

    `id` is the sha256 of the canonical header (name, parent, created, author, message,
    the entities blob, stats, marking, sources), so a version cannot be altered unseen.
    `seq` counts versions from 1. `entities_blob` is the sha256 of the canonical JSON list of
    entities in the workspace's blob store.
    """

    id: str
    name: str
    seq: int
    parent: str | None
    created: str
    author: str
    message: str
    entities_blob: str
    stats: dict[str, int | float] = {}
    marking: str = ""
    sources: tuple[str, ...] = ()

    @staticmethod
    def make_id(header: Mapping[str, object]) -> str:
        return hashlib.sha256(canonical_json(dict(header)).encode()).hexdigest()

    def header(self) -> dict[str, object]:
        data = self.model_dump(mode="json")
        data.pop("id")
        return data

    def verify(self) -> bool:
        return self.id == self.make_id(self.header())


@dataclass(frozen=True)
class EntityChange:
    """One difference between two pictures: ``appeared`` (only in the newer), ``lost``
    (only in the older, or its status turned to lost), ``moved`` (further than its
    uncertainty and `MOVE_THRESHOLD_M`), ``reclassified`` (another label)."""

    kind: ChangeKind
    entity: str
    before: Entity | None
    after: Entity | None
    distance_m: float = 0.0

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"kind": self.kind, "entity": self.entity}
        if self.before is not None:
            out["before"] = {"label": self.before.label, "lon": self.before.lon,
                             "lat": self.before.lat, "status": self.before.status}  # fmt: skip
        if self.after is not None:
            out["after"] = {"label": self.after.label, "lon": self.after.lon,
                            "lat": self.after.lat, "status": self.after.status}  # fmt: skip
        if self.kind == "moved":
            out["distance_m"] = round(self.distance_m, 2)
        return out


def metres_between(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres (haversine; plenty for moves within a town)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def diff_entities(before: Iterable[Entity], after: Iterable[Entity]) -> list[EntityChange]:
    """What changed from one picture to the next, by entity id, in id order.

    An entity can be both reclassified and moved; it then yields two changes.
    """
    old = {e.id: e for e in before}
    new = {e.id: e for e in after}
    changes: list[EntityChange] = []
    for eid in sorted(old.keys() | new.keys()):
        a, b = old.get(eid), new.get(eid)
        if a is None or (a.status == "lost" and b is not None and b.status != "lost"):
            changes.append(EntityChange("appeared", eid, a, b))
            continue
        if b is None or (b.status == "lost" and a.status != "lost"):
            changes.append(EntityChange("lost", eid, a, b))
            continue
        if a.label != b.label:
            changes.append(EntityChange("reclassified", eid, a, b))
        d = metres_between(a.lon, a.lat, b.lon, b.lat)
        if d > max(MOVE_THRESHOLD_M, 2 * max(a.ce_m, b.ce_m)):
            changes.append(EntityChange("moved", eid, a, b, d))
    return changes

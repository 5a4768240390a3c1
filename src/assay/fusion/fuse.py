"""`assay fuse NAME --from SOURCE...`: sources -> scans -> tracks -> entities -> a picture.

Confidence of an entity: each distinct sensor s that saw it (a video, a track of a track file,
a report source) contributes its mean detector score times the mean reliability of the
sources of those detections, and the contributions combine as independent corroboration::

    confidence = 1 - prod_s (1 - r_s * score_s)

- score_s: the detector's score (1 for people's labels, reports and external tracks);
- r_s, the source's measured reliability (`assay.fusion.reliability`): a model's precision
  from its newest evaluation run; for people's labels the quality module's score of the
  label's authors on the dataset (box corroboration, choice accuracy against the aggregate);
  else the source kind's default (`sources.DEFAULT_RELIABILITY`);
- corroboration: one term a sensor, so two drones agreeing on a target beat one, and a
  report resolved onto the entity adds its own term (a sure report lifts a faint detection).

Report mentions resolve to the nearest entity of the same label whose position at the report's
time lies within 3 combined standard deviations (the report's CEP and the track's); a mention
with none becomes an entity of its own (status new, the report's place and uncertainty).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from assay.domain.entity import Entity, Picture, Provenance, TrackPoint, cot_type_for
from assay.errors import InvalidInput
from assay.fusion import pictures
from assay.fusion.sources import (
    Mention,
    Observation,
    parse_source,
    read_source,
    source_marking,
)
from assay.fusion.tracker import Fuser, Params, Plane, TrackResult, scans
from assay.timeutil import iso_at

if TYPE_CHECKING:
    from assay.workspace import Workspace

__all__ = [
    "FuseResult",
    "Tally",
    "fuse",
    "parse_since",
    "place_mentions",
    "run_tracker",
    "thinned",
    "to_entities",
    "track_entity",
    "track_point",
]

T = TypeVar("T")
CEP_TO_SIGMA = 1.1774  # CEP50 of a circular normal is 1.1774 sigma
MAX_TRACK_POINTS = 200


@dataclass
class FuseResult:
    picture: Picture
    entities: list[Entity]
    fuser: Fuser
    observations: list[Observation]
    mentions: list[Mention]
    resolved: dict[str, str] = field(default_factory=dict)  # mention id -> entity id
    stats: dict[str, Any] = field(default_factory=dict)


def run_tracker(
    observations: Sequence[Observation],
    params: Params,
    progress: Callable[[int, int], None] | None = None,
) -> Fuser:
    """Feed the observations scan by scan through a `Fuser`."""
    fuser = Fuser(params)
    grouped = scans(observations, params.scan_s)
    for i, (time, obs) in enumerate(grouped):
        fuser.update(time, obs)
        if progress:
            progress(i + 1, len(grouped))
    return fuser


class Tally:
    """What a track's detections add up to: provenance, confidence terms, markings, sensors.

    `add` takes one detection at a time, so the live path keeps a track's tally as the track
    is updated instead of summing its whole history for every version; `assay fuse` adds a
    track's detections once. Either way the sums run in the detections' order, so both give
    the same numbers."""

    __slots__ = ("detections", "markings", "prov", "sensors", "terms")

    def __init__(self) -> None:
        self.prov: dict[str, set[str]] = {k: set() for k in Provenance.model_fields}
        self.terms: dict[str, list[float]] = {}  # sensor -> [sum of scores, of reliabilities, n]
        self.markings: set[str] = set()
        self.sensors: set[str] = set()
        self.detections = 0

    def add(self, o: Observation) -> None:
        self._merge(o.provenance)
        self._term(o.sensor, o.score, o.reliability)
        self.markings.add(o.marking)
        self.sensors.add(o.sensor)
        self.detections += 1

    def with_reports(self, reports: Sequence[Mention]) -> Tally:
        """This tally and `reports`' terms, provenance and markings (a copy when any)."""
        if not reports:
            return self
        out = Tally()
        out.prov = {k: set(v) for k, v in self.prov.items()}
        out.terms = {k: list(v) for k, v in self.terms.items()}
        out.markings, out.sensors = set(self.markings), set(self.sensors)
        out.detections = self.detections
        for m in reports:
            out._merge(m.provenance)
            out._term(m.source, 1.0, m.reliability)
            out.markings.add(m.marking)
            out.sensors.add(m.source)
        return out

    def _merge(self, prov: Provenance) -> None:
        for k, have in self.prov.items():
            have.update(getattr(prov, k))

    def _term(self, sensor: str, score: float, reliability: float) -> None:
        t = self.terms.get(sensor)
        if t is None:
            self.terms[sensor] = [score, reliability, 1]
        else:
            t[0] += score
            t[1] += reliability
            t[2] += 1

    def provenance(self) -> Provenance:
        return Provenance(**{k: tuple(sorted(v)) for k, v in self.prov.items()})

    def confidence(self) -> float:
        """Independent corroboration of the sensors' mean score x reliability (see above)."""
        miss = 1.0
        for score, reliability, n in self.terms.values():
            miss *= 1 - (reliability / n) * (score / n)
        return round(1 - miss, 4)


def to_entities(
    ws: Workspace, fuser: Fuser, mentions: Sequence[Mention], params: Params, end: float
) -> tuple[list[Entity], dict[str, str]]:
    """Entities from the tracker's tracks, with the report mentions resolved onto them."""
    plane = fuser.plane
    return place_mentions(
        ws,
        fuser.results(),
        plane,
        mentions,
        lambda r, reports: _entity(ws, r, reports, plane, params, end),
    )


def place_mentions(
    ws: Workspace,
    results: Sequence[TrackResult],
    plane: Plane | None,
    mentions: Sequence[Mention],
    entity_of: Callable[[TrackResult, list[Mention]], Entity],
) -> tuple[list[Entity], dict[str, str]]:
    """The entities of `results` (made by `entity_of` with the mentions resolved onto each)
    and of the mentions resolved onto none; and which entity each mention went to."""
    resolved: dict[str, str] = {}
    attached: dict[str, list[Mention]] = defaultdict(list)
    loose: list[Mention] = []
    for m in sorted(mentions, key=lambda m: m.id):
        hit = _resolve(m, results, plane) if plane else None
        if hit is None:
            loose.append(m)
        else:
            attached[hit.key].append(m)
            resolved[m.id] = hit.key
    out = [entity_of(r, attached[r.key]) for r in results if plane]
    for m in loose:
        e = _mention_entity(ws, m)
        resolved[m.id] = e.id
        out.append(e)
    return sorted(out, key=lambda e: e.id), resolved


def _state_at(r: TrackResult, t: float) -> tuple[np.ndarray, np.ndarray] | None:
    near = min(r.states, key=lambda s: abs(s[0] - t))
    return (near[1], near[2]) if abs(near[0] - t) <= 5.0 else None


def _resolve(m: Mention, results: Sequence[TrackResult], plane: Plane) -> TrackResult | None:
    mx, my = plane.xy(m.lon, m.lat)
    sigma_r = m.cep_m / CEP_TO_SIGMA
    best: tuple[float, TrackResult] | None = None
    for r in results:
        if r.label != m.label:
            continue
        at = _state_at(r, m.time)
        if at is None:
            continue
        state, cov = at
        d = math.hypot(state[0] - mx, state[2] - my)
        sigma_t = math.sqrt((cov[0, 0] + cov[2, 2]) / 2)
        if d <= 3 * math.hypot(sigma_r, sigma_t) and (best is None or d < best[0]):
            best = (d, r)
    return best[1] if best else None


def _entity(
    ws: Workspace,
    r: TrackResult,
    reports: Sequence[Mention],
    plane: Plane | None,
    params: Params,
    end: float,
) -> Entity:
    if plane is None:
        raise InvalidInput("no observations to place entities")
    tally = Tally()
    for o in r.members:
        tally.add(o)
    return track_entity(ws, r, tally, track_points(r.states, plane), reports, plane, params, end)


def track_point(state: tuple[float, np.ndarray, np.ndarray], plane: Plane) -> TrackPoint:
    lon, lat = plane.lonlat(float(state[1][0]), float(state[1][2]))
    return TrackPoint(time=iso_at(state[0]), lon=lon, lat=lat)


def track_points(states: Sequence[tuple[float, Any, Any]], plane: Plane) -> list[TrackPoint]:
    return [track_point(s, plane) for s in states]


def track_entity(
    ws: Workspace,
    r: TrackResult,
    tally: Tally,
    points: Sequence[TrackPoint],
    reports: Sequence[Mention],
    plane: Plane,
    params: Params,
    end: float,
) -> Entity:
    """The entity of track `r`: `tally` sums its detections, `points` is one a state."""
    _, state, cov = r.states[-1]
    lon, lat = plane.lonlat(float(state[0]), float(state[2]))
    whole = tally.with_reports(reports)
    if r.deleted or end - r.last_update > params.lost_after_s:
        status = "lost"
    else:
        status = "confirmed" if r.last_update - r.first >= params.confirm_s else "new"
    return Entity(
        id=r.key,
        label=r.label,
        cot_type=cot_type_for(r.label),
        lon=round(lon, 8),
        lat=round(lat, 8),
        covariance=(
            round(float(cov[0, 0]), 4),
            round(float(cov[0, 2]), 4),
            round(float(cov[2, 2]), 4),
        ),
        velocity=(round(float(state[1]), 4), round(float(state[3]), 4)),
        first_seen=iso_at(r.first),
        last_seen=iso_at(
            max(r.last_update, *(m.time for m in reports)) if reports else r.last_update
        ),
        confidence=whole.confidence(),
        status=status,
        marking=ws.scheme.highest_text(whole.markings),
        detections=whole.detections,
        sensors=tuple(sorted(whole.sensors)),
        provenance=whole.provenance(),
        track=tuple(thinned(points)),
    )


def thinned(points: Sequence[T]) -> Sequence[T]:
    """A track's points, every n-th so that at most `MAX_TRACK_POINTS` remain."""
    return points[:: max(1, math.ceil(len(points) / MAX_TRACK_POINTS))]


def _mention_entity(ws: Workspace, m: Mention) -> Entity:
    import hashlib

    var = round((m.cep_m / CEP_TO_SIGMA) ** 2, 4)
    return Entity(
        id="ent-" + hashlib.sha256(f"{m.source}:{m.id}".encode()).hexdigest()[:12],
        label=m.label,
        cot_type=cot_type_for(m.label),
        lon=m.lon,
        lat=m.lat,
        covariance=(var, 0.0, var),
        first_seen=iso_at(m.time),
        last_seen=iso_at(m.time),
        confidence=round(m.reliability, 4),
        status="new",
        marking=ws.scheme.render(ws.scheme.parse(m.marking)),
        detections=0,
        sensors=(m.source,),
        provenance=m.provenance,
    )


def parse_since(since: str | None) -> float | None:
    """`--since T` as seconds since the epoch (a time without a zone is UTC)."""
    if since is None:
        return None
    try:
        when = datetime.fromisoformat(since)
    except ValueError:
        raise InvalidInput(f"--since {since!r}: expected an ISO 8601 time") from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def fuse(
    ws: Workspace,
    name: str,
    sources: Sequence[str],
    *,
    since: str | None = None,
    params: Params | None = None,
    message: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    marking: str | None = None,
) -> FuseResult:
    """Fuse `sources` into the next version of picture `name` (see the module docstring).

    `marking` is what report and track rows take at least; a row stating no marking of its
    own is refused without it (`assay.fusion.sources`).

    Raises:
        InvalidInput: a bad source, a bad line in one (named), or nothing to fuse.
    """
    params = params or Params()
    if not sources:
        raise InvalidInput("name at least one source with --from KIND:WHAT")
    fallback = source_marking(ws, marking)
    parsed = [parse_source(s, fallback) for s in sources]
    t_since = parse_since(since)
    observations: list[Observation] = []
    mentions: list[Mention] = []
    unplaced: list[str] = []
    for src in parsed:
        obs, ms = read_source(ws, src, t_since, unplaced)
        observations.extend(obs)
        mentions.extend(ms)
    if not observations and not mentions:
        raise InvalidInput(
            "the sources hold nothing to fuse" + (f" since {since}" if since else "")
        )
    fuser = run_tracker(observations, params, progress)
    end = max([o.time for o in observations] + [m.time for m in mentions])
    found, resolved = to_entities(ws, fuser, mentions, params, end)
    stats: dict[str, int | float] = {
        "observations": len(observations),
        "mentions": len(mentions),
        "scans": len(scans(observations, params.scan_s)),
        "mentions_resolved": sum(
            1 for m in mentions if resolved[m.id] in {r.key for r in fuser.results()}
        ),
    }
    if unplaced:  # report items with labelled spans but no coordinate in their text
        stats["report_items_unplaced"] = len(unplaced)
    pic = pictures.save(
        ws,
        name,
        found,
        message=message
        or f"fused {len(observations)} observations, "
        f"{len(mentions)} report mentions from {len(parsed)} source(s)",
        sources=[s.name for s in parsed],
        stats=stats,
    )
    return FuseResult(pic, found, fuser, observations, mentions, resolved, dict(stats))

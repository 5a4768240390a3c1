"""Scan-by-scan fusion: multi-sensor duplicates merged per scan, then Stone Soup tracks.

Each scan (observations within `scan_s` of each other) is first clustered across sensors:
one sensor's detections seed clusters, every further sensor's detections of the same label
join them by an optimal assignment on distance within `gate_m` (a sensor sees a target at most
once a scan), and the unmatched start clusters of their own. A cluster becomes one measurement
at the information-weighted mean of its members, with their combined covariance widened by
their spread (two drones' georegistration biases disagree by metres). Without this step
(`fuse_scans=False`, the plain tracker) two sensors seeing one target give two detections a
scan and a global-nearest-neighbour tracker, which takes one detection a track a scan, starts
a second track on the other.

Tracking is Stone Soup's (Dstl): a constant-velocity Kalman filter in a local east/north
plane, `MultiMeasurementInitiator` (a track needs `min_points` associated measurements) and a
time-since-update deleter; one tracker a label. Two associators (`Params.associator`):

- ``gnn`` (the default): a Mahalanobis-distance hypothesiser with global-nearest-neighbour
  assignment (`GNNWith2DAssignment`): each track takes at most one measurement a scan.
- ``jpda``: Stone Soup's `JPDA` over a `PDAHypothesiser` (clutter density and detection
  probability from `Params`), the posterior the `PDAUpdater`'s mixture of every gated
  measurement weighted by its joint association probability. The measurement a track rests
  on (its provenance) is the most probable one; a scan whose most probable hypothesis is a
  miss is a prediction (mixture state), not an update. Every measurement inside a track's
  gate counts as explained by it: initiation never starts a track from it.

bench/fusion.py compares the two on simulated scenarios (bench/README.md, fusion section).

`Fuser(params, engine="numpy")` (``gnn`` only; `assay fuse --follow` uses it) steps the same
tracker written with arrays (`assay.fusion.kalman`): the same tracks and states, several times
less CPU a scan.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from assay.errors import InvalidInput, require
from assay.fusion import kalman
from assay.fusion.gating import constant_velocity, gated
from assay.fusion.kalman import Measurement, NumpyLabelTracker
from assay.fusion.sources import Observation

__all__ = [
    "ASSOCIATORS",
    "Cluster",
    "Fuser",
    "Params",
    "Snapshot",
    "TrackResult",
    "cluster_scan",
    "scans",
]

EARTH_M_PER_DEG = 111_320.0
ASSOCIATORS = ("gnn", "jpda")
ENGINES = ("stonesoup", "numpy")  # numpy: `assay.fusion.kalman`, Stone Soup's GNN in numpy
# JPDA's gate: the chi-square (2 dof) mass inside Mahalanobis distance 4, the GNN's gate;
# Stone Soup's default (0.95, about 2.4 sigma) loses a turning vehicle.
PDA_GATE = 0.99966


@dataclass(frozen=True)
class Params:
    """Tuning of a fusion run (defaults fit drones at 300 m over a town)."""

    scan_s: float = 0.5
    gate_m: float = 15.0  # the most two sensors' positions of one target differ in a scan
    min_points: int = 3  # measurements before a track is reported (clutter rarely lines up)
    lost_after_s: float = 3.0  # no measurement this long: the track is lost
    confirm_s: float = 2.0  # a track older than this is confirmed, younger ones are new
    accel: dict[str, float] = field(default_factory=lambda: {"person": 0.05, "vehicle": 0.5})
    fuse_scans: bool = True
    associator: str = "gnn"  # gnn | jpda
    # JPDA only: false detections a square metre a scan, and the chance a target is seen.
    clutter_density: float = 2e-5
    p_detect: float = 0.9


@dataclass(frozen=True)
class Cluster:
    """One fused measurement: the observations of one target in one scan."""

    time: float
    label: str
    x: float
    y: float
    cov: np.ndarray  # 2x2, m²
    members: tuple[Observation, ...]


@dataclass
class Snapshot:
    """A live track's estimate after a scan (what the metrics score)."""

    time: float
    track: str
    label: str
    x: float
    y: float


@dataclass
class TrackResult:
    key: str
    label: str
    states: list[tuple[float, np.ndarray, np.ndarray]]  # time, [x, vx, y, vy], covariance
    members: list[Observation]
    first: float
    last_update: float
    deleted: bool = False


class Plane:
    """Local east/north metres around a reference point (equirectangular; fine in a town)."""

    def __init__(self, lon0: float, lat0: float) -> None:
        self.lon0, self.lat0 = lon0, lat0
        self.kx = EARTH_M_PER_DEG * math.cos(math.radians(lat0))
        self.ky = EARTH_M_PER_DEG

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        return (lon - self.lon0) * self.kx, (lat - self.lat0) * self.ky

    def lonlat(self, x: float, y: float) -> tuple[float, float]:
        return self.lon0 + x / self.kx, self.lat0 + y / self.ky


def scans(obs: Sequence[Observation], scan_s: float) -> list[tuple[float, list[Observation]]]:
    """Observations grouped by scan (time rounded to the scan grid from the first), in order."""
    if not obs:
        return []
    t0 = min(o.time for o in obs)
    groups: dict[int, list[Observation]] = defaultdict(list)
    for o in obs:
        groups[round((o.time - t0) / scan_s)].append(o)
    return [(t0 + k * scan_s, sorted(groups[k], key=lambda o: o.key)) for k in sorted(groups)]


def _cov(o: Observation) -> np.ndarray:
    ee, en, nn = o.cov
    return np.array([[ee, en], [en, nn]], dtype=float)


def cluster_scan(
    time: float, obs: Sequence[Observation], plane: Plane, gate_m: float, fuse: bool
) -> list[Cluster]:
    """The scan's measurements: clusters across sensors (or one per observation)."""
    from scipy.optimize import linear_sum_assignment

    out: list[Cluster] = []
    by_label: dict[str, list[Observation]] = defaultdict(list)
    for o in obs:
        by_label[o.label].append(o)
    for label, group in sorted(by_label.items()):
        if not fuse:
            out.extend(_merge(time, label, [o], plane) for o in group)
            continue
        by_sensor: dict[str, list[Observation]] = defaultdict(list)
        for o in group:
            by_sensor[o.sensor].append(o)
        clusters: list[list[Observation]] = []
        for sensor in sorted(by_sensor):
            mine = by_sensor[sensor]
            if clusters:
                centres = np.array([_mean_xy(c, plane) for c in clusters])
                pts = np.array([plane.xy(o.lon, o.lat) for o in mine])
                cost = np.linalg.norm(centres[:, None, :] - pts[None, :, :], axis=2)
                rows, cols = linear_sum_assignment(np.where(cost <= gate_m, cost, 1e9))
                taken = set()
                for r, c in zip(rows, cols, strict=True):
                    if cost[r, c] <= gate_m:
                        clusters[r].append(mine[c])
                        taken.add(c)
                clusters.extend([o] for i, o in enumerate(mine) if i not in taken)
            else:
                clusters.extend([o] for o in mine)
        out.extend(_merge(time, label, c, plane) for c in clusters)
    return out


def _mean_xy(members: Sequence[Observation], plane: Plane) -> tuple[float, float]:
    pts = np.array([plane.xy(o.lon, o.lat) for o in members])
    mean = pts.mean(axis=0)
    return float(mean[0]), float(mean[1])


def _merge(time: float, label: str, members: Sequence[Observation], plane: Plane) -> Cluster:
    pts = np.array([plane.xy(o.lon, o.lat) for o in members])
    infos = [np.linalg.inv(_cov(o)) for o in members]
    cov = np.linalg.inv(sum(infos))
    mean = cov @ sum(i @ p for i, p in zip(infos, pts, strict=True))
    if len(members) > 1:
        d = pts - mean
        cov = cov + d.T @ d / len(members)  # the sensors' disagreement is error too
    return Cluster(time, label, float(mean[0]), float(mean[1]), cov, tuple(members))


def _utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC)


class _LabelTracker:
    """Stone Soup's components for one label, stepped one scan at a time."""

    def __init__(self, accel: float, params: Params) -> None:
        require("stonesoup", "fusion")
        from stonesoup.dataassociator.neighbour import GNNWith2DAssignment
        from stonesoup.deleter.time import UpdateTimeDeleter
        from stonesoup.hypothesiser.distance import DistanceHypothesiser
        from stonesoup.initiator.simple import MultiMeasurementInitiator
        from stonesoup.measures import Mahalanobis
        from stonesoup.predictor.kalman import KalmanPredictor
        from stonesoup.types.state import GaussianState
        from stonesoup.updater.kalman import KalmanUpdater

        transition = constant_velocity(accel)
        self.predictor = KalmanPredictor(transition)
        self.updater = KalmanUpdater(measurement_model=None)
        self.jpda = params.associator == "jpda"
        if self.jpda:
            from stonesoup.dataassociator.probability import JPDA
            from stonesoup.hypothesiser.probability import PDAHypothesiser
            from stonesoup.updater.probability import PDAUpdater

            # GM reduction: each measurement updates with its own covariance (a fused
            # cluster's), which the innovation form's one measurement model cannot hold.
            self.pda_updater = PDAUpdater(measurement_model=None, gm_method=True)
            self.associator: Any = JPDA(
                PDAHypothesiser(
                    self.predictor,
                    self.pda_updater,
                    clutter_spatial_density=params.clutter_density,
                    prob_detect=params.p_detect,
                    prob_gate=PDA_GATE,
                )
            )
        else:
            hypothesiser = gated(
                DistanceHypothesiser(
                    self.predictor, self.updater, measure=Mahalanobis(), missed_distance=4
                ),
                accel,
            )
            self.associator = GNNWith2DAssignment(hypothesiser)
        self.deleter = UpdateTimeDeleter(timedelta(seconds=params.lost_after_s))
        prior = GaussianState(np.zeros((4, 1)), np.diag([100.0, 25.0, 100.0, 25.0]))
        init_deleter = UpdateTimeDeleter(timedelta(seconds=params.scan_s * 2.5))
        self.initiator = MultiMeasurementInitiator(
            prior,
            deleter=init_deleter,
            data_associator=GNNWith2DAssignment(
                gated(
                    DistanceHypothesiser(
                        self.predictor, self.updater, Mahalanobis(), missed_distance=4
                    ),
                    accel,
                )
            ),
            updater=self.updater,
            min_points=params.min_points,
        )
        self.tracks: set[Any] = set()

    def step(self, when: datetime, detections: set[Any]) -> tuple[set[Any], set[Any]]:
        """Update with one scan; returns the tracks alive after it and those deleted by it."""
        hypotheses = self.associator.associate(self.tracks, detections, when)
        used = set()
        for track in self.tracks:
            h = hypotheses[track]
            if self.jpda:
                used |= self._pda_step(track, h, when)
            elif h.measurement is not None and h:
                track.append(self.updater.update(h))
                used.add(h.measurement)
            else:
                track.append(h.prediction)
        deleted = self.deleter.delete_tracks(self.tracks)
        self.tracks -= deleted
        self.tracks |= self.initiator.initiate(detections - used, when)
        return self.tracks, deleted

    def _pda_step(self, track: Any, multi: Any, when: datetime) -> set[Any]:
        """One JPDA update: the mixture posterior, resting on the most probable measurement."""
        from stonesoup.types.prediction import GaussianStatePrediction
        from stonesoup.types.update import GaussianStateUpdate

        best = max(multi, key=lambda h: float(h.probability))
        gated = {h.measurement for h in multi if h}
        if not best:  # a miss is the most probable: no update, the mixture is a prediction
            if gated:
                mixed = self.pda_updater.update(multi)
                track.append(GaussianStatePrediction(mixed.state_vector, mixed.covar, when))
            else:
                track.append(best.prediction)
            return gated
        mixed = self.pda_updater.update(multi)
        track.append(GaussianStateUpdate(mixed.state_vector, mixed.covar, best, when))
        return gated


class Fuser:
    """Feed scans in time order; read the tracks (and per-scan snapshots) back.

    Example (with the `fusion` extra)::

        fuser = Fuser(Params())
        for time, obs in scans(observations, 0.5):
            fuser.update(time, obs)
        results = fuser.results()
    """

    def __init__(self, params: Params, *, engine: str = "stonesoup") -> None:
        if params.associator not in ASSOCIATORS:
            raise InvalidInput(
                f"associator {params.associator!r}: expected one of {', '.join(ASSOCIATORS)}"
            )
        if engine not in ENGINES or (engine == "numpy" and params.associator != "gnn"):
            raise InvalidInput(
                f"tracker engine {engine!r} with associator {params.associator!r}: expected "
                "stonesoup, or numpy with gnn"
            )
        self.params = params
        self.engine = engine  # numpy: `assay.fusion.kalman`, Stone Soup's GNN in numpy (live)
        self.plane: Plane | None = None
        self.trackers: dict[str, Any] = {}
        self.snapshots: list[Snapshot] = []
        self._keys: dict[int, str] = {}
        self._deleted: list[Any] = []
        self._labels: dict[int, str] = {}

    def update(self, time: float, obs: Sequence[Observation]) -> list[Cluster]:
        if self.plane is None and obs:
            self.plane = Plane(obs[0].lon, obs[0].lat)
        if self.plane is None:
            return []
        clusters = cluster_scan(time, obs, self.plane, self.params.gate_m, self.params.fuse_scans)
        when = _utc(time)
        by_label = self._detections(clusters, when)
        for label in sorted(by_label.keys() | self.trackers.keys()):
            if label not in self.trackers:
                accel = self.params.accel.get(label, 0.5)
                self.trackers[label] = (
                    NumpyLabelTracker(accel, self.params)
                    if self.engine == "numpy"
                    else _LabelTracker(accel, self.params)
                )
            alive, deleted = self.trackers[label].step(when, by_label.get(label, set()))
            for track in deleted:
                self._labels[id(track)] = label
                self._deleted.append(track)
            for track in alive:
                self._labels[id(track)] = label
                x, y = float(track.state_vector[0, 0]), float(track.state_vector[2, 0])
                self.snapshots.append(Snapshot(time, self.key(track), label, x, y))
        return clusters

    def _detections(self, clusters: Sequence[Cluster], when: datetime) -> dict[str, Any]:
        """The clusters as the engine's detections, by label (a set each for Stone Soup)."""
        if self.engine == "numpy":
            out: dict[str, Any] = defaultdict(list)
            for c in clusters:
                z = np.array([c.x, c.y])
                out[c.label].append(Measurement(when, z, c.cov, {"cluster": c}))
            return out
        from stonesoup.models.measurement.linear import LinearGaussian
        from stonesoup.types.detection import Detection

        by_label: dict[str, set[Any]] = defaultdict(set)
        for c in clusters:
            model = LinearGaussian(ndim_state=4, mapping=(0, 2), noise_covar=c.cov)
            by_label[c.label].add(
                Detection(
                    np.array([[c.x], [c.y]]),
                    timestamp=when,
                    measurement_model=model,
                    metadata={"cluster": c},
                )
            )
        return by_label

    def key(self, track: Any) -> str:
        """A stable id for a track: made from the first observation it rests on."""
        k = self._keys.get(id(track))
        if k is None:
            first = min(
                (o.key for m in _measurements(track) for o in m.metadata["cluster"].members),
                default=str(track.id),
            )
            k = "ent-" + hashlib.sha256(first.encode()).hexdigest()[:12]
            self._keys[id(track)] = k
        return k

    def results(self) -> list[TrackResult]:
        out = []
        live = [(t, False) for tr in self.trackers.values() for t in tr.tracks]
        for track, deleted in [*live, *((t, True) for t in self._deleted)]:
            members = [o for m in _measurements(track) for o in m.metadata["cluster"].members]
            if not members:
                continue
            states = [
                (
                    s.timestamp.timestamp(),
                    np.asarray(s.state_vector, float).ravel(),
                    np.asarray(s.covar, float),
                )
                for s in track.states
            ]
            updates = [m.timestamp.timestamp() for m in _measurements(track)]
            out.append(
                TrackResult(
                    self.key(track),
                    self._labels[id(track)],
                    states,
                    members,
                    min(updates),
                    max(updates),
                    deleted,
                )
            )
        return sorted(out, key=lambda r: r.key)


def update_type(engine: str) -> type[Any]:
    """The class of a state after a measurement, in `engine`'s tracks."""
    if engine == "numpy":
        return kalman.Update
    from stonesoup.types.update import Update

    return Update  # type: ignore[no-any-return]


def _measurements(track: Any) -> list[Any]:
    kind = update_type("numpy" if isinstance(track, kalman.Track) else "stonesoup")
    return [s.hypothesis.measurement for s in track.states if isinstance(s, kind)]

"""Stone Soup's global-nearest-neighbour tracker for one label, in numpy: the live path's.

`tracker._LabelTracker` with the ``gnn`` associator, step for step: a constant-velocity Kalman
filter (`gating.constant_velocity`'s F and Q), Mahalanobis distances between each track's
predicted measurement and each detection (its own noise), a track's hypotheses the detections
nearer than `MISSED_DISTANCE` and a miss at that distance, one optimal assignment of detections
to the tracks that have any (SciPy's `linear_sum_assignment` on Stone Soup's matrix), a track
deleted after `lost_after_s` without a measurement; new tracks held (`MultiMeasurementInitiator`)
from the detections no track took, each started at its detection (position from it, velocity
from the prior, position covariance the detection's), associated the same way scan by scan,
confirmed after `min_points` measurements and dropped after 2.5 scans without one.

Stone Soup does this with an object (and its validation) for every prediction, measurement
prediction, distance and hypothesis, about 0.6 ms a track a scan; here a scan is a few array
operations for all tracks at once. The tracks and states have the attributes the rest of
`assay.fusion` reads of Stone Soup's (`states`, `timestamp`, `state_vector`, `covar`,
`hypothesis.measurement`), and the numbers are Stone Soup's to float rounding
(tests/fusion/test_kalman.py runs both on the same scans).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

__all__ = ["Measurement", "NumpyLabelTracker", "State", "Track", "Update"]

MISSED_DISTANCE = 4.0  # Mahalanobis: tracker._LabelTracker's hypothesisers'
PRIOR_VELOCITY_VAR = 25.0  # tracker._LabelTracker's prior: diag(100, 25, 100, 25)
_ids = itertools.count(1)


@dataclass(frozen=True, eq=False)
class Measurement:
    """A fused measurement (a `tracker.Cluster` in `metadata`), as Stone Soup's `Detection`."""

    timestamp: datetime
    z: np.ndarray  # (2,): east, north
    R: np.ndarray  # (2, 2)
    metadata: dict[str, Any]


@dataclass(frozen=True, eq=False)
class _Hypothesis:
    measurement: Measurement


class State:
    """A prediction: the state after a scan without a measurement."""

    __slots__ = ("covar", "state_vector", "timestamp")

    def __init__(self, x: np.ndarray, P: np.ndarray, timestamp: datetime) -> None:
        self.state_vector = x.reshape(4, 1)
        self.covar = P
        self.timestamp = timestamp


class Update(State):
    """The state after a measurement (`hypothesis.measurement`)."""

    __slots__ = ("hypothesis",)

    def __init__(self, x: np.ndarray, P: np.ndarray, timestamp: datetime, m: Measurement) -> None:
        super().__init__(x, P, timestamp)
        self.hypothesis = _Hypothesis(m)


class Track:
    __slots__ = ("id", "last_update", "states")

    def __init__(self, first: Update) -> None:
        self.id = f"track-{next(_ids)}"
        self.states: list[State] = [first]
        self.last_update = first.timestamp

    @property
    def state(self) -> State:
        return self.states[-1]

    @property
    def state_vector(self) -> np.ndarray:
        return self.states[-1].state_vector

    @property
    def timestamp(self) -> datetime:
        return self.states[-1].timestamp

    def append(self, s: State) -> None:
        self.states.append(s)
        if isinstance(s, Update):
            self.last_update = s.timestamp

    def updates(self) -> int:
        return sum(1 for s in self.states if isinstance(s, Update))


def _cv(dt: float, accel: float) -> tuple[np.ndarray, np.ndarray]:
    """`gating.constant_velocity`'s F and Q over `dt` seconds."""
    F = np.array([[1, dt, 0, 0], [0, 1, 0, 0], [0, 0, 1, dt], [0, 0, 0, 1]], float)
    a, b, c = accel * abs(dt) ** 3 / 3, accel * dt**2 / 2, accel * abs(dt)
    Q = np.array([[a, b, 0, 0], [b, c, 0, 0], [0, 0, a, b], [0, 0, b, c]])
    return F, Q


def _associate(
    tracks: Sequence[Track], meas: Sequence[Measurement], when: datetime, accel: float
) -> list[tuple[Track, Measurement | None, np.ndarray, np.ndarray]]:
    """Each track with its measurement (None: missed) and its prediction to `when`."""
    from scipy.optimize import linear_sum_assignment

    n, m = len(tracks), len(meas)
    if n == 0:
        return []
    xs = np.empty((n, 4))
    Ps = np.empty((n, 4, 4))
    for i, t in enumerate(tracks):
        s = t.states[-1]
        F, Q = _cv((when - s.timestamp).total_seconds(), accel)
        xs[i] = F @ s.state_vector[:, 0]
        Ps[i] = F @ s.covar @ F.T + Q
    out: list[tuple[Track, Measurement | None, np.ndarray, np.ndarray]] = [
        (t, None, xs[i], Ps[i]) for i, t in enumerate(tracks)
    ]
    if m == 0:
        return out
    z = np.array([mm.z for mm in meas])  # (m, 2)
    R = np.array([mm.R for mm in meas])  # (m, 2, 2)
    pos = xs[:, [0, 2]]  # (n, 2)
    pos_cov = Ps[:, [0, 2]][:, :, [0, 2]]  # (n, 2, 2)
    S = pos_cov[:, None] + R[None, :]  # (n, m, 2, 2)
    v = z[None, :, :] - pos[:, None, :]  # (n, m, 2)
    d2 = np.einsum("nmi,nmi->nm", v, np.linalg.solve(S, v[..., None])[..., 0])
    d = np.sqrt(np.maximum(d2, 0.0))
    near = d < MISSED_DISTANCE
    rows = np.flatnonzero(near.any(axis=1))
    if rows.size == 0:
        return out
    cost = np.full((rows.size, m + rows.size), np.inf)
    cost[:, :m] = np.where(near[rows], d[rows], np.inf)
    cost[np.arange(rows.size), m + np.arange(rows.size)] = MISSED_DISTANCE
    r_ind, c_ind = linear_sum_assignment(cost)
    for r, c in zip(r_ind, c_ind, strict=True):
        if c < m:
            i = int(rows[r])
            out[i] = (tracks[i], meas[c], xs[i], Ps[i])
    return out


def _update(x: np.ndarray, P: np.ndarray, m: Measurement) -> tuple[np.ndarray, np.ndarray]:
    """Stone Soup's `KalmanUpdater`: K = P H' S^-1, x + K (z - H x), P - K S K'."""
    H = np.zeros((2, 4))
    H[0, 0] = H[1, 2] = 1.0
    S = H @ P @ H.T + m.R
    K = P @ H.T @ np.linalg.inv(S)
    return x + K @ (m.z - H @ x), P - K @ S @ K.T


def _step(
    tracks: Sequence[Track], meas: Sequence[Measurement], when: datetime, accel: float
) -> set[int]:
    """Associate and update (or predict) every track; returns the indices of `meas` used."""
    used: set[int] = set()
    index = {id(mm): k for k, mm in enumerate(meas)}
    for track, m, x, P in _associate(tracks, meas, when, accel):
        if m is None:
            track.append(State(x, P, when))
        else:
            xu, Pu = _update(x, P, m)
            track.append(Update(xu, Pu, m.timestamp, m))
            used.add(index[id(m)])
    return used


def _stale(track: Track, after: timedelta) -> bool:
    """Stone Soup's `UpdateTimeDeleter`: no measurement from `after` before the newest state."""
    return track.last_update < track.timestamp - after


class NumpyLabelTracker:
    """`tracker._LabelTracker` (``gnn``) for one label; see the module docstring."""

    def __init__(self, accel: float, params: Any) -> None:
        self.accel = accel
        self.min_points = int(params.min_points)
        self.lost_after = timedelta(seconds=params.lost_after_s)
        self.hold_for = timedelta(seconds=params.scan_s * 2.5)
        self.tracks: set[Any] = set()
        self.holding: list[Track] = []
        self._order: list[Track] = []  # the confirmed tracks, oldest first

    def step(self, when: datetime, detections: Sequence[Measurement]) -> tuple[set[Any], set[Any]]:
        """Update with one scan; returns the tracks alive after it and those deleted by it."""
        meas = list(detections)
        used = _step(self._order, meas, when, self.accel)
        deleted = {t for t in self._order if _stale(t, self.lost_after)}
        self._order = [t for t in self._order if t not in deleted]
        rest = [mm for k, mm in enumerate(meas) if k not in used]
        for t in self._initiate(rest, when):
            self._order.append(t)
        self.tracks = set(self._order)
        return self.tracks, deleted

    def _initiate(self, meas: list[Measurement], when: datetime) -> list[Track]:
        sure: list[Track] = []
        taken: set[int] = set()
        if self.holding:
            taken = _step(self.holding, meas, when, self.accel)
            sure = [t for t in self.holding if t.updates() >= self.min_points]
            self.holding = [
                t for t in self.holding if t not in sure and not _stale(t, self.hold_for)
            ]
        for k, m in enumerate(meas):
            if k in taken:
                continue
            P = np.diag([0.0, PRIOR_VELOCITY_VAR, 0.0, PRIOR_VELOCITY_VAR])
            P[np.ix_([0, 2], [0, 2])] += m.R
            x = np.array([m.z[0], 0.0, m.z[1], 0.0])
            self.holding.append(Track(Update(x, P, m.timestamp, m)))
        return sure

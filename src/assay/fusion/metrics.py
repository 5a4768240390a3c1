"""Fusion accuracy against ground truth: GOSPA and OSPA (Stone Soup's metric generators) and
MOTA / IDF1 (py-motmetrics), scored at every scan on the tracks alive after it.

The truth file is CSV with ``time`` (ISO 8601), ``id``, ``label``, ``lon``, ``lat`` (what
`assay simulate scenario` writes as truth.csv). A truth time is matched to the scan within half
a scan interval. Distances are metres on the tracker's local plane. MOT: a track further than
`match_m` (10 m) from a target does not match it. GOSPA and OSPA (p = 1) cut distances at
`cutoff_m` (20 m); GOSPA (alpha = 2) charges cutoff/2 for each missed target and each false
track, so with N targets "nothing found" scores 10·N metres and `gospa_per_target` is the
error per target in metres (10 = nothing found).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from assay.errors import InvalidInput, require
from assay.fusion.tracker import Fuser

__all__ = ["Scores", "TruthRow", "read_truth", "score"]


@dataclass(frozen=True)
class TruthRow:
    time: float
    id: str
    label: str
    lon: float
    lat: float


@dataclass(frozen=True)
class Scores:
    gospa: float  # mean over scans, metres (p=1, alpha=2)
    gospa_per_target: float
    ospa: float  # mean over scans, metres (p=1)
    mota: float
    idf1: float
    id_switches: int
    tracks: int  # distinct tracks reported
    targets: int

    def to_dict(self) -> dict[str, float | int]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in self.__dict__.items()}


def read_truth(path: Path) -> list[TruthRow]:
    """Read a truth CSV (raises InvalidInput naming the file and line)."""
    if not path.is_file():
        raise InvalidInput(f"--truth {path}: no such file")
    out = []
    with path.open(newline="", encoding="utf-8") as f:
        for n, row in enumerate(csv.DictReader(f), 2):
            where = f"{path}, line {n}"
            try:
                when = datetime.fromisoformat(row["time"])
                lon, lat = float(row["lon"]), float(row["lat"])
                out.append(
                    TruthRow(
                        (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp(),
                        str(row["id"]),
                        str(row["label"]),
                        lon,
                        lat,
                    )
                )
            except (KeyError, TypeError):
                raise InvalidInput(f"{where}: needs time, id, label, lon and lat") from None
            except ValueError as exc:
                raise InvalidInput(f"{where}: {exc}") from None
    if not out:
        raise InvalidInput(f"{path}: no truth rows")
    return out


def score(
    fuser: Fuser, truth: Sequence[TruthRow], match_m: float = 10.0, cutoff_m: float = 20.0
) -> Scores:
    """Score the fuser's per-scan tracks against `truth`."""
    require("motmetrics", "fusion")
    import motmetrics as mm
    from stonesoup.metricgenerator.ospametric import GOSPAMetric, OSPAMetric
    from stonesoup.types.state import State

    plane = fuser.plane
    if plane is None:
        raise InvalidInput("nothing was tracked, so there is nothing to score")
    scan = fuser.params.scan_s
    est: dict[float, list[tuple[str, float, float]]] = defaultdict(list)
    for s in fuser.snapshots:
        est[s.time].append((s.track, s.x, s.y))
    times = sorted(est)
    tru: dict[float, list[tuple[str, float, float]]] = defaultdict(list)
    for r in truth:
        if not times:
            break
        near = min(times, key=lambda t: abs(t - r.time))
        if abs(near - r.time) <= scan / 2:
            x, y = plane.xy(r.lon, r.lat)
            tru[near].append((r.id, x, y))
    steps = sorted(set(tru) | set(est))
    acc = mm.MOTAccumulator(auto_id=True)
    names = sorted({i for rows in (*tru.values(), *est.values()) for i, _, _ in rows})
    num = {name: k for k, name in enumerate(names)}
    meas_states, meas_ids, truth_states, truth_ids = [], [], [], []
    for t in steps:
        a, b = tru.get(t, []), est.get(t, [])
        pa = np.array([[x, y] for _, x, y in a]).reshape(-1, 2)
        pb = np.array([[x, y] for _, x, y in b]).reshape(-1, 2)
        dist = mm.distances.norm2squared_matrix(pa, pb, max_d2=match_m**2)
        # motmetrics keeps ids as numbers
        acc.update([num[i] for i, _, _ in a], [num[i] for i, _, _ in b], dist)
        when = datetime.fromtimestamp(t, tz=UTC)
        for i, x, y in b:
            meas_states.append(State(np.array([[x], [y]]), timestamp=when))
            meas_ids.append(i)
        for i, x, y in a:
            truth_states.append(State(np.array([[x], [y]]), timestamp=when))
            truth_ids.append(i)
    summary = mm.metrics.create().compute(
        acc, metrics=["mota", "idf1", "num_switches", "num_unique_objects"], name="fused"
    )
    gospa = GOSPAMetric(c=cutoff_m, p=1).compute_over_time(
        meas_states, meas_ids, truth_states, truth_ids
    )
    ospa = OSPAMetric(c=cutoff_m, p=1).compute_over_time(
        meas_states, meas_ids, truth_states, truth_ids
    )
    targets = len({r.id for r in truth})
    mean_gospa = _mean(gospa, lambda m: m.value["distance"])
    return Scores(
        gospa=mean_gospa,
        gospa_per_target=mean_gospa / max(1, targets),
        ospa=_mean(ospa, lambda m: m.value),
        mota=float(summary["mota"].iloc[0]),
        idf1=float(summary["idf1"].iloc[0]),
        id_switches=int(summary["num_switches"].iloc[0]),
        tracks=len({s.track for s in fuser.snapshots}),
        targets=targets,
    )


def _mean(metric: Any, value: Any) -> float:
    values = metric.value if isinstance(metric.value, list) else [metric]
    return float(np.mean([float(value(m)) for m in values]))

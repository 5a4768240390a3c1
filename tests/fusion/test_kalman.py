"""The live path's numpy tracker (`assay.fusion.kalman`) gives Stone Soup's tracks: the same
scans through `Fuser(engine="numpy")` and `Fuser(engine="stonesoup")` make the same tracks
(same ids, same detections behind each, deleted at the same scan) with the same states and
covariances to float rounding.

The world is made to exercise every branch: six vehicles and three people (two pairs crossing
near each other), two sensors with 2 m of noise that each miss 10 % of targets, clutter
(false detections scattered over the area, which start tentative tracks that are dropped),
a vehicle that stops being seen (its track is deleted), one that appears half way through
(a track confirmed late), and scans whose gap doubles now and then (a frame dropped).
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from assay.domain.entity import Provenance
from assay.errors import InvalidInput
from assay.fusion.sources import Observation
from assay.fusion.tracker import Fuser, Params

LON0, LAT0 = -95.35, 29.75
M_LON, M_LAT = 96_650.0, 110_574.0
TARGETS = [  # label, start east/north (m), velocity (m/s), first and last scan seen
    ("vehicle", (0.0, 0.0), (8.0, 0.0), 0, 99),
    ("vehicle", (0.0, 300.0), (0.0, -6.0), 0, 99),
    ("vehicle", (200.0, 500.0), (5.0, 5.0), 0, 15),
    ("vehicle", (40.0, 120.0), (6.0, 0.5), 0, 99),
    ("vehicle", (600.0, 0.0), (-7.0, 3.0), 20, 99),
    ("vehicle", (300.0, 300.0), (0.0, 0.0), 0, 99),
    ("person", (400.0, 150.0), (-1.0, 0.5), 0, 99),
    ("person", (380.0, 160.0), (1.0, 0.0), 0, 99),
    ("person", (100.0, 100.0), (0.0, 1.2), 0, 99),
]


def scans(n: int, seed: int) -> list[tuple[float, list[Observation]]]:
    rng = random.Random(seed)
    out = []
    t = 1_780_000_000.0
    for k in range(n):
        t += 1.0 if k % 7 == 6 else 0.5
        obs = []
        for s in ("drone-a", "drone-b"):
            for j, (label, (x0, y0), (vx, vy), first, last) in enumerate(TARGETS):
                if not first <= k <= last or rng.random() < 0.1:
                    continue
                dt = t - 1_780_000_000.0
                x, y = x0 + vx * dt + rng.gauss(0, 2), y0 + vy * dt + rng.gauss(0, 2)
                obs.append(_obs(t, label, x, y, s, f"{s}:{k}:{j}"))
            for c in range(rng.choice((0, 1, 2))):
                x, y = rng.uniform(-100, 700), rng.uniform(-100, 600)
                obs.append(_obs(t, rng.choice(("vehicle", "person")), x, y, s, f"{s}:{k}:c{c}"))
        out.append((t, sorted(obs, key=lambda o: o.key)))
    return out


def _obs(t: float, label: str, x: float, y: float, sensor: str, key: str) -> Observation:
    return Observation(
        t,
        label,
        LON0 + x / M_LON,
        LAT0 + y / M_LAT,
        (9.0, 0.0, 9.0),
        0.8,
        sensor,
        "detections:-",
        0.8,
        "",
        Provenance(sources=("detections:-",)),
        key,
    )


@pytest.mark.parametrize("fuse_scans", [True, False])
def test_numpy_tracker_gives_stone_soups_tracks(fuse_scans: bool) -> None:
    params = Params(fuse_scans=fuse_scans)
    ours, theirs = Fuser(params, engine="numpy"), Fuser(params, engine="stonesoup")
    for t, obs in scans(60, seed=11):
        ours.update(t, obs)
        theirs.update(t, obs)
    a, b = ours.results(), theirs.results()
    assert [r.key for r in a] == [r.key for r in b]
    assert sum(r.deleted for r in a) >= 1 and len(a) >= len(TARGETS)
    for r, s in zip(a, b, strict=True):
        assert (r.label, r.deleted, r.first, r.last_update) == (
            s.label,
            s.deleted,
            s.first,
            s.last_update,
        )
        assert [o.key for o in r.members] == [o.key for o in s.members]
        assert [st[0] for st in r.states] == [st[0] for st in s.states]
        for (_, x1, p1), (_, x2, p2) in zip(r.states, s.states, strict=True):
            np.testing.assert_allclose(x1, x2, rtol=1e-9, atol=1e-7)
            np.testing.assert_allclose(p1, p2, rtol=1e-9, atol=1e-7)
    snap = sorted((s.time, s.track) for s in ours.snapshots)
    assert snap == sorted((s.time, s.track) for s in theirs.snapshots)


def test_numpy_engine_is_gnn_only() -> None:
    with pytest.raises(InvalidInput, match="engine"):
        Fuser(Params(associator="jpda"), engine="numpy")

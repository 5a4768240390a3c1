"""The live path's entities, kept track by track (`LivePicture`), are the entities `assay fuse`
builds from the same tracker's whole history (`to_entities`), and the JSON texts it keeps for
them are theirs, version after version: while
tracks start, move, are confirmed, lose their target and are deleted, and with a field
report resolved onto one of them and another resolved onto none.

The world: three vehicles and a person crossing in straight lines, two sensors each scan with
2 m of noise and a third only now and then (its own provenance and marking); vehicle 3 is not
seen after scan 12, so its track goes lost and is deleted.
"""

from __future__ import annotations

import random

import pytest

from assay.domain.canonical import canonical_json
from assay.domain.entity import Provenance
from assay.fusion import fuse
from assay.fusion.fuse import to_entities
from assay.fusion.live import LiveFusion
from assay.fusion.sources import Mention, Observation
from assay.fusion.tracker import Params
from assay.workspace import Workspace

LON0, LAT0 = -95.35, 29.75
M_LON, M_LAT = 96_650.0, 110_574.0
TARGETS = [  # label, start east/north (m), velocity (m/s), last scan seen
    ("vehicle", (0.0, 0.0), (8.0, 0.0), 99),
    ("vehicle", (0.0, 300.0), (0.0, -6.0), 99),
    ("vehicle", (200.0, 500.0), (5.0, 5.0), 12),
    ("person", (400.0, 150.0), (-1.0, 0.5), 99),
]


def scan(k: int, rng: random.Random) -> list[Observation]:
    out = []
    t = 1_780_000_000.0 + 0.5 * k
    sensors = ["drone-a", "drone-b"] + (["mast"] if k % 3 == 0 else [])
    for s in sensors:
        for j, (label, (x0, y0), (vx, vy), last) in enumerate(TARGETS):
            if k > last:
                continue
            x, y = x0 + vx * 0.5 * k + rng.gauss(0, 2), y0 + vy * 0.5 * k + rng.gauss(0, 2)
            out.append(
                Observation(
                    t,
                    label,
                    LON0 + x / M_LON,
                    LAT0 + y / M_LAT,
                    (9.0, 0.0, 9.0),
                    0.6 + 0.1 * (j % 3),
                    s,
                    f"detections:{s}.jsonl",
                    0.9 if s == "mast" else 0.8,
                    "CUI" if s == "drone-b" else "",
                    Provenance(items=(f"{s}-frame-{k}",), sources=(f"detections:{s}.jsonl",)),
                    f"{s}:{k}:{j}",
                )
            )
    return out


def report(mid: str, k: int, east: float, north: float) -> Mention:
    return Mention(
        mid,
        1_780_000_000.0 + 0.5 * k,
        "vehicle",
        "a truck",
        LON0 + east / M_LON,
        LAT0 + north / M_LAT,
        10.0,
        "reports:field.jsonl",
        0.7,
        "CUI/FLOOD",
        Provenance(items=(f"report-{mid}",), reports=(mid,)),
    )


def test_live_entities_are_the_batch_entities_at_every_version(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fuse, "MAX_TRACK_POINTS", 16)  # tracks longer than that are thinned
    rng = random.Random(7)
    live = LiveFusion(ws, "live", Params(), ["detections:-"])
    checked = lost = 0
    for k in range(40):
        live.add(scan(k, rng))
        if k == 20:  # on vehicle 1 at scan 20 (x = 80 m), and far from everything
            live.add([], [report("r1", 20, 81.0, 1.0), report("r2", 20, 5000.0, 5000.0)])
        live.step(float("inf"))
        if k % 4 and k < 39:
            continue  # not every scan is a version: books are read over several scans too
        found, texts = live.picture.entities(ws, live.mentions, live.params, live.end)
        batch, _ = to_entities(ws, live.fuser, live.mentions, live.params, live.end)
        assert found == batch
        assert texts == {e.id: canonical_json(e.model_dump(mode="json")) for e in batch}
        checked += 1
        lost = max(lost, sum(e.status == "lost" for e in found))
    final = {e.id: e for e in found}
    assert checked == 11 and lost == 1 and len(final) == 5  # four tracks and the loose report
    truck = next(e for e in found if "r1" in e.provenance.reports)
    assert "reports:field.jsonl" in truck.sensors and truck.marking == "CUI/FLOOD"
    assert sum(e.detections == 0 for e in found) == 1  # r2: an entity of its own
    assert any("mast" in e.sensors for e in found)
    assert max(len(e.track) for e in found) < 40  # thinned: every third state of 40

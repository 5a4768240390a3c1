"""Geographic item queries (`within BBOX`, `near LAT,LON,RADIUS_M`) on frames of a drone
flight, on SQLite and PostgreSQL, distances checked against pyproj's geodesic."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pyproj import Geod

from assay import Workspace
from assay.errors import InvalidInput
from assay.ingest.sensors.synth import Flight, write_flight
from old_metadata import float_scene, plant_old_scene
from versioning_world import sql_rows

CENTER = (29.7604, -95.3698)  # where the generated flight starts, flying east at 15 m/s


@pytest.fixture
def flight_ws(tmp_path: Path) -> Iterator[Workspace]:
    write_flight(tmp_path / "f.ts", seconds=6, klv_hz=5)
    with Workspace.init(tmp_path / "ws") as ws:
        ws.ingest([tmp_path / "f.ts"])
        yield ws


def test_near_and_within_select_frames_by_place(flight_ws: Workspace) -> None:
    geod = Geod(ellps="WGS84")
    lon_at = {t: geod.fwd(CENTER[1], CENTER[0], 90, 15.0 * t)[0] for t in range(6)}
    # 40 m around the start: frames at 0, 15 and 30 m from it, not 45 m and beyond.
    assert _names(flight_ws, f"near {CENTER[0]},{CENTER[1]},40") == [0.0, 1.0, 2.0]
    # A box holding the frame centres 2 to 4 s into the flight.
    box = f"{lon_at[2] - 1e-6},{CENTER[0] - 1e-3},{lon_at[4] + 1e-6},{CENTER[0] + 1e-3}"
    assert _names(flight_ws, f"within {box} and media_type=image/jpeg") == [2.0, 3.0, 4.0]


def _names(ws: Workspace, query: str) -> list[float]:
    name = f"d{abs(hash(query)) % 10**8}"
    ws.create_dataset(name)
    ws.add_items(name, query)
    rows = sql_rows(
        ws,
        "SELECT i.name FROM working w JOIN items i ON i.id = w.item_id "
        "JOIN datasets d ON d.id = w.dataset_id WHERE d.name = :name",
        name=name,
    )
    return sorted(float(r[0].split("#t=")[1]) for r in rows)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("near 29.7,-95.3", "expected LAT,LON,RADIUS_M"),
        ("near 95,10,5", "latitude must lie in"),
        ("within 1,2,3", "expected MINLON,MINLAT,MAXLON,MAXLAT"),
        ("within -95.3,29.8,-95.4,29.7", "south-west to the north-east"),
    ],
)
def test_bad_geo_conditions_are_named(flight_ws: Workspace, query: str, message: str) -> None:
    flight_ws.create_dataset("bad")
    with pytest.raises(InvalidInput, match=message):
        flight_ws.add_items("bad", query)


def test_items_without_a_place_never_match(flight_ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "note.txt").write_text("Shelter at the school gym has 40 people.")
    flight_ws.ingest([tmp_path / "note.txt"])
    assert _names(flight_ws, "within -180,-90,180,90 and media_type~video/*") == []
    flight_ws.create_dataset("text")
    assert flight_ws.add_items("text", "near 0,0,20000000 and media_type=text/plain") == 0
    assert Flight().lat == CENTER[0]


def test_queries_read_the_nan_and_infinity_older_ingests_stored(tmp_path: Path) -> None:
    # A float scene ingested before NaN nodata was stored as "nan" holds a bare NaN in its
    # metadata, which SQLite ("malformed JSON") and PostgreSQL (the ::jsonb cast) refuse: any
    # metadata or place condition failed on the whole workspace. The stored text stays.
    float_scene(tmp_path / "dem.tif", float("nan"))
    with Workspace.init(tmp_path / "ws") as ws:
        ws.ingest([tmp_path / "dem.tif"])
        scene, old = plant_old_scene(
            ws, hi=float("inf"), lo=float("-inf"), note='x,NaN,[Infinity :-Infinity"'
        )
        chips = [r[0] for r in sql_rows(ws, "SELECT id FROM items WHERE parent_id IS NOT NULL")]
        assert chips

        def members(query: str) -> list[str]:
            name = f"d{abs(hash(query)) % 10**8}"
            ws.create_dataset(name)
            ws.add_items(name, query)
            sql = "SELECT w.item_id FROM working w JOIN datasets d ON d.id = w.dataset_id"
            return sorted(r[0] for r in sql_rows(ws, f"{sql} WHERE d.name = :name", name=name))

        # As ingests store them now: "nan", "inf", "-inf"; words inside strings stay as they are.
        note = "metadata.note='x,NaN,[Infinity :-Infinity\"'"
        for query in ("metadata.scene.nodata=nan", "meta.hi=inf and meta.lo=-inf",
                      "metadata.scene.chips>=1", note):  # fmt: skip
            assert members(query) == [scene], query
        assert members("within -180,-90,180,90") == sorted(chips)
        assert members("metadata.scene.nodata=NaN") == []
        assert sql_rows(ws, "SELECT metadata FROM items WHERE id = :id", id=scene) == [(old,)]

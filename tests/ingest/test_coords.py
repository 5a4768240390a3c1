"""Coordinates in text reports: decimal degrees, DMS and MGRS parsed into points on ingest,
checked against pyproj (UTM) for MGRS; numbers that are not coordinates left alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyproj import Transformer

from assay import Workspace
from assay.ingest.sensors.coords import find_points
from item_rows import item_rows


@pytest.mark.parametrize(
    ("text", "lat", "lon", "notation"),
    [
        ("Roof rescue at 29.7604, -95.3698, two people", 29.7604, -95.3698, "decimal"),
        ("Shelter 29.7604 N 95.3698 W needs water", 29.7604, -95.3698, "decimal"),
        ("Levee breach 29°45'37.44\"N 95°22'11.28\"W", 29.7604, -95.3698, "dms"),
        ("Levee breach 29° 45′ 37.44″ N, 95° 22′ 11.28″ W", 29.7604, -95.3698, "dms"),
        ("Southern site -33.8688 151.2093 flooded", -33.8688, 151.2093, "decimal"),
        # A sentence's full stop after the place (a hemisphere letter once lost its sign here).
        ("Position 29.76083, -95.36942.", 29.76083, -95.36942, "decimal"),
        ("Position 29.7604 N 95.3698 W.", 29.7604, -95.3698, "decimal"),
    ],
)
def test_decimal_and_dms(text: str, lat: float, lon: float, notation: str) -> None:
    (p,) = find_points(text)
    assert (p.lat, p.lon, p.notation) == (
        pytest.approx(lat, abs=1e-6),
        pytest.approx(lon, abs=1e-6),
        notation,
    )


def test_mgrs_matches_an_independent_utm_conversion() -> None:
    # 15R TN 70857 94589 is UTM zone 15N easting 270,857 m, northing 3,294,589 m (square T
    # is the 2nd column, 200 km; square N with the latitude band R puts the northing at
    # 3,294,589): pyproj converts that UTM point independently of the mgrs package.
    utm = Transformer.from_crs("EPSG:32615", "EPSG:4326", always_xy=True)
    (p,) = find_points("Team at 15R TN 70857 94589, boat needed")
    lon, lat = utm.transform(270_857, 3_294_589)
    assert (p.lat, p.lon) == (pytest.approx(lat, abs=2e-5), pytest.approx(lon, abs=2e-5))
    (q,) = find_points("grid 15RTN7085794589")
    assert (q.lat, q.lon) == (p.lat, p.lon)


@pytest.mark.parametrize(
    "text",
    [
        "river gauge at the north bridge reads 4.2 m",
        "levee seepage at km 12.5, 3.25 m",
        "v1.2.3 released",
        "cars at 29.76,-95.37",
    ],
)
def test_numbers_that_are_not_places(text: str) -> None:
    assert find_points(text) == []


def test_ingested_reports_carry_their_places(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    Workspace.init(tmp_path).close()
    (tmp_path / "r.jsonl").write_text(
        '{"text": "Boat needed at 29.7604, -95.3698 and at 15R TN 70857 94589"}\n'
        '{"text": "No place named here, gauge 4.2 m"}\n'
    )
    cli("ingest", tmp_path / "r.jsonl")
    meta = {r["name"]: r["metadata"] for r in item_rows(tmp_path)}
    first = meta["r.jsonl:1"]
    assert first["geo"] == {"lat": 29.7604, "lon": -95.3698}
    assert [p["notation"] for p in first["places"]] == ["decimal", "mgrs"]
    assert "geo" not in meta["r.jsonl:2"]
    ws = Workspace.open(tmp_path)
    ws.create_dataset("near")
    assert ws.add_items("near", "near 29.7604,-95.3698,100") == 1
    ws.close()

"""GeoJSON export: labels drawn on chips and video frames placed on the ground, checked
against an independent computation (rasterio's transform and pyproj; the flight's corners),
footprints, flight tracks, telemetry, and what cannot be placed reported."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pyarrow.parquet as pq
import pytest
from pyproj import Transformer

from assay import Workspace
from assay.domain import Region
from assay.versioning import LabelRecord
from cli_support import geo_workspace, item_ids, town_scene
from old_metadata import float_scene, plant_old_scene


def test_labels_on_chips_and_frames_become_features(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws = geo_workspace(tmp_path)
    assert isinstance(ws, Workspace)
    items = item_ids(ws)
    chip = items["town.tif#col=188&row=88"]
    frame = items["f.ts#t=1.000"]
    ws.set_labels(
        "geo",
        [
            LabelRecord(
                chip,
                [Region(kind="box", label="building", box=(10, 20, 100, 50))],
                authors=["user:ana"],
            ),
            LabelRecord(
                frame,
                [
                    Region(kind="box", label="vehicle", box=(160, 120, 40, 30)),
                    Region(kind="choice", control="damage", label="minor"),
                ],
                authors=["user:ben"],
            ),
        ],
    )
    ws.close()
    cli("export", "geo", "--format", "geojson", "--out", tmp_path / "out", cwd=tmp_path / "ws")
    labels = json.loads((tmp_path / "out" / "labels.geojson").read_text())
    assert labels["type"] == "FeatureCollection" and labels["marking"] == "UNCLASSIFIED"
    by_label = {f["properties"]["label"]: f for f in labels["features"]}
    # The chip box: pixel (188+10, 88+20) of the scene is UTM x = 270000 + 0.5 * 198 ...
    to_lonlat = Transformer.from_crs("EPSG:32615", "EPSG:4326", always_xy=True)
    x0, y0 = 270_000 + 0.5 * 198, 3_295_000 - 0.5 * 108
    want = [
        to_lonlat.transform(x, y)
        for x, y in ((x0, y0 - 25), (x0 + 50, y0 - 25), (x0 + 50, y0), (x0, y0))
    ]
    ring = by_label["building"]["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) == 5
    assert sorted(map(tuple, np.round(ring[:4], 6))) == sorted(map(tuple, np.round(want, 6)))
    assert by_label["building"]["properties"]["author"] == "user:ana"
    # The frame box: the generated camera looks straight down with image up = flight
    # direction (east), so the box centre maps by the footprint's homography.
    # 320x240 frame, 300 m up, fields of view 40 x 30 degrees: metres per pixel across and
    # down; the box centre (180, 135) lies 20 px right (south) and 15 px down (west) of the
    # image centre, which is 15 m east of the start one second in.
    across = 2 * 300 * np.tan(np.radians(20)) / 320
    down = 2 * 300 * np.tan(np.radians(15)) / 240
    aeqd = Transformer.from_crs(
        "+proj=aeqd +lat_0=29.7604 +lon_0=-95.3698 +datum=WGS84 +units=m",
        "EPSG:4326",
        always_xy=True,
    )
    centre = aeqd.transform(15 - 15 * down, -20 * across)
    vehicle = np.array(by_label["vehicle"]["geometry"]["coordinates"][0][:4])
    assert vehicle.mean(axis=0) == pytest.approx(centre, abs=2e-7)
    assert by_label["vehicle"]["properties"]["time"] == "2026-07-25T17:20:01Z"
    # A whole-frame answer takes the frame's footprint.
    assert by_label["minor"]["geometry"]["type"] == "Polygon"
    tracks = json.loads((tmp_path / "out" / "tracks.geojson").read_text())["features"]
    assert len(tracks) == 1 and tracks[0]["geometry"]["type"] == "LineString"
    assert len(tracks[0]["geometry"]["coordinates"]) == 3
    telemetry = pq.read_table(tmp_path / "out" / "telemetry.parquet").to_pylist()
    assert [t["time_s"] for t in telemetry] == [0.0, 1.0, 2.0]
    assert telemetry[1]["sensor_true_altitude"] == pytest.approx(300, abs=0.5)
    footprints = json.loads((tmp_path / "out" / "items.geojson").read_text())["features"]
    assert len(footprints) == len([n for n in items if "#" in n])


def test_regions_without_georeference_are_reported(cli, samples, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws = Workspace.init(tmp_path / "ws")
    samples.png("plain/a.png", seed=1)
    (item,) = ws.ingest([samples.root / "plain"]).new
    ws.create_dataset("plain")
    ws.add_items("plain")
    box = Region(kind="box", label="building", box=(1, 1, 5, 5))
    ws.set_labels("plain", [LabelRecord(item, [box], authors=["user:ana"])])
    ws.close()
    out = tmp_path / "o"
    res = cli("export", "plain", "--format", "geojson", "--out", out, "--json", cwd=tmp_path / "ws")
    assert res.json()["dropped"] == {"regions without georeference": 1}
    assert json.loads((out / "labels.geojson").read_text())["features"] == []
    strict = cli("export", "plain", "--format", "geojson", "--out", tmp_path / "s", "--strict",
                 cwd=tmp_path / "ws", code=1)  # fmt: skip
    assert "regions without georeference" in strict.stderr
    assert not (tmp_path / "s" / "labels.geojson").exists()


def test_stac_catalog_with_label_items_reads_back_with_pystac(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import pystac

    town_scene(tmp_path / "town.tif")
    (tmp_path / "plain").mkdir()
    ws = Workspace.init(tmp_path / "ws")
    ws.ingest([tmp_path / "town.tif"])
    ws.create_dataset("chips")
    ws.add_items("chips", "media_type=image/png")
    chip = item_ids(ws)["town.tif#col=0&row=0"]
    box = Region(kind="box", label="building", box=(10, 20, 100, 50))
    ws.set_labels("chips", [LabelRecord(chip, [box], authors=["user:ana"])])
    ws.close()
    out = tmp_path / "stac"
    res = cli(
        "export", "chips", "--format", "stac", "--out", out, "--json", cwd=tmp_path / "ws"
    ).json()
    # Each chip keeps its window (in `assay:metadata`); its scene is not in this dataset, so
    # its `derived_from` link has no item to name.
    assert res["dropped"] == {"links to the item each was made from (not in the export)": 4}
    catalog = pystac.Catalog.from_file(str(out / "catalog.json"))
    imagery, labels = sorted(catalog.get_children(), key=lambda c: c.id)
    assert imagery.id == "chips-imagery" and labels.id == "chips-labels"
    items = {it.id: it for it in imagery.get_items()}
    assert len(items) == 4 and all("image" in it.assets for it in items.values())
    (label,) = labels.get_items()
    assert label.properties["label:type"] == "vector"
    assert label.properties["label:tasks"] == ["detection"]
    assert label.properties["label:classes"] == [{"name": "label", "classes": ["building"]}]
    (source,) = [link for link in label.links if link.rel == "source"]
    assert source.resolve_stac_object().target.id == chip
    doc = json.loads(Path(label.assets["labels"].get_absolute_href()).read_text())
    assert doc["features"][0]["properties"]["label"] == "building"
    # The image asset is the chip's media, written next to the catalog.
    href = Path(unquote(items[chip].assets["image"].get_absolute_href()))
    assert href.is_file() and href.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert items[chip].properties["proj:code"] == "EPSG:32615"


def test_a_track_of_frames_with_different_markings_takes_the_exports_highest(
    tmp_path: Path,
) -> None:
    from assay.formats._model import ExportBundle, ExportRow
    from assay.formats.geojson import write

    def frame(t: float, marking: str) -> ExportRow:
        meta = {"frame": {"time_s": t}, "path": "f.ts", "geo": {"lat": 29.76, "lon": -95.37 + t}}
        return ExportRow(f"id{t}", f"f.ts#t={t}", "image/jpeg", 4, 4, marking, meta, [], bytes)

    # "CUI/FLOOD" is the longer text, "SECRET" the higher marking: the track must not say CUI.
    rows = [frame(0.0, "CUI/FLOOD"), frame(1.0, "SECRET")]
    write(ExportBundle(rows, [], "d", None, "SECRET/FLOOD"), tmp_path)
    (track,) = json.loads((tmp_path / "tracks.geojson").read_text())["features"]
    assert track["properties"]["marking"] == "SECRET/FLOOD"


def test_a_nan_stored_in_metadata_by_older_ingests_exports_as_json(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Before NaN nodata was stored as "nan", a float scene's metadata held NaN (json.dumps's
    # spelling, not JSON): every export of a dataset holding it stopped on a traceback.
    float_scene(tmp_path / "dem.tif", float("nan"))
    ws = Workspace.init(tmp_path / "ws")
    ws.ingest([tmp_path / "dem.tif"])
    _, old = plant_old_scene(ws)  # the scene's row as the older ingest wrote it
    assert '"nodata":NaN' in old
    chip = item_ids(ws, children=True)["dem.tif#col=0&row=0"]
    box = Region(kind="box", label="ridge", box=(10, 20, 100, 50))
    for name, query in [("dem", None), ("chips", "media_type=image/png")]:
        ws.create_dataset(name)
        ws.add_items(name, query)
        ws.set_labels(name, [LabelRecord(chip, [box], authors=["user:ana"])])
    ws.close()

    def strict(path: Path) -> object:
        return json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in {path}"))

    exports = [("dem", "geojson"), ("dem", "stac"), ("dem", "jsonl"), ("chips", "geojson"),
               ("chips", "jsonl", "--scene")]  # fmt: skip
    for name, fmt, *flags in exports:
        out = tmp_path / "-".join([name, fmt, *flags])
        cli("export", name, "--format", fmt, *flags, "--out", out, cwd=tmp_path / "ws")
        written = [p for p in out.rglob("*") if p.suffix in (".json", ".geojson", ".jsonl")]
        assert written, fmt
        docs = [
            strict(p) if p.suffix != ".jsonl" else [json.loads(line, parse_constant=pytest.fail)
                                                     for line in p.read_text().splitlines()]
            for p in written
        ]  # fmt: skip
        assert "NaN" not in json.dumps(docs)
    for out in ("dem-jsonl", "chips-jsonl---scene"):  # the scene's row, as new ingests store it
        lines = (tmp_path / out / "items.jsonl").read_text().splitlines()
        (scene,) = [json.loads(line) for line in lines if "scene" in json.loads(line)["metadata"]]
        assert scene["metadata"]["scene"]["nodata"] == "nan"

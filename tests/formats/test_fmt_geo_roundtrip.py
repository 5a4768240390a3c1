"""GeoJSON and STAC exports read back: features placed back on the pixels of the items they
name (chips through their affine transform and CRS, video frames through their corner
homography), with label, author and marking; bad files refused whole."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from assay import Workspace
from assay.domain import Region
from assay.errors import InvalidInput
from assay.formats import geojson, stac
from assay.versioning import LabelRecord
from cli_support import geo_workspace, item_ids

BUILDING = Region(kind="box", label="building", box=(10, 20, 100, 50), attributes={"floors": 2})
ROOF = Region(kind="polygon", label="roof", points=((30, 30), (90, 35), (60, 80)))
PERSON = Region(kind="point", label="person", points=((200, 100),))
VEHICLE = Region(kind="box", label="vehicle", box=(160, 120, 40, 30))
MINOR = Region(kind="choice", control="damage", label="minor")
FLOODED = Region(kind="polygon", label="flooded", points=((100, 100), (600, 120), (500, 500)))


def _world(tmp_path: Path) -> tuple[Workspace, str, str]:
    ws = geo_workspace(tmp_path)
    assert isinstance(ws, Workspace)
    ws.add_items("geo", "name=town.tif")
    items = item_ids(ws)
    chip, frame, scene = items["town.tif#col=188&row=88"], items["f.ts#t=1.000"], items["town.tif"]
    ws.set_labels(
        "geo",
        [
            LabelRecord(
                chip,
                [
                    BUILDING.model_copy(update={"author": "user:ana"}),
                    ROOF.model_copy(update={"author": "user:ana"}),
                    PERSON.model_copy(update={"author": "user:ben"}),
                ],
                authors=["user:ana", "user:ben"],
            ),
            LabelRecord(frame, [VEHICLE, MINOR], authors=["user:ben"]),
            LabelRecord(scene, [FLOODED], authors=["user:cem"]),
        ],
    )
    return ws, chip, frame


def _same_geometry(a: Region, b: Region) -> None:
    assert (a.kind, a.label, a.control, a.attributes) == (b.kind, b.label, b.control, b.attributes)
    if a.box is not None:
        assert b.box == pytest.approx(a.box, abs=0.05)
    if a.points is not None:
        assert b.points is not None
        got = sorted(map(tuple, np.round(b.points, 1)))
        assert got == sorted(map(tuple, np.round(a.points, 1)))  # the ring may run either way


def _features(folder: Path) -> list[tuple[tuple[object, ...], list[list[float]]]]:
    doc = json.loads((folder / "labels.geojson").read_text())
    out = []
    for f in doc["features"]:
        props, geom = f["properties"], f["geometry"]
        key = (props["item"], props["label"], props["author"], geom["type"])
        pts = np.array(geom["coordinates"], dtype=float).reshape(-1, 2)
        # A ring may come back from another start or the other way: its set of points.
        out.append((key, sorted(map(list, np.unique(pts, axis=0)))))
    return sorted(out)


def _same_features(a: Path, b: Path, count: int) -> None:
    first, second = _features(a), _features(b)
    assert len(first) == count
    assert [k for k, _ in first] == [k for k, _ in second]
    for (_, x), (_, y) in zip(first, second, strict=True):
        assert np.allclose(x, y, atol=2e-7)  # about 2 cm


def test_geojson_export_reads_back_as_the_same_labels(tmp_path: Path) -> None:
    ws, chip, frame = _world(tmp_path)
    out = tmp_path / "out"
    ws.export("geo", "geojson", out)
    bundle = geojson.read(out)
    by_item = {m.item_id: m for m in bundle.media}
    assert set(by_item) >= {chip, frame}
    got = {r.label: r for r in by_item[chip].record or []}
    for want in (BUILDING, ROOF, PERSON):
        _same_geometry(want, got[str(want.label)])
    assert [got[k].author for k in ("building", "roof", "person")] == ["user:ana"] * 2 + [
        "user:ben"
    ]
    framed = {r.label: r for r in by_item[frame].record or []}
    _same_geometry(VEHICLE, framed["vehicle"])
    assert framed["minor"].kind == "choice" and framed["minor"].box is None
    assert {m.marking for m in bundle.media} == {"UNCLASSIFIED"}
    # Into the workspace and out again: the same features.
    ws.create_dataset("back")
    ws.add_items("back", "media_type=image/png")
    ws.add_items("back", "media_type=image/jpeg")
    report = ws.import_labels(out, "geojson", "back", marking="CUI")
    # Every item the file names rises to the marking asked (never lowered), reported.
    assert {c.item_id for c in report.raised} >= {chip, frame}
    assert {c.new for c in report.raised} == {"CUI"}
    ws.export("back", "geojson", tmp_path / "again")
    ws.close()

    _same_features(out, tmp_path / "again", 6)
    again = json.loads((tmp_path / "again" / "labels.geojson").read_text())
    assert {f["properties"]["marking"] for f in again["features"]} == {"CUI"}


def test_a_feature_that_lowers_its_items_marking_is_refused_whole(tmp_path: Path) -> None:
    ws, _, _ = _world(tmp_path)
    out = tmp_path / "out"
    ws.export("geo", "geojson", out)
    doc = json.loads((out / "labels.geojson").read_text())
    doc["features"][1]["properties"]["marking"] = "PUBLIC"
    (out / "labels.geojson").write_text(json.dumps(doc))
    with pytest.raises(InvalidInput, match=r"labels.geojson.*features\[1\]\.properties\.marking"):
        geojson.read(out)
    # Without items.geojson the features cannot be placed: one clear error.
    (out / "items.geojson").unlink()
    with pytest.raises(InvalidInput, match=r"no items\.geojson beside it"):
        ws.import_labels(out, "geojson", "geo")
    ws.close()


def test_stac_catalog_reads_back_scenes_chips_frames_and_their_labels(tmp_path: Path) -> None:
    ws, chip, frame = _world(tmp_path)
    out = tmp_path / "stac"
    ws.export("geo", "stac", out)
    bundle = stac.read(out)
    by_item = {m.item_id: m for m in bundle.media}
    assert chip in by_item and frame in by_item
    scene = next(m for m in bundle.media if m.name == "town.tif")
    assert scene.path is not None and scene.path.name == "town.tif"  # the COG beside it
    _same_geometry(FLOODED, (scene.record or [])[0])
    got = {r.label: r for r in by_item[chip].record or []}
    for want in (BUILDING, ROOF, PERSON):
        _same_geometry(want, got[str(want.label)])
    _same_geometry(VEHICLE, next(r for r in by_item[frame].record or [] if r.label == "vehicle"))
    assert {m.marking for m in bundle.media} == {"UNCLASSIFIED"}
    # Into the workspace and out again (as GeoJSON, to compare): the same features.
    ws.export("geo", "geojson", tmp_path / "before")
    ws.create_dataset("back")
    report = ws.import_labels(out, "stac", "back", marking="CUI")
    assert {c.item_id for c in report.raised} >= {chip, frame}
    ws.export("back", "geojson", tmp_path / "after")
    ws.close()
    _same_features(tmp_path / "before", tmp_path / "after", 6)


def test_a_catalog_pystac_cannot_read_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "catalog.json").write_text('{"type": "Catalog", "id": 3}')
    with pytest.raises(InvalidInput, match="not a STAC catalog pystac can read"):
        stac.read(tmp_path)


def test_stac_export_to_a_relative_folder_writes_the_catalog_inside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `assay export ... --out ../stac` from the workspace: the catalog, its collections and items
    # belong in that folder beside the media and MARKING.txt, and nothing lands in the folder the
    # command ran from (it did: pystac resolved the staging folder's relative path elsewhere).
    ws, chip, frame = _world(tmp_path)
    run_in = tmp_path / "here"
    run_in.mkdir()
    monkeypatch.chdir(run_in)
    ws.export("geo", "stac", Path("..") / "stac")
    out = tmp_path / "stac"
    assert (out / "catalog.json").is_file() and (out / "MARKING.txt").is_file()
    assert list(run_in.iterdir()) == []
    assert not (tmp_path / "catalog.json").exists()
    by_item = {m.item_id: m for m in stac.read(out).media}
    assert chip in by_item and frame in by_item
    ws.close()


def test_stac_media_files_carry_their_media_types_suffix(
    tmp_path: Path, new_database: Callable[[], None]
) -> None:
    # A frame's name ends in its time (`f.ts#t=1.000`, a JPEG) and a chip's in its window
    # (`town.tif#col=..`, a PNG): their files had no suffix a viewer or an ingest knows them by.
    ws, _, _ = _world(tmp_path)
    ws.export("geo", "stac", tmp_path / "stac")
    with ws.db.read() as conn:
        kinds = dict(conn.execute(text("SELECT name, media_type FROM items")).all())
    ws.close()
    media = sorted(p.name for p in (tmp_path / "stac" / "media").iterdir())
    assert "f.ts#t=1.000.jpg" in media and "town.tif#col=188&row=88.png" in media
    assert "town.tif" in media  # a name with its type's suffix keeps it
    assert {Path(n).suffix for n in media} == {".jpg", ".png", ".tif"}
    # Read back into a new workspace: the items of the same bytes, under their own names.
    new_database()  # its own metadata, on PostgreSQL too
    fresh = Workspace.init(tmp_path / "fresh")
    report = fresh.import_labels(tmp_path / "stac", "stac", "back")
    assert report.new_items == len(media)
    with fresh.db.read() as conn:
        back = dict(conn.execute(text("SELECT name, media_type FROM items")).all())
    fresh.close()
    assert len(back) == len(media) and {"f.ts#t=1.000", "town.tif#col=188&row=88"} <= set(back)
    assert back == {n: kinds[n] for n in back}  # the scene too: a COG, as the catalog says


def _item_facts(ws: Workspace) -> dict[str, tuple[str, dict[str, object]]]:
    """Each item's name -> its media type and metadata (the ingest's source path aside)."""
    with ws.db.read() as conn:
        rows = conn.execute(text("SELECT name, media_type, metadata FROM items")).all()
    facts = {}
    for name, media_type, meta in rows:
        got = json.loads(meta)
        got.pop("path", None)
        facts[name] = (media_type, got)
    return facts


def _lineage(ws: Workspace) -> dict[str, tuple[str | None, str | None]]:
    """Each item's name -> the name of the item it was made from, and how."""
    with ws.db.read() as conn:
        rows = conn.execute(text("SELECT id, name, parent_id, derivation FROM items")).all()
    names = {r.id: r.name for r in rows}
    return {r.name: (names.get(r.parent_id), r.derivation) for r in rows}


def test_a_stac_catalog_brings_its_scene_and_chips_back_into_another_workspace(
    tmp_path: Path, new_database: Callable[[], None]
) -> None:
    # Into a fresh workspace a scene came back a plain TIFF and every item without its
    # metadata (projection, footprint, window, time): exported again, none of them could be
    # placed (all "items without georeference"), and nothing said so on the first export.
    ws, _, _ = _world(tmp_path)
    result = ws.export("geo", "stac", tmp_path / "stac")
    ws.export("geo", "geojson", tmp_path / "before")
    facts = _item_facts(ws)
    lineage = _lineage(ws)
    frames = sum("frame" in meta for _, meta in facts.values())
    ws.close()
    # Each chip links to its scene (`derived_from`); a frame's video is no item of a catalog.
    assert result["dropped"] == {"links to the item each was made from (not in the export)": frames}
    new_database()
    fresh = Workspace.init(tmp_path / "fresh")
    fresh.import_labels(tmp_path / "stac", "stac", "back")
    back = _item_facts(fresh)
    assert len(back) == 8  # the scene, its 4 chips and 3 frames (not the video itself)
    assert back == {name: facts[name] for name in back}
    # The chips are the scene's again, cut from the same windows.
    chips = {n: lineage[n] for n in back if "window" in facts[n][1]}
    assert len(chips) == 4 and {n: _lineage(fresh)[n] for n in chips} == chips
    assert back["town.tif"][0] == "image/tiff; application=geotiff; profile=cloud-optimized"
    again = fresh.export("back", "stac", tmp_path / "again")
    assert "items without georeference" not in again["dropped"]
    fresh.export("back", "geojson", tmp_path / "after")
    fresh.close()
    _same_features(tmp_path / "before", tmp_path / "after", 6)


def test_geojson_into_another_workspace_says_geojson_has_no_media(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path, new_database: Callable[[], None]
) -> None:
    # GeoJSON never carries media (there is no --no-media to leave off): the error says so and
    # names the format that carries the media and the labels to another workspace.
    ws, _, _ = _world(tmp_path)
    ws.export("geo", "geojson", tmp_path / "out")
    ws.close()
    new_database()  # the other workspace's own metadata, on PostgreSQL too
    Workspace.init(tmp_path / "other").close()
    res = cli(
        "import", tmp_path / "out", "--format", "geojson", "--dataset", "g",
        cwd=tmp_path / "other", code=1,
    )  # fmt: skip
    err = res.stderr.strip()
    assert "labels.geojson: item " in err and "is not in this workspace" in err, err
    assert "--no-media" not in err and "GeoJSON carries no media" in err, err
    assert "--format stac" in err and len(err.splitlines()) == 1, err
    other = Workspace.open(tmp_path / "other")
    assert other.datasets() == []  # nothing written, not even the dataset
    other.close()


def test_stac_items_without_a_capture_time_say_so_instead_of_the_export_time(
    tmp_path: Path,
) -> None:
    # An item without `captured_at` (a scene without TIFFTAG_DATETIME, its chips) got the
    # export's time as its STAC `datetime`, read by every STAC client as when it was taken.
    import pystac

    ws, chip, frame = _world(tmp_path)
    with ws.db.read() as conn:
        ingested = conn.execute(text("SELECT created FROM items WHERE id = :i"), {"i": chip})
        when = ingested.scalar()
    result = ws.export("geo", "stac", tmp_path / "stac")
    ws.close()
    catalog = pystac.Catalog.from_file(str(tmp_path / "stac" / "catalog.json"))
    imagery = next(c for c in catalog.get_children() if c.id == "geo-imagery")
    items = {it.id: it for it in imagery.get_items()}
    props = items[chip].properties
    assert props["datetime"] is None
    assert props["assay:captured"] == "unknown"
    # Taken at some time before it was ingested: the range says no more than that.
    assert props["start_datetime"] == "0001-01-01T00:00:00Z"
    assert pystac.utils.str_to_datetime(props["end_datetime"]) == pystac.utils.str_to_datetime(when)
    # A frame's time is its KLV's.
    assert items[frame].properties["datetime"] == "2026-07-25T17:20:01Z"
    assert "assay:captured" not in items[frame].properties
    unknown = sum("captured_at" not in it.properties["assay:metadata"] for it in items.values())
    assert unknown == 5  # the scene and its 4 chips
    assert any(f"{unknown} item(s) without a capture time" in w for w in result["warnings"])

"""Satellite and aerial scenes: stored as COGs, cut into chips with windows, transforms and
footprints (checked against pyproj), nodata chips skipped, bands and bad input."""

from __future__ import annotations

import io
import json
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import rasterio.shutil  # a submodule: `rasterio.shutil` is there only once imported
from PIL import Image
from pyproj import Transformer
from rasterio.transform import from_origin
from sqlalchemy import text

from assay import Workspace
from blob_stacks import stacks
from item_rows import item_rows

# Run on both blob stacks: local folder and S3 (SeaweedFS).
blob_stack = stacks()

ORIGIN = (270_000.0, 3_295_000.0)  # UTM 15N, over the flooded town


def _scene(path: Path, width: int = 1500, height: int = 1200, *, bands: int = 3,
           dtype: str = "uint8", crs: str | None = "EPSG:32615", driver: str = "GTiff",
           nodata: float | None = 0, seed: int = 0, tiled: bool = False) -> np.ndarray:  # fmt: skip
    rng = np.random.default_rng(seed)
    hi = 255 if dtype == "uint8" else 4000
    arr = rng.integers(1, hi, (bands, height, width)).astype(dtype)
    arr[:, :600, :600] = 0  # a corner with no data: covers the first chip whole
    profile: dict[str, Any] = {"driver": driver, "width": width, "height": height,
                               "count": bands, "dtype": dtype, "nodata": nodata}  # fmt: skip
    if crs == "EPSG:4326":
        profile.update(crs=crs, transform=from_origin(-95.40, 29.80, 5e-5, 5e-5))
    elif crs:
        profile.update(crs=crs, transform=from_origin(*ORIGIN, 0.5, 0.5))
    if driver == "NITF":
        profile["ICORDS"] = "G"
    if tiled:  # chipped while GDAL converts it to a COG
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(arr)
    return arr


@pytest.mark.parametrize("tiled", [False, True])
def test_scene_is_stored_as_a_cog_and_cut_into_chips(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path, tiled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    Workspace.init(tmp_path).close()
    arr = _scene(tmp_path / "town.tif", tiled=tiled)
    # The conversion and the chips go through temporary files: none is left behind.
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    res = cli("ingest", tmp_path / "town.tif", "--json").json()
    assert list(scratch.iterdir()) == []
    scene, *chips = item_rows(tmp_path)
    assert res["new"] == 1 + len(chips)
    assert scene["media_type"].startswith("image/tiff; application=geotiff")
    meta = scene["metadata"]["scene"]
    assert (meta["cog"], meta["crs"], meta["gsd_m"], meta["bands"]) == (
        "converted",
        "EPSG:32615",
        0.5,
        3,
    )
    # The stored blob is a tiled GeoTIFF with overviews, georeferenced as the input.
    with Workspace.open(tmp_path) as ws:
        blob = ws.blobs.path(scene["id"])
    with rasterio.open(blob) as cog:
        assert cog.profile["tiled"] and cog.overviews(1)
        assert tuple(cog.transform)[:6] == tuple(from_origin(*ORIGIN, 0.5, 0.5))[:6]
        assert np.array_equal(cog.read(), arr)
    # Chips: 512 px stepping by 448, the last ones flush with the edge; the all-nodata one
    # at the top-left corner is skipped.
    windows = {(c["metadata"]["window"]["col"], c["metadata"]["window"]["row"]) for c in chips}
    every = {(c, r) for c in (0, 448, 896, 988) for r in (0, 448, 688)}
    assert windows == every - {(0, 0)}
    to_lonlat = Transformer.from_crs("EPSG:32615", "EPSG:4326", always_xy=True)
    for c in chips:
        m, (col, row) = (
            c["metadata"],
            (c["metadata"]["window"]["col"], c["metadata"]["window"]["row"]),
        )
        assert (
            c["parent_id"] == scene["id"] and json.loads(c["derivation"])["window"] == m["window"]
        )
        assert m["transform"] == [0.5, 0.0, ORIGIN[0] + 0.5 * col, 0.0, -0.5, ORIGIN[1] - 0.5 * row]
        x0, y0 = ORIGIN[0] + 0.5 * col, ORIGIN[1] - 0.5 * row
        expected = [to_lonlat.transform(x, y) for x, y in
                    ((x0, y0), (x0 + 256, y0), (x0 + 256, y0 - 256), (x0, y0 - 256))]  # fmt: skip
        ring = m["footprint"]["coordinates"][0]
        assert np.allclose(ring[:4], expected, atol=1e-8) and ring[0] == ring[4]
    # A chip's PNG is the scene's pixels (8-bit RGB, stretched between the 2nd and 98th
    # percentiles of the scene).
    first = next(
        c
        for c in chips
        if (c["metadata"]["window"]["col"], c["metadata"]["window"]["row"]) == (448, 448)
    )
    with Workspace.open(tmp_path) as ws:
        png = np.asarray(Image.open(io.BytesIO(ws.blobs.get_bytes(first["id"]))))
    lo, hi = (
        scene["metadata"]["scene"]["display"]["low"],
        scene["metadata"]["scene"]["display"]["high"],
    )
    window = arr[:, 448:960, 448:960].astype(np.float32)
    want = np.clip(
        (window - np.array(lo)[:, None, None]) * (255 / (np.array(hi) - lo)[:, None, None]), 0, 255
    )
    assert np.array_equal(png, np.moveaxis(want.astype(np.uint8), 0, -1))
    # Met again, the scene is one duplicate: found by the file's sha256, not converted again.
    again = cli("ingest", tmp_path / "town.tif", "--json").json()
    assert (again["new"], again["duplicate"], again["item_ids"]) == (0, 1, [scene["id"]])
    assert list(scratch.iterdir()) == []


def test_a_cog_is_kept_as_given_and_bands_choose_the_rendering(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _scene(tmp_path / "plain.tif", 700, 600, bands=4, dtype="uint16")
    cog = tmp_path / "multi.tif"
    with rasterio.open(tmp_path / "plain.tif") as src:
        rasterio.shutil.copy(src, cog, driver="COG", BLOCKSIZE=256)
    Workspace.init(tmp_path / "ws").close()
    cli("ingest", cog, "--bands", "4,3,2", "--chip", "256", "--overlap", "0", cwd=tmp_path / "ws")
    scene, *chips = item_rows(tmp_path / "ws")
    import hashlib

    assert scene["id"] == hashlib.sha256(cog.read_bytes()).hexdigest()
    assert scene["metadata"]["scene"]["cog"] == "as given"
    assert scene["metadata"]["scene"]["dtypes"] == ["uint16"] * 4
    assert scene["metadata"]["scene"]["display"]["bands"] == [4, 3, 2]
    assert chips and all(
        c["media_type"] == "image/png" and c["metadata"]["display"]["bands"] == [4, 3, 2]
        for c in chips
    )
    res = cli("ingest", cog, "--bands", "5", cwd=tmp_path / "ws", code=None)
    assert "the scene has bands 1 to 4" in res.stdout + res.stderr
    res = cli("ingest", cog, "--bands", "1,2,3,4,1", cwd=tmp_path / "ws", code=None)
    assert "a chip's PNG shows 1 to 4 bands, not 5" in res.stdout + res.stderr


def test_nitf_and_plain_tiff(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _scene(tmp_path / "pass.ntf", 600, 520, driver="NITF", crs="EPSG:4326", nodata=None)
    Image.fromarray(np.full((20, 30, 3), 90, np.uint8)).save(tmp_path / "photo.tif")
    Workspace.init(tmp_path / "ws").close()
    cli("ingest", tmp_path / "pass.ntf", tmp_path / "photo.tif", cwd=tmp_path / "ws")
    rows = {r["name"]: r for r in item_rows(tmp_path / "ws")}
    assert rows["photo.tif"]["media_type"] == "image/tiff"  # no georeference: an image
    nitf = rows["pass.ntf"]["metadata"]["scene"]
    assert nitf["cog"] == "converted" and nitf["crs"] == "EPSG:4326"
    # 5e-5 degrees: about 5.5 m north-south, 4.8 m east-west at 29.8 degrees north.
    assert nitf["gsd_m"] == pytest.approx((5.54 + 4.83) / 2, rel=0.01)


def test_a_scene_without_georeference_is_chipped_and_says_so(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _scene(tmp_path / "raw.ntf", 600, 520, driver="NITF", crs=None, nodata=None)
    Workspace.init(tmp_path / "ws").close()
    res = cli("ingest", tmp_path / "raw.ntf", "--json", cwd=tmp_path / "ws").json()
    assert "no georeference" in res["notes"][0]["note"]
    _, *chips = item_rows(tmp_path / "ws")
    assert chips and all("footprint" not in c["metadata"] for c in chips)


def test_bad_scenes_are_one_clear_failure_each(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    Workspace.init(tmp_path / "ws").close()
    (tmp_path / "torn.ntf").write_bytes(b"NITF02.10" + bytes(300))
    res = cli("ingest", tmp_path / "torn.ntf", "--json", cwd=tmp_path / "ws", code=None).json()
    assert res["new"] == 0 and "not a raster GDAL can read" in res["failures"][0]["reason"]
    _scene(tmp_path / "s.tif", 600, 600)
    bad = cli(
        "ingest",
        tmp_path / "s.tif",
        "--chip",
        "64",
        "--overlap",
        "64",
        cwd=tmp_path / "ws",
        code=None,
    )
    assert "must be smaller than --chip" in bad.stdout + bad.stderr
    assert item_rows(tmp_path / "ws") == []


def _blobs(root: Path) -> set[str]:
    with Workspace.open(root) as ws:
        return set(ws.blobs.iter_shas())


def _unable_to_convert(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """From here on a conversion would give another COG (as a newer encoder would), and could
    not even start: the scene's temporary folder has nowhere to go."""
    from assay.ingest.sensors import raster

    monkeypatch.setattr(raster, "COG_OPTIONS", {**raster.COG_OPTIONS, "COMPRESS": "DEFLATE"})
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-folder"))


@pytest.mark.parametrize("tiled", [False, True])
def test_a_scene_met_again_is_one_duplicate_and_is_not_converted(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiled: bool
) -> None:
    _scene(tmp_path / "town.tif", 700, 600, tiled=tiled)
    Workspace.init(tmp_path / "ws").close()
    opts = ("--chip", "256", "--overlap", "0")
    first = cli("ingest", tmp_path / "town.tif", *opts, "--json", cwd=tmp_path / "ws").json()
    scene, *chips = item_rows(tmp_path / "ws")
    assert first["new"] == 1 + len(chips) and scene["metadata"]["scene"]["cog"] == "converted"
    stored = _blobs(tmp_path / "ws")
    _unable_to_convert(monkeypatch, tmp_path)
    res = cli("ingest", tmp_path / "town.tif", *opts, "--json", cwd=tmp_path / "ws").json()
    assert (res["new"], res["duplicate"], res["failed"]) == (0, 1, 0)
    assert res["item_ids"] == [scene["id"]]
    assert item_rows(tmp_path / "ws") == [scene, *chips]
    assert _blobs(tmp_path / "ws") == stored
    # The same file under another name is the same scene; the stderr line of any duplicate.
    (tmp_path / "copy.tif").write_bytes((tmp_path / "town.tif").read_bytes())
    res_text = cli("ingest", tmp_path / "copy.tif", *opts, cwd=tmp_path / "ws")
    assert "nothing new: all 1 item(s) were already ingested" in res_text.stdout + res_text.stderr


def test_other_chip_options_cut_the_scene_anew(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _scene(tmp_path / "town.tif", 700, 600, bands=4, dtype="uint16")
    Workspace.init(tmp_path / "ws").close()

    def ingest(*opts: str) -> dict[str, Any]:
        argv = ("ingest", tmp_path / "town.tif", "--chip", "256", *opts, "--json")
        out: dict[str, Any] = cli(*argv, cwd=tmp_path / "ws").json()
        return out

    first = ingest("--overlap", "0")
    scene = item_rows(tmp_path / "ws")[0]
    total = first["new"]
    # Another overlap, other display bands: each cut anew (the COG is the same item, a
    # duplicate), and found the second time.
    for opts in (("--overlap", "32"), ("--overlap", "0", "--bands", "4,3,2")):
        cut = ingest(*opts)
        assert cut["new"] > 0 and scene["id"] in cut["item_ids"], opts
        total += cut["new"]
        assert (ingest(*opts)["new"], ingest(*opts)["item_ids"]) == (0, [scene["id"]]), opts
    # The first options again, with the default bands given by name: the first cut.
    assert ingest("--overlap", "0", "--bands", "1,2,3")["item_ids"] == [scene["id"]]
    assert len(item_rows(tmp_path / "ws")) == total


def test_a_cog_given_as_is_met_again_is_one_duplicate(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _scene(tmp_path / "plain.tif", 700, 600)
    cog = tmp_path / "kept.tif"
    with rasterio.open(tmp_path / "plain.tif") as src:
        rasterio.shutil.copy(src, cog, driver="COG", BLOCKSIZE=256)
    Workspace.init(tmp_path / "ws").close()
    opts = ("--chip", "256", "--overlap", "0")
    cli("ingest", cog, *opts, cwd=tmp_path / "ws")
    scene, *chips = item_rows(tmp_path / "ws")
    assert scene["metadata"]["scene"]["cog"] == "as given" and chips
    stored = _blobs(tmp_path / "ws")
    _unable_to_convert(monkeypatch, tmp_path)
    res = cli("ingest", cog, *opts, "--json", cwd=tmp_path / "ws").json()
    assert (res["new"], res["duplicate"], res["item_ids"]) == (0, 1, [scene["id"]])
    assert item_rows(tmp_path / "ws") == [scene, *chips]
    assert _blobs(tmp_path / "ws") == stored


def test_a_scene_met_again_under_another_source_says_its_items_keep_theirs(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A scene found again by its sha256 is not read again, so another --source went without a
    # word (a video's or an image's gets a note): the note counts the scene and the chips of
    # these options, not those cut with others, and the items keep their first metadata.
    _scene(tmp_path / "town.tif", 700, 600)
    Workspace.init(tmp_path / "ws").close()
    opts = ("--chip", "256", "--overlap", "0")
    cli("ingest", tmp_path / "town.tif", *opts, "--source", "sat-a", cwd=tmp_path / "ws")
    n = len(item_rows(tmp_path / "ws"))
    cli("ingest", tmp_path / "town.tif", "--chip", "256", "--overlap", "32", "--source", "sat-b",
        cwd=tmp_path / "ws")  # fmt: skip
    rows = item_rows(tmp_path / "ws")
    assert len(rows) > n
    _unable_to_convert(monkeypatch, tmp_path)

    def again(source: str) -> dict[str, Any]:
        argv = ("ingest", tmp_path / "town.tif", *opts, "--source", source, "--json")
        out: dict[str, Any] = cli(*argv, cwd=tmp_path / "ws").json()
        assert (out["new"], out["duplicate"], out["failed"]) == (0, 1, 0)
        return out

    assert again("sat-a")["notes"] == []
    assert again("sat-c")["notes"] == [
        {
            "path": str(tmp_path / "town.tif"),
            "note": f"{n} item(s) of this file were ingested before with other metadata "
            "(differing in source): an item is its bytes, so each keeps the metadata it was "
            "made with and this run's is not stored",
        }
    ]
    assert item_rows(tmp_path / "ws") == rows


def test_a_scene_met_again_with_a_marking_is_read_again_to_raise_its_chips(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path
) -> None:
    _scene(tmp_path / "town.tif", 700, 600)
    Workspace.init(tmp_path / "ws").close()
    opts = ("--chip", "256", "--overlap", "0")
    cli("ingest", tmp_path / "town.tif", *opts, cwd=tmp_path / "ws")
    res = cli("ingest", tmp_path / "town.tif", *opts, "--marking", "SECRET", "--json",
              cwd=tmp_path / "ws").json()  # fmt: skip
    rows = item_rows(tmp_path / "ws")
    assert (res["new"], res["duplicate"]) == (0, len(rows))
    assert {r["marking"] for r in rows} == {"SECRET"}


def test_scenes_ingested_before_schema_11_are_found_after_the_migration(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _scene(tmp_path / "town.tif", 700, 600)
    Workspace.init(tmp_path / "ws").close()
    opts = ("--chip", "256", "--overlap", "0")
    cli("ingest", tmp_path / "town.tif", *opts, cwd=tmp_path / "ws")
    before = item_rows(tmp_path / "ws")
    # As an older assay left it: no rows of its scenes, schema version 10 (on either database).
    w = Workspace.open(tmp_path / "ws")
    with w.db.begin() as conn:
        gone = conn.execute(text("DELETE FROM derived WHERE kind LIKE 'scene-%'")).rowcount
        conn.execute(text("UPDATE meta SET value = '10' WHERE key = 'schema_version'"))
    w.close()
    assert gone == 2
    stored = _blobs(tmp_path / "ws")  # opening migrates
    w = Workspace.open(tmp_path / "ws")
    with w.db.read() as conn:
        kinds = sorted(k for (k,) in conn.execute(text("SELECT kind FROM derived")))
    w.close()
    assert kinds[1] == "scene-original" and kinds[0].startswith("scene-chips:")
    _unable_to_convert(monkeypatch, tmp_path)
    res = cli("ingest", tmp_path / "town.tif", *opts, "--json", cwd=tmp_path / "ws").json()
    assert (res["new"], res["duplicate"], res["item_ids"]) == (0, 1, [before[0]["id"]])
    assert item_rows(tmp_path / "ws") == before and _blobs(tmp_path / "ws") == stored


def _float_scene(path: Path, arr: np.ndarray, nodata: float) -> None:
    with rasterio.open(
        path, "w", driver="GTiff", width=arr.shape[2], height=arr.shape[1], count=1,
        dtype="float32", crs="EPSG:32615", transform=from_origin(*ORIGIN, 0.5, 0.5),
        nodata=nodata,
    ) as dst:  # fmt: skip
        dst.write(arr)


def test_a_float_scene_with_nan_nodata_is_stretched_on_its_data(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # A DEM whose nodata is NaN (GDAL's usual for float products): NaN != NaN, so the stretch
    # took NaN as its percentiles and every chip rendered black (three "duplicates" of the
    # first, their windows lost), the all-NaN chip was kept, and the scene's metadata held NaN,
    # which is not JSON: every later export of a dataset with it stopped on a traceback.
    dem = np.random.default_rng(3).normal(10, 3, (1, 600, 600)).astype("float32")
    dem[0, :300, :300] = np.nan
    _float_scene(tmp_path / "dem.tif", dem, float("nan"))
    Workspace.init(tmp_path / "ws").close()
    res = cli("ingest", tmp_path / "dem.tif", "--chip", "256", "--overlap", "0", "--json",
              cwd=tmp_path / "ws").json()  # fmt: skip
    # 3 x 3 windows; the first lies in the NaN corner whole and is skipped.
    assert (res["new"], res["duplicate"], res["failed"]) == (1 + 8, 0, 0)
    with Workspace.open(tmp_path / "ws") as ws, ws.db.read() as conn:
        raw = [r[0] for r in conn.execute(text("SELECT metadata FROM items"))]
    strict = [json.loads(m, parse_constant=lambda c: pytest.fail(f"{c} in metadata")) for m in raw]
    scene = next(m["scene"] for m in strict if "scene" in m)
    assert scene["nodata"] == "nan"
    low, high = scene["display"]["low"][0], scene["display"]["high"][0]
    finite = dem[~np.isnan(dem)]
    assert low == pytest.approx(np.percentile(finite, 2), abs=0.2)
    assert high == pytest.approx(np.percentile(finite, 98), abs=0.2)
    rows = {r["name"]: r for r in item_rows(tmp_path / "ws")}
    assert "dem.tif#col=0&row=0" not in rows
    blob = rows["dem.tif#col=256&row=256"]
    with Workspace.open(tmp_path / "ws") as ws:
        png = np.asarray(Image.open(io.BytesIO(ws.blobs.get_bytes(blob["id"]))))
    assert png.std() > 20  # the data, stretched: not one flat value


def test_a_flat_band_renders_without_dividing_by_zero(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Its 2nd and 98th percentiles are one value: the float32 span was 0 and every pixel NaN.
    flat = np.full((1, 300, 300), -9999, "float32")
    flat[0, 100:, 100:] = 5.0
    _float_scene(tmp_path / "flat.tif", flat, -9999)
    Workspace.init(tmp_path / "ws").close()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        res = cli("ingest", tmp_path / "flat.tif", "--json", cwd=tmp_path / "ws").json()
    assert (res["new"], res["duplicate"]) == (2, 0)
    chip = next(r for r in item_rows(tmp_path / "ws") if r["parent_id"])
    with Workspace.open(tmp_path / "ws") as ws:
        png = np.asarray(Image.open(io.BytesIO(ws.blobs.get_bytes(chip["id"]))))
    assert png[0, 0] == 0 and png[150, 150] == 255  # nodata dark, the data at the top


def test_chips_equal_within_one_scene_are_noted(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # A uniform area (a lake, a field) renders the same chip twice: one item holds both, named
    # and windowed as the first, and ingest said only "1 duplicate".
    arr = np.full((1, 256, 768), 100, np.uint8)
    arr[0, :, 512:] = np.random.default_rng(5).integers(1, 255, (256, 256), dtype=np.uint8)
    with rasterio.open(
        tmp_path / "lake.tif", "w", driver="GTiff", width=768, height=256, count=1,
        dtype="uint8", crs="EPSG:32615", transform=from_origin(*ORIGIN, 0.5, 0.5),
    ) as dst:  # fmt: skip
        dst.write(arr)
    Workspace.init(tmp_path / "ws").close()
    opts = ("--chip", "256", "--overlap", "0", "--json")
    res = cli("ingest", tmp_path / "lake.tif", *opts, cwd=tmp_path / "ws").json()
    assert (res["new"], res["duplicate"]) == (1 + 2, 1)
    assert [n["note"] for n in res["notes"]] == [
        "1 frame(s) or chip(s) have the bytes of an earlier one of this file (a uniform area): "
        "one item holds them, under the first one's name, window or time"
    ]
    names = sorted(r["name"] for r in item_rows(tmp_path / "ws") if r["parent_id"])
    assert names == ["lake.tif#col=0&row=0", "lake.tif#col=512&row=0"]


@pytest.mark.parametrize(("nodata", "spelled"), [(float("inf"), "inf"), (float("-inf"), "-inf")])
def test_an_infinite_nodata_is_stored_as_gdal_spells_it(
    cli, tmp_path: Path, nodata: float, spelled: str
) -> None:  # type: ignore[no-untyped-def]
    # json.dumps wrote an infinite nodata as Infinity, which is not JSON (as NaN was before it
    # was stored "nan"); an infinite nodata pixel is still nodata, left out of the stretch.
    dem = np.random.default_rng(4).normal(10, 3, (1, 300, 300)).astype("float32")
    dem[0, :100] = nodata
    _float_scene(tmp_path / "dem.tif", dem, nodata)
    Workspace.init(tmp_path / "ws").close()
    res = cli("ingest", tmp_path / "dem.tif", "--json", cwd=tmp_path / "ws").json()
    assert (res["new"], res["failed"]) == (2, 0)
    with Workspace.open(tmp_path / "ws") as ws, ws.db.read() as conn:
        raw = [r[0] for r in conn.execute(text("SELECT metadata FROM items"))]
    strict = [json.loads(m, parse_constant=lambda c: pytest.fail(f"{c} in metadata")) for m in raw]
    scene = next(m["scene"] for m in strict if "scene" in m)
    assert scene["nodata"] == spelled
    finite = dem[np.isfinite(dem)]
    assert scene["display"]["high"][0] == pytest.approx(np.percentile(finite, 98), abs=0.2)


def test_chip_options_that_do_not_fit_are_refused_before_anything_is_read(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path
) -> None:
    # Not a failure per scene (one line each, while the folder's photos went in): the
    # command is refused as bad usage, naming the options, and nothing is ingested.
    Workspace.init(tmp_path / "ws").close()
    (tmp_path / "in").mkdir()
    _scene(tmp_path / "in" / "a.tif", 300, 300)
    _scene(tmp_path / "in" / "b.tif", 300, 300)
    Image.fromarray(np.full((20, 30, 3), 90, np.uint8)).save(tmp_path / "in" / "photo.png")
    bad = cli(
        "ingest", tmp_path / "in", "--chip", "64", "--overlap", "64", cwd=tmp_path / "ws", code=2
    )
    lines = [ln for ln in bad.stderr.splitlines() if "--overlap" in ln]
    assert len(lines) == 1, bad.stderr
    assert "'--overlap': 64 must be smaller than --chip 64" in lines[0]
    assert item_rows(tmp_path / "ws") == []


def test_a_scenes_acquisition_time_is_its_chips_capture_time(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # A GeoTIFF states when it was taken (TIFFTAG_DATETIME, as EXIF does for a photo): the
    # scene and its chips carry it as `captured_at`, so a query on time finds them and a
    # STAC export dates them by it rather than by the export.
    Workspace.init(tmp_path / "ws").close()
    _scene(tmp_path / "dated.tif", 1000, 1000)
    with rasterio.open(tmp_path / "dated.tif", "r+") as dst:
        dst.update_tags(TIFFTAG_DATETIME="2024:08:30 10:15:00")
    _scene(tmp_path / "undated.tif", 1000, 1000, seed=1)
    cli("ingest", tmp_path / "dated.tif", tmp_path / "undated.tif", cwd=tmp_path / "ws")
    rows = item_rows(tmp_path / "ws")
    dated = {r["name"] for r in rows if r["name"].startswith("dated.tif")}
    assert len(dated) > 1  # the scene and its chips
    assert {
        r["name"] for r in rows if r["metadata"].get("captured_at") == "2024-08-30T10:15:00"
    } == dated
    cli("dataset", "create", "aug", cwd=tmp_path / "ws")
    added = cli(
        "dataset", "add", "aug", "--items", "metadata.captured_at>=2024-08-30", "--json",
        cwd=tmp_path / "ws",
    ).json()  # fmt: skip
    assert added["matched"] == len(dated)
    cli("export", "aug", "--format", "stac", "--out", tmp_path / "stac", cwd=tmp_path / "ws")
    times = {
        json.loads(p.read_text())["properties"]["datetime"]
        for p in (tmp_path / "stac").glob("aug-imagery/*/*.json")
    }
    assert times == {"2024-08-30T10:15:00Z"}

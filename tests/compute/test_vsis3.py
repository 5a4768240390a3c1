"""Rasters on S3 are read in place through GDAL's /vsis3/ (in ranges), not downloaded whole:
a scene tile rendered from SeaweedFS equals the tile of a local copy of the same COG."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
from PIL import Image
from sqlalchemy import select

from assay.ingest.sensors.options import ChipOptions, SensorOptions
from assay.ingest.sensors.synth import write_scene
from assay.labeling import add_user
from assay.labeling.geomap import scene_tile
from assay.store.blobs import raster_path
from assay.store.schema import items
from assay.workspace import Workspace


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return int((lon + 180) / 360 * n), int(y)


def test_a_scene_on_s3_is_read_in_place_through_vsis3(ws: Workspace, tmp_path: Path) -> None:
    import rasterio
    from rio_tiler.io import Reader

    assert ws.blobs.url.startswith("s3://")
    write_scene(tmp_path / "town.tif", size=1024)
    ws.ingest([tmp_path / "town.tif"], sensors=SensorOptions(chips=ChipOptions(size=512)))
    with ws.db.read() as conn:
        scene, meta = conn.execute(
            select(items.c.id, items.c.metadata).where(items.c.name == "town.tif")
        ).one()
    cached = ws.blobs.cache / scene[:2] / scene[2:]  # type: ignore[attr-defined]
    with raster_path(ws.blobs, scene) as name:
        assert name.startswith("/vsis3/")
        with rasterio.open(name) as src:
            window = src.read(1, window=((100, 164), (200, 264)))
            size = (src.width, src.height)
    ring = json.loads(meta)["footprint"]["coordinates"][0]
    lon, lat = sum(p[0] for p in ring[:4]) / 4, sum(p[1] for p in ring[:4]) / 4
    x, y = _tile_of(lon, lat, 18)
    root = add_user(ws, "root", "admin", "TOP SECRET", "flood-watch-2026")
    tile = scene_tile(ws, root, scene, 18, x, y)
    assert tile is not None
    assert not cached.exists()  # read in ranges through GDAL, never copied here whole
    # The same from a whole local copy of the COG.
    local = ws.blobs.path(scene)
    assert cached.exists()
    with rasterio.open(local) as src:
        assert (src.width, src.height) == size
        assert np.array_equal(src.read(1, window=((100, 164), (200, 264))), window)
    display = json.loads(meta)["scene"].get("display") or {}
    with Reader(str(local)) as src:
        img = src.tile(x, y, 18, tilesize=256, indexes=tuple(display.get("bands") or (1, 2, 3)))
    low, high = display.get("low"), display.get("high")
    if low is not None and high is not None:  # the scene's display stretch, as the map's
        lows = low if isinstance(low, list) else [low] * 3
        highs = high if isinstance(high, list) else [high] * 3
        img.rescale(in_range=[(float(a), float(b)) for a, b in zip(lows, highs, strict=False)])
    got = np.asarray(Image.open(io.BytesIO(tile)))
    want = np.asarray(Image.open(io.BytesIO(img.render(img_format="PNG"))))
    assert got.shape == want.shape and np.array_equal(got, want)

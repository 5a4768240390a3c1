"""Scene tiles (/tiles/{item}/{z}/{x}/{y}.png): Web Mercator PNG tiles rendered from the
scene's COG with its display stretch, 204 off the scene, 404 above the viewer's clearance."""

from __future__ import annotations

import importlib
import io
import json
import math
import sys

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from assay.ingest.sensors.options import ChipOptions, SensorOptions
from assay.ingest.sensors.synth import write_scene
from assay.store.schema import items
from labeling_world import Client, World
from old_metadata import float_scene, plant_old_scene


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return int((lon + 180) / 360 * n), int(y)


def test_scene_tiles_follow_need_to_know(world: World, client: Client) -> None:
    ws = world.ws
    folder = ws.root.parent / "scenes"
    folder.mkdir()
    write_scene(folder / "town.tif", size=512)
    options = SensorOptions(chips=ChipOptions(size=512, overlap=0))
    ws.ingest([folder / "town.tif"], marking="SECRET/SAR", sensors=options)
    with ws.db.read() as conn:
        scene, meta = conn.execute(
            select(items.c.id, items.c.metadata).where(items.c.name == "town.tif")
        ).one()
    ring = json.loads(meta)["footprint"]["coordinates"][0]
    lon = sum(p[0] for p in ring[:4]) / 4
    lat = sum(p[1] for p in ring[:4]) / 4
    x, y = _tile_of(lon, lat, 18)
    root = client("root")
    r = root.get(f"/tiles/{scene}/18/{x}/{y}.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    img = np.asarray(Image.open(io.BytesIO(r.content)))
    assert img.shape[:2] == (256, 256)
    assert img[..., :3].std() > 0  # the scene's pixels, not a blank tile
    # Far from the scene: nothing to draw.
    assert root.get(f"/tiles/{scene}/18/{x + 50}/{y}.png").status_code == 204
    # Above ana's clearance: the same 404 as a scene that does not exist.
    ana = client("ana")
    assert ana.get(f"/tiles/{scene}/18/{x}/{y}.png").status_code == 404
    assert ana.get(f"/tiles/{'0' * 64}/18/{x}/{y}.png").status_code == 404
    assert client(None).get(f"/tiles/{scene}/18/{x}/{y}.png").status_code == 401
    assert root.get(f"/tiles/{scene}/3/1/3.png").status_code == 204  # far coarser than the scene
    assert root.get(f"/tiles/{scene}/3/8/1.png").status_code == 404  # x only goes to 7 at zoom 3


def test_a_library_missing_from_the_server_is_a_501_naming_its_extra(
    world: World, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server installed without the library a page needs answers with the extra to install
    (501, as for a command), not a 500 with a traceback in its log. The library is made missing
    as on such a machine: its import fails with the interpreter's own error."""
    ws = world.ws
    folder = ws.root.parent / "scenes"
    folder.mkdir()
    write_scene(folder / "town.tif", size=256)
    ws.ingest([folder / "town.tif"], sensors=SensorOptions(chips=ChipOptions(size=256)))
    with ws.db.read() as conn:
        scene = conn.execute(select(items.c.id).where(items.c.name == "town.tif")).scalar_one()
    # rio_tiler itself imports (as `require` checks it); the module its reader comes from not.
    importlib.import_module("rio_tiler")
    monkeypatch.setitem(sys.modules, "rio_tiler.io", None)
    r = client("root").get(f"/tiles/{scene}/18/0/0.png")
    assert r.status_code == 501  # a page (tiles are not under /api): the message on it
    assert (
        "rio_tiler is not installed; install it with: pip install &#39;assay[sensors]&#39;"
        in r.text
    )


def test_a_scene_with_the_nan_older_ingests_stored_is_served_as_json(
    world: World, client: Client
) -> None:
    # Before NaN nodata was stored as "nan", a float scene's metadata held a bare NaN (or
    # infinity): the API read a float, which JSON cannot hold, and the item (its page in the
    # explorer, its task) said null, no nodata. It is "-inf" now, as ingests store it; the row
    # stays as it was.
    ws = world.ws
    folder = ws.root.parent / "scenes"
    folder.mkdir()
    float_scene(folder / "dem.tif", float("nan"))
    ws.ingest([folder / "dem.tif"])
    scene, old = plant_old_scene(ws, float("-inf"))
    root = client("root")
    r = root.get(f"/api/v1/items/{scene}")
    assert r.status_code == 200, r.text
    meta = json.loads(r.text, parse_constant=lambda c: pytest.fail(f"{c} in the answer"))
    assert meta["metadata"]["scene"]["nodata"] == "-inf"
    layers = root.get("/api/v1/map/layers")
    assert layers.status_code == 200 and "Infinity" not in layers.text
    with ws.db.read() as conn:
        assert conn.execute(select(items.c.metadata).where(items.c.id == scene)).scalar() == old

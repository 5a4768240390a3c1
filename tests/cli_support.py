"""Helpers the root conftest shares with test modules.

Test modules import these from here, never `from conftest import ...`: pytest loads several
conftest files (tests/, tests/server/browser/, ...) under the one module name `conftest`, so
which one that import finds depends on the order the tests were collected in.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SRC = Path(__file__).resolve().parents[1] / "src"
ACTOR = "user:tester"

# The metadata database of the running test: None for SQLite in the workspace (the default),
# or the URL of its own PostgreSQL schema under `--db postgresql`.
TEST_DB: dict[str, str | None] = {"url": None}


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("ASSAY_WORKSPACE", "ASSAY_DATABASE_URL", "ASSAY_ACTOR")
    }
    if TEST_DB["url"]:
        env["ASSAY_DATABASE_URL"] = TEST_DB["url"]
    env["PYTHONPATH"] = str(SRC)
    env["ASSAY_ACTOR"] = ACTOR
    env["COLUMNS"] = "200"
    env["NO_COLOR"] = "1"
    env.update(extra or {})
    return env


def on_a_terminal(args: list[str], cwd: Path) -> str:
    """Run the CLI with stderr on a pseudo-terminal; what it wrote there."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "assay", *args],
        cwd=cwd,
        env=cli_env({"TERM": "xterm"}),
        stdout=subprocess.PIPE,
        stderr=follower,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # the other end closed
            break
        if not data:
            break
        chunks.append(data)
    proc.communicate(timeout=120)
    os.close(leader)
    assert proc.returncode == 0
    return b"".join(chunks).decode("utf-8", "replace")


def flood_scene(seed: int, size: tuple[int, int] = (48, 32)) -> Image.Image:
    """A tiny synthetic aerial flood scene: brown water, rooftops, a road; unique per seed."""
    w, h = size
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = (96, 124, 70)  # fields
    water = h // 2 + int(rng.integers(-h // 6, h // 6 + 1))
    img[water:] = (120, 96, 60)  # muddy flood water
    img[:, w // 3 : w // 3 + 3] = (80, 80, 80)  # a road
    for _ in range(3):
        x, y = int(rng.integers(0, w - 6)), int(rng.integers(0, h - 6))
        img[y : y + 5, x : x + 6] = (170, 40, 40)  # rooftops
    img[0, 0] = (seed % 256, (seed // 256) % 256, 7)  # make every seed's bytes distinct
    return Image.fromarray(img, "RGB")


# A box schema for the video tests (a drone flight over the flooded town).
FLOOD_TRAFFIC_SCHEMA = """
title: Flood traffic
controls:
  - name: label
    type: boxes
    labels: [vehicle, boat, person]
"""


def town_scene(path: Path) -> None:
    """A 700 x 600 RGB GeoTIFF in UTM 15N (0.5 m pixels) over the flooded town."""
    import rasterio
    from rasterio.transform import from_origin

    arr = np.random.default_rng(1).integers(1, 255, (3, 600, 700), dtype=np.uint8)
    with rasterio.open(
        path, "w", driver="GTiff", width=700, height=600, count=3, dtype="uint8",
        crs="EPSG:32615", transform=from_origin(270_000, 3_295_000, 0.5, 0.5),
    ) as dst:  # fmt: skip
        dst.write(arr)


def item_ids(ws: object, children: bool = False) -> dict[str, str]:
    """{name: id} of the workspace's items (only the chips and frames cut from a parent when
    `children`), read through the workspace's own database, SQLite or PostgreSQL."""
    from sqlalchemy import select

    from assay import Workspace
    from assay.store.schema import items

    assert isinstance(ws, Workspace)
    query = select(items.c.name, items.c.id)
    if children:
        query = query.where(items.c.parent_id.is_not(None))
    with ws.db.read() as conn:
        return dict(conn.execute(query).all())


def geo_workspace(tmp_path: Path) -> object:
    """A workspace at tmp_path/ws holding `town_scene` (town.tif, chipped) and a 3 s drone
    flight (f.ts), with the dataset "geo" of the chips and the frames."""
    from assay import Workspace
    from assay.ingest.sensors.synth import write_flight

    town_scene(tmp_path / "town.tif")
    write_flight(tmp_path / "f.ts", seconds=3, klv_hz=5)
    ws = Workspace.init(tmp_path / "ws")
    ws.ingest([tmp_path / "town.tif", tmp_path / "f.ts"])
    ws.create_dataset("geo")
    ws.add_items("geo", "media_type=image/png")
    ws.add_items("geo", "media_type=image/jpeg")
    return ws


def without_modules(tmp_path: Path, *modules: str) -> dict[str, str]:
    """The environment of a machine without `modules` (as without an extra): a package of
    each name earlier on the path fails to import with the interpreter's own error."""
    shadow = tmp_path / "missing"
    for name in modules:
        pkg = shadow / name
        pkg.mkdir(parents=True)
        (pkg / "__init__.py").write_text(
            f"raise ModuleNotFoundError(\"No module named '{name}'\", name={name!r})\n"
        )
    return {"PYTHONPATH": os.pathsep.join([str(shadow), str(SRC)])}

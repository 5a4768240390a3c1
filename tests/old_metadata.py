"""Scenes as older ingests stored them: a NaN or infinite nodata written by `json.dumps` as a
bare `NaN` or `Infinity` in the item's metadata (not JSON). The tests plant the row directly.

A uniquely named module (not `conftest`) so test files can import its helpers under xdist.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select, update

from assay import Workspace
from assay.domain.canonical import metadata_record
from assay.store.schema import items


def float_scene(path: Path, nodata: float, size: int = 300, seed: int = 3) -> None:
    """A one-band float32 GeoTIFF (a DEM) with `nodata` declared."""
    import rasterio
    from rasterio.transform import from_origin

    dem = np.random.default_rng(seed).normal(10, 3, (1, size, size)).astype("float32")
    with rasterio.open(
        path, "w", driver="GTiff", width=size, height=size, count=1, dtype="float32",
        crs="EPSG:32615", transform=from_origin(270_000, 3_295_000, 0.5, 0.5), nodata=nodata,
    ) as dst:  # fmt: skip
        dst.write(dem)


def plant_old_scene(
    ws: Workspace, nodata: float = float("nan"), name: str = "dem.tif", **extra: Any
) -> tuple[str, str]:
    """Rewrite the row of scene `name` as an older ingest stored it: its nodata the bare float
    (NaN, Infinity), `extra` keys added. Returns (scene id, the stored text)."""
    with ws.db.begin() as conn:
        scene_id, text = conn.execute(
            select(items.c.id, items.c.metadata).where(items.c.name == name)
        ).one()
        meta = json.loads(text)
        meta["scene"]["nodata"] = nodata
        meta.update(extra)
        old, old_hash = metadata_record(meta)
        assert "NaN" in old or "Infinity" in old
        conn.execute(
            update(items).where(items.c.id == scene_id).values(metadata=old, metadata_hash=old_hash)
        )
    return str(scene_id), old

"""The offline map's data: georeferenced items, labels as features, flight tracks, scene tiles.

Everything is filtered by need-to-know: an item above the viewer's clearance (or outside their
compartments) gives no footprint, no label, no track point and no tile; a tile of such a
scene answers 404 like a missing one. Labels are the labels of record of the datasets the
viewer may know of (declared marking and every item's marking allowed; each feature names its
dataset), placed on the ground by the same code as ``assay export --format geojson``.

Scene tiles are Web Mercator (XYZ) PNG tiles rendered by rio-tiler from the scene's COG blob
with the display rendering stored at ingest (band choice and percentile stretch).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from assay.domain.canonical import read_metadata
from assay.domain.labels import payload_from_json
from assay.errors import NotFound, require
from assay.formats._model import ExportBundle, ExportRow
from assay.formats._stream import RowStream
from assay.formats.geojson import label_features, track_features
from assay.labeling.users import User
from assay.store.blobs import raster_path
from assay.store.schema import datasets, items, working
from assay.workspace import Workspace

__all__ = ["map_layers", "scene_tile"]

TILE = 256
MIN_ZOOM_BELOW = 2  # tiles down to two zoom levels below the scene's native resolution's
MAX_ITEMS = 20_000


def _visible_markings(ws: Workspace, user: User) -> list[str]:
    with ws.db.read() as conn:
        present = conn.execute(select(items.c.marking).distinct()).scalars().all()
    scheme = ws.scheme
    return [m for m in present if scheme.allows(user.clearance, scheme.parse(m))]


def _no_bytes() -> bytes:
    raise NotFound("the map serves no item bytes")


def map_layers(ws: Workspace, user: User, dataset: str | None = None) -> dict[str, Any]:
    """GeoJSON feature collections for the map: ``items``, ``labels``, ``tracks``, ``scenes``.

    Args:
        dataset: only this dataset's labels (default: every dataset's).
    """
    allowed = _visible_markings(ws, user)
    geo = items.c.metadata.like('%"footprint"%') | items.c.metadata.like('%"geo"%')
    cols = [
        items.c.id,
        items.c.name,
        items.c.media_type,
        items.c.width,
        items.c.height,
        items.c.marking,
        items.c.metadata,
    ]
    with ws.db.read() as conn:
        rows = conn.execute(
            select(*cols).where(items.c.marking.in_(allowed), geo).limit(MAX_ITEMS)
        ).all()
        q = select(datasets.c.name, working.c.item_id, working.c.labels).join(
            datasets, datasets.c.id == working.c.dataset_id
        )
        if dataset is not None:
            q = q.where(datasets.c.name == dataset)
        ids = {r.id for r in rows}
        known = _known_datasets(conn, ws, user)
        labelled = [
            r
            for r in conn.execute(q.where(working.c.n_regions > 0))
            if r[1] in ids and r[0] in known
        ]
    by_id = {r.id: r for r in rows}
    meta = {r.id: read_metadata(r.metadata) for r in rows}

    def export_row(item_id: str, regions_json: str = "[]") -> ExportRow:
        r = by_id[item_id]
        return ExportRow(
            item_id=r.id,
            name=r.name,
            media_type=r.media_type,
            width=r.width,
            height=r.height,
            marking=r.marking,
            metadata=meta[r.id],
            regions=payload_from_json(regions_json),
            read_bytes=_no_bytes,
        )

    bundle = ExportBundle(RowStream.of([]), [], dataset or "", None, "")
    all_rows = [export_row(r.id) for r in rows]
    _, item_features = label_features(bundle, all_rows)
    labels: list[Any] = []
    for ds_name, item_id, labels_json in labelled:
        found, _ = label_features(bundle, [export_row(item_id, labels_json)])
        for f in found:
            f["properties"]["dataset"] = ds_name
        labels.extend(found)
    for f in item_features:
        m = meta[f["properties"]["item"]]
        kind = "scene" if "scene" in m else "frame" if "frame" in m else "chip"
        kind = kind if ("window" in m or kind != "chip") else "item"
        f["properties"]["kind"] = kind
    tracks, _ = track_features(all_rows, ws.scheme.highest_text(r.marking for r in rows))
    scenes = [
        {"item": r.id, "name": r.name, "marking": r.marking, "bounds": _bounds(meta[r.id])}
        for r in rows
        if "scene" in meta[r.id] and meta[r.id].get("footprint")
    ]
    return {
        "marking": ws.scheme.highest_text(r.marking for r in rows) if rows else None,
        "items": _collection(item_features),
        "labels": _collection(labels),
        "tracks": _collection(tracks),
        "scenes": scenes,
        "dropped": dict(bundle.dropped.counts),
    }


def _known_datasets(conn: Any, ws: Workspace, user: User) -> set[str]:
    """The datasets `user` may know of: declared marking and every item's marking allowed."""
    q = (
        select(datasets.c.name, datasets.c.marking, items.c.marking)
        .select_from(datasets)
        .join(working, working.c.dataset_id == datasets.c.id, isouter=True)
        .join(items, items.c.id == working.c.item_id, isouter=True)
        .distinct()
    )
    scheme = ws.scheme
    seen: set[str] = set()
    hidden: set[str] = set()
    for name, declared, marking in conn.execute(q):
        seen.add(name)
        for m in (declared, marking):
            if m and not scheme.allows(user.clearance, scheme.parse(m)):
                hidden.add(name)
    return seen - hidden


def _collection(features: list[Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features}


def _bounds(m: dict[str, Any]) -> list[float]:
    ring = m["footprint"]["coordinates"][0]
    xs, ys = [p[0] for p in ring], [p[1] for p in ring]
    return [min(xs), min(ys), max(xs), max(ys)]


def scene_tile(ws: Workspace, user: User, item_id: str, z: int, x: int, y: int) -> bytes | None:
    """The PNG of XYZ tile (`z`, `x`, `y`) of a scene, or None when the tile misses the scene
    or is more than two zoom levels coarser than the scene's own resolution.

    Raises:
        NotFound: no such scene, or one above the user's need-to-know.
    """
    with ws.db.read() as conn:
        row = conn.execute(select(items).where(items.c.id == item_id)).first()
    scheme = ws.scheme
    if row is None or not scheme.allows(user.clearance, scheme.parse(row.marking)):
        raise NotFound(f"no scene {item_id[:16]!r}")
    scene = read_metadata(row.metadata).get("scene")
    if not isinstance(scene, dict):
        raise NotFound(f"item {item_id[:16]!r} is not a scene")
    require("rio_tiler", "sensors")
    from rio_tiler.errors import TileOutsideBounds
    from rio_tiler.io import Reader

    display = scene.get("display") or {}
    bands = tuple(int(b) for b in display.get("bands") or (1, 2, 3))
    # On S3 the COG is read in place through GDAL's /vsis3/: a tile fetches a few ranges.
    with raster_path(ws.blobs, row.id) as name, Reader(name) as src:
        # Far out, a tile would warp the whole scene into a few pixels, and GDAL takes minutes
        # over it: such zooms show the footprint only.
        if z < src.minzoom - MIN_ZOOM_BELOW:
            return None
        try:
            img = src.tile(x, y, z, tilesize=TILE, indexes=bands)
        except TileOutsideBounds:
            return None
    low, high = display.get("low"), display.get("high")
    if low is not None and high is not None:
        lows = low if isinstance(low, list) else [low] * len(bands)
        highs = high if isinstance(high, list) else [high] * len(bands)
        img.rescale(in_range=[(float(a), float(b)) for a, b in zip(lows, highs, strict=False)])
    png: bytes = img.render(img_format="PNG")
    return png

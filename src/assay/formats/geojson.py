"""GeoJSON (RFC 7946): labels as geographic features, item footprints, flight tracks.

Labels stay in pixel space in assay; this writer places them on the ground through each
item's georeference: a chip's affine transform and CRS, or a video frame's footprint (the
homography from the image corners to the footprint corners). Files:

- ``labels.geojson``: one feature per box, polygon or point (boxes as polygons); whole-item
  answers (choices, text, ratings) take the item's footprint or location. Properties: label,
  control, kind, region id, author, item id and name, time (``captured_at``), marking, score,
  attributes.
- ``items.geojson``: each item's footprint (or its point) with id, name, time and marking.
- ``tracks.geojson``: per video, the line through its frames' centers in time order.
- ``telemetry.parquet``: one row per frame with its MISB ST 0601 telemetry.
- ``MARKING.txt``.

Pixel regions of items without a georeference cannot be placed: they are counted under
``dropped`` ("regions without georeference"). Coordinates are WGS84 longitude, latitude with
7 decimals (about 1 cm); exterior rings run counterclockwise as RFC 7946 recommends.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assay.domain.geo import PixelMapper, pixel_mapper
from assay.domain.labels import Region
from assay.formats._export import atomic_write_text, image_rows, prepare_out, write_marking
from assay.formats._model import ExportBundle, ExportRow
from assay.formats._registry import Codec

DECIMALS = 7


def _pt(p: tuple[float, float]) -> list[float]:
    return [round(p[0], DECIMALS), round(p[1], DECIMALS)]


def _ring(points: list[tuple[float, float]]) -> list[list[float]]:
    area = sum(
        x0 * y1 - x1 * y0
        for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1], strict=True)
    )
    if area < 0:  # clockwise: turn it round
        points = points[::-1]
    ring = [_pt(p) for p in points]
    return [*ring, ring[0]]


def _geometry(r: Region, to_ground: PixelMapper) -> dict[str, Any] | None:
    if r.kind == "box" and r.box is not None:
        x, y, w, h = r.box
        corners = [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
        return {"type": "Polygon", "coordinates": [_ring([to_ground(*c) for c in corners])]}
    if r.kind == "polygon" and r.points:
        return {"type": "Polygon", "coordinates": [_ring([to_ground(*p) for p in r.points])]}
    if r.kind == "point" and r.points:
        if len(r.points) == 1:
            return {"type": "Point", "coordinates": _pt(to_ground(*r.points[0]))}
        return {"type": "MultiPoint", "coordinates": [_pt(to_ground(*p)) for p in r.points]}
    return None


def item_geometry(row: ExportRow) -> dict[str, Any] | None:
    footprint = row.metadata.get("footprint")
    if isinstance(footprint, dict) and footprint.get("type") == "Polygon":
        ring = [(float(p[0]), float(p[1])) for p in footprint["coordinates"][0][:-1]]
        return {"type": "Polygon", "coordinates": [_ring(ring)]}
    geo = row.metadata.get("geo")
    if isinstance(geo, dict) and "lat" in geo and "lon" in geo:
        return {"type": "Point", "coordinates": _pt((float(geo["lon"]), float(geo["lat"])))}
    return None


def _item_props(row: ExportRow) -> dict[str, Any]:
    return {
        "item": row.item_id,
        "item_name": row.name,
        "time": row.metadata.get("captured_at"),
        "marking": row.marking,
    }


def label_features(bundle: ExportBundle, rows: Sequence[ExportRow]) -> tuple[list[Any], list[Any]]:
    labels: list[Any] = []
    items: list[Any] = []
    unplaced = 0
    for row in rows:
        to_ground = pixel_mapper(row.metadata, row.width, row.height)
        whole = item_geometry(row)
        if whole is not None:
            items.append({"type": "Feature", "geometry": whole, "properties": _item_props(row)})
        for r in row.regions:
            geom = _geometry(r, to_ground) if to_ground is not None else None
            if geom is None and r.kind in ("choice", "text", "rating", "ranking"):
                geom = whole
            if geom is None:
                unplaced += 1
                continue
            props = {
                "label": r.label,
                "control": r.control,
                "kind": r.kind,
                "region": r.id or None,
                "author": r.author or (row.authors[0] if len(row.authors) == 1 else None),
                **_item_props(row),
            }
            for key, value in (("text", r.text), ("value", r.value), ("score", r.score)):
                if value is not None:
                    props[key] = value
            if r.attributes:
                props["attributes"] = r.attributes
            labels.append({"type": "Feature", "geometry": geom, "properties": props})
    if unplaced:
        bundle.dropped.add("regions without georeference", unplaced)
    return labels, items


def _one_marking(rows: list[ExportRow], highest: str) -> str:
    """The marking of a feature drawn from several rows: theirs when they agree, else
    `highest`, the highest of all (no marking scheme here to order them by; never lower)."""
    markings = {r.marking for r in rows}
    return markings.pop() if len(markings) == 1 else highest


def track_features(
    rows: Sequence[ExportRow], highest: str
) -> tuple[list[Any], list[dict[str, Any]]]:
    """Per video (a frame's parent), the line through its frames' centers, and the frames'
    telemetry rows."""
    frames: dict[str, list[ExportRow]] = defaultdict(list)
    for row in rows:
        if isinstance(row.metadata.get("frame"), dict):
            video = str(row.metadata.get("path") or row.name.split("#")[0])
            frames[video].append(row)
    tracks, telemetry = [], []
    for video, members in sorted(frames.items()):
        members.sort(key=lambda r: float(r.metadata["frame"].get("time_s", 0)))
        line = [
            _pt((float(g["lon"]), float(g["lat"])))
            for r in members
            if isinstance(g := r.metadata.get("geo"), dict)
        ]
        for r in members:
            telemetry.append(
                {
                    "video": video,
                    "item": r.item_id,
                    **r.metadata["frame"],
                    **r.metadata.get("telemetry", {}),
                }
            )
        if len(line) >= 2:
            first, last = members[0].metadata, members[-1].metadata
            tracks.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "LineString", "coordinates": line},
                    "properties": {
                        "video": video,
                        "frames": len(members),
                        "start": first.get("captured_at"),
                        "end": last.get("captured_at"),
                        "marking": _one_marking(members, highest),
                    },
                }
            )
    return tracks, telemetry


def _collection(bundle: ExportBundle, features: list[Any]) -> str:
    doc = {
        "type": "FeatureCollection",
        "marking": bundle.marking,
        "dataset": bundle.dataset,
        "revision": bundle.revision,
        "features": features,
    }
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n"


def write(bundle: ExportBundle, out: Path) -> list[Path]:
    """Write labels, footprints, tracks and telemetry as GeoJSON (and Parquet)."""
    rows = image_rows(bundle, "geojson")
    labels, items = label_features(bundle, rows)
    tracks, telemetry = track_features(rows, bundle.marking)
    out_dir = prepare_out(Path(out))
    written = []
    for name, features in (("labels", labels), ("items", items), ("tracks", tracks)):
        path = out_dir / f"{name}.geojson"
        atomic_write_text(path, _collection(bundle, features))
        written.append(path)
    if telemetry:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(telemetry)
        table = table.replace_schema_metadata(
            {"marking": bundle.marking, "dataset": bundle.dataset}
        )
        path = out_dir / "telemetry.parquet"
        pq.write_table(table, path)
        written.append(path)
    written.append(write_marking(bundle, out_dir))
    return written


CODEC = Codec(
    name="geojson",
    read=None,
    write=write,
    description="GeoJSON features of labels on georeferenced items, footprints and flight tracks",
    title="GeoJSON",
)

"""GeoJSON (RFC 7946): labels as geographic features, item footprints, flight tracks.

Labels stay in pixel space in assay; this writer places them on the ground through each
item's georeference: a chip's affine transform and CRS, or a video frame's footprint (the
homography from the image corners to the footprint corners). Files:

- ``labels.geojson``: one feature per box, polygon or point (boxes as polygons); whole-item
  answers (choices, text, ratings) take the item's footprint or location. Properties: label,
  control, kind, region id, author, item id and name, time (``captured_at``), marking, score,
  attributes.
- ``items.geojson``: each item's footprint (or its point) with id, name, time and marking,
  and its size and georeference (``georef``: a chip's ``crs`` and ``transform``, or a frame's
  ``footprint`` corners in image order), which is what reading the labels back needs.
- ``tracks.geojson``: per video, the line through its frames' centers in time order.
- ``telemetry.parquet``: one row per frame with its MISB ST 0601 telemetry.
- ``MARKING.txt``.

Pixel regions of items without a georeference cannot be placed: they are counted under
``dropped`` ("regions without georeference"). Coordinates are WGS84 longitude, latitude
with 7 decimals (about 1 cm); exterior rings run counterclockwise as RFC 7946 recommends.

Reading (``assay import --format geojson``) takes such an export back: the folder, or its
``labels.geojson`` with ``items.geojson`` beside it. Each feature becomes a region on its item
(named by id: the workspace holds it), placed back on the pixels through the item's
georeference (a box is the pixel bounding box of its polygon), with its label, control, kind,
region id, author, text, value, score and attributes. Each item comes with the marking the
file states for it; a feature whose marking is not its item's is refused, so a marking is
never lowered unseen. Whole-item answers keep no geometry.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assay._atomic import atomic_write_text
from assay.domain.geo import PixelMapper, ground_mapper, pixel_mapper
from assay.domain.labels import Region
from assay.formats import _validate as v
from assay.formats._export import image_rows, prepare_out, write_marking
from assay.formats._model import ExportBundle, ExportRow, ImportBundle, ImportedMedia
from assay.formats._records import media_from_record, region_from_dict
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


def georef(row: ExportRow) -> dict[str, Any]:
    """What `ground_mapper` needs to place features back on the item's pixels."""
    m = row.metadata
    if isinstance(m.get("transform"), list) and isinstance(m.get("crs"), str):
        return {"crs": m["crs"], "transform": m["transform"][:6]}
    if isinstance(m.get("footprint"), dict):
        return {"footprint": m["footprint"]}
    return {}


def label_features(bundle: ExportBundle, rows: Sequence[ExportRow]) -> tuple[list[Any], list[Any]]:
    labels: list[Any] = []
    items: list[Any] = []
    unplaced = 0
    for row in rows:
        to_ground = pixel_mapper(row.metadata, row.width, row.height)
        whole = item_geometry(row)
        if whole is not None:
            props = {**_item_props(row), "width": row.width, "height": row.height}
            props["georef"] = georef(row)
            items.append({"type": "Feature", "geometry": whole, "properties": props})
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


LABELS_FILE = "labels.geojson"
ITEMS_FILE = "items.geojson"
_WHOLE = ("choice", "text", "rating", "ranking")


def _features(path: Path) -> tuple[list[Any], str | None]:
    f = path.name
    doc = v.need_obj(v.load_json(path, f), f, "top level")
    if doc.get("type") != "FeatureCollection":
        v.fail(f, "type", f"expected 'FeatureCollection', found {doc.get('type')!r}")
    marking = doc.get("marking")
    return v.need_list(doc.get("features"), f, "features"), (
        marking if isinstance(marking, str) else None
    )


def _ring_points(geom: dict[str, Any], f: str, place: str) -> list[tuple[float, float]]:
    rings = v.need_list(geom.get("coordinates"), f, place + ".coordinates")
    if not rings:
        v.fail(f, place + ".coordinates", "a polygon without rings")
    ring = v.need_list(rings[0], f, place + ".coordinates[0]")
    pts = [
        tuple(v.need_numbers(p, 2, f, f"{place}.coordinates[0][{k}]")) for k, p in enumerate(ring)
    ]
    if len(pts) >= 2 and pts[0] == pts[-1]:
        pts = pts[:-1]
    if len(pts) < 3:
        v.fail(f, place + ".coordinates", "a ring needs at least three distinct points")
    return [(p[0], p[1]) for p in pts]


def _to_pixels(geom: Any, kind: str, to_pixel: PixelMapper, f: str, place: str) -> dict[str, Any]:
    """The region's geometry fields (`box` or `points`) from a WGS84 geometry."""
    geom = v.need_obj(geom, f, place)
    gtype = geom.get("type")

    def px(p: tuple[float, float]) -> tuple[float, float]:
        x, y = to_pixel(p[0], p[1])
        return round(x, 3), round(y, 3)

    if kind == "box" and gtype == "Polygon":
        pts = [px(p) for p in _ring_points(geom, f, place)]
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        x0, y0 = min(xs), min(ys)
        return {"box": (x0, y0, round(max(xs) - x0, 3), round(max(ys) - y0, 3))}
    if kind == "polygon" and gtype == "Polygon":
        return {"points": [px(p) for p in _ring_points(geom, f, place)]}
    if kind == "point" and gtype == "Point":
        return {"points": [px(tuple(v.need_numbers(geom.get("coordinates"), 2, f, place)))]}  # type: ignore[arg-type]
    if kind == "point" and gtype == "MultiPoint":
        coords = v.need_list(geom.get("coordinates"), f, place + ".coordinates")
        return {
            "points": [
                px(tuple(v.need_numbers(c, 2, f, f"{place}.coordinates[{k}]")))  # type: ignore[arg-type]
                for k, c in enumerate(coords)
            ]
        }
    return v.fail(f, place + ".type", f"a {kind} region cannot be read from a {gtype!r} geometry")


def read(path: Path, images: Path | None = None) -> ImportBundle:
    """Read assay's GeoJSON export (``labels.geojson`` + ``items.geojson``) back as labels on
    the items it names, placed on their pixels through each item's georeference."""
    path = Path(path)
    labels_path = path / LABELS_FILE if path.is_dir() else path
    items_path = labels_path.parent / ITEMS_FILE
    if not items_path.is_file():
        v.fail(
            labels_path.name, "items",
            f"no {ITEMS_FILE} beside it: it holds each item's georeference, without which "
            "the features cannot be placed back on the pixels",
        )  # fmt: skip
    fi = items_path.name
    item_features, _ = _features(items_path)
    features, collection_marking = _features(labels_path)
    known: dict[str, dict[str, Any]] = {}
    for i, feat in enumerate(item_features):
        place = f"features[{i}].properties"
        props = v.need_obj(v.need_obj(feat, fi, f"features[{i}]").get("properties"), fi, place)
        item = v.need_str(v.need_key(props, "item", fi, place), fi, place + ".item")
        props.setdefault("marking", collection_marking)
        known[item] = props
    per_item = regions_from_features(features, known, labels_path.name, fi)
    return ImportBundle(
        media=media_of(known, per_item, labels_path.parent, fi),
        label_names=label_names(per_item),
        source=labels_path,
        no_media=(
            "GeoJSON carries no media",
            "export the dataset with --format stac, which carries media and labels",
        ),
    )


def regions_from_features(
    features: list[Any], known: dict[str, dict[str, Any]], fl: str, fi: str
) -> dict[str, list[Region]]:
    """Per item id, the regions of assay's label `features` (file `fl`), placed on the pixels
    of the items `known` describes (``width``, ``height``, ``georef``, ``marking``; from `fi`)."""
    per_item: dict[str, list[Region]] = {}
    mappers: dict[str, PixelMapper | None] = {}
    for i, feat in enumerate(features):
        where = f"features[{i}]"
        feat = v.need_obj(feat, fl, where)
        props = v.need_obj(feat.get("properties"), fl, where + ".properties")
        item = v.need_str(v.need_key(props, "item", fl, where), fl, where + ".properties.item")
        if item not in known:
            v.fail(fl, where + ".properties.item", f"item {item[:16]} is not in {fi}")
        stated = known[item].get("marking")
        mark = props.get("marking")
        if mark is not None and mark != stated:
            v.fail(
                fl, where + ".properties.marking",
                f"{mark!r} is not the marking of its item ({stated!r}) in {fi}",
            )  # fmt: skip
        kind = v.need_str(v.need_key(props, "kind", fl, where), fl, where + ".properties.kind")
        rec: dict[str, Any] = {"kind": kind, "control": props.get("control") or "label"}
        for key in ("label", "text", "value", "score", "author", "attributes"):
            if props.get(key) is not None:
                rec[key] = props[key]
        if props.get("region"):
            rec["id"] = props["region"]
        if kind not in _WHOLE:
            if item not in mappers:
                info = known[item]
                mappers[item] = ground_mapper(
                    v.need_obj(info.get("georef") or {}, fi, f"item {item[:16]}.georef"),
                    info.get("width"),
                    info.get("height"),
                )
            to_pixel = mappers[item]
            if to_pixel is None:
                v.fail(fi, f"item {item[:16]}", "no georeference to place its features with")
            rec.update(_to_pixels(feat.get("geometry"), kind, to_pixel, fl, where + ".geometry"))
        per_item.setdefault(item, []).append(region_from_dict(rec, fl, where))
    return per_item


def label_names(per_item: dict[str, list[Region]]) -> list[str]:
    names: dict[str, None] = {}
    for regions in per_item.values():
        names.update((r.label, None) for r in regions if r.label is not None and r.kind != "choice")
    return list(names)


def media_of(
    known: dict[str, dict[str, Any]], per_item: dict[str, list[Region]], root: Path, fi: str
) -> list[ImportedMedia]:
    """One `ImportedMedia` per known item (named by id, or by its ``file`` under `root`), its
    regions as its labels of record."""
    media = []
    for item, props in known.items():
        regions = per_item.get(item, [])
        rec = {
            "id": item,
            "name": str(props.get("item_name") or item),
            "file": props.get("file"),
            "width": props.get("width"),
            "height": props.get("height"),
            "marking": props.get("marking"),
            "authors": sorted({r.author for r in regions if r.author}),
            "metadata": props.get("metadata"),
            "media_type": props.get("media_type"),
        }
        media.append(media_from_record(rec, regions, root, fi, f"item {item[:16]}"))
    return media


CODEC = Codec(
    name="geojson",
    read=read,
    write=write,
    description="GeoJSON features of labels on georeferenced items, footprints and flight tracks",
    title="GeoJSON",
)

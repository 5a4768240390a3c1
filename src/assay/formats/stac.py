"""STAC (SpatioTemporal Asset Catalog) with the Label extension, via pystac.

``catalog.json`` links one collection of imagery items and one of label items:

- an imagery item per georeferenced item of the export (scene, chip, video frame): its
  footprint as geometry and bbox, its time (``datetime``: its ``captured_at``; without one,
  a null ``datetime`` and the range STAC then asks for, ``start_datetime`` 0001-01-01 to
  ``end_datetime`` when it was ingested, with ``assay:captured`` "unknown" and a warning),
  ``gsd``, the projection of a scene or chip (``proj:code``/``proj:transform``), the
  ``marking``, a ``derived_from`` link to the item it was made from (a chip's scene) where
  that one is in the catalog, and its media as the ``image`` asset;
- a label item (Label extension v1.0.1) per imagery item that has labels: ``label:type``
  vector, ``label:properties`` ["label"], ``label:classes`` from the dataset's label map,
  ``label:tasks`` (detection for boxes, segmentation for polygons, classification for
  whole-item answers), a ``source`` link to its imagery item, and the labels as a GeoJSON
  asset placed on the ground the same way as ``--format geojson``.

Items without a georeference cannot be placed in a catalog: they are counted under
``dropped`` ("items without georeference"). An imagery item also carries ``assay:width``,
``assay:height`` and ``assay:georef`` (as ``items.geojson`` of ``--format geojson``) and the
item's metadata as ``assay:metadata`` (a scene's projection and bands, a chip's window, the
capture time). A link to an item not in the catalog (a frame's video, no imagery item; a
chip's scene left out of the dataset) cannot be written: counted under ``dropped`` ("links to
the item each was made from (not in the export)").

Reading (``assay import --format stac``, pystac) takes such a catalog back: every imagery
item (scene, chip, frame) becomes an item of the import, named by its id and, where its
``image`` asset is beside the catalog, by that file, with the asset's media type (where the
bytes agree) and the metadata ``assay:metadata`` holds (else what ``proj:*``, the geometry
and ``gsd`` say); every label item's GeoJSON asset becomes regions on its source item,
placed on the pixels through the item's georeference (``assay:georef``, else
``proj:code``/``proj:transform``/``proj:shape``), with label, author and marking as
`assay.formats.geojson` reads them. An item with a ``derived_from`` link to another of the
catalog is made that one's (a new chip gets its scene as parent and its window as
derivation). A label whose marking is not its item's is refused, and a catalog pystac cannot
read is one clear error. Reading stays inside the catalog's folder: a link or asset naming
a URL (assay never goes on the network for a file it imports) or a file outside that folder
is refused, naming it.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from assay.domain.labels import Region
from assay.errors import InvalidInput, require
from assay.formats import _validate as v
from assay.formats._export import copy_media, image_rows, prepare_out, write_marking
from assay.formats._model import ExportBundle, ExportRow, ImportBundle, ImportedMedia
from assay.formats._records import media_paths
from assay.formats._registry import Codec
from assay.formats._stream import RowStream
from assay.formats.geojson import (
    georef,
    item_geometry,
    label_features,
    label_names,
    media_of,
    regions_from_features,
)

LABEL_EXT = "https://stac-extensions.github.io/label/v1.0.1/schema.json"
PROJ_EXT = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"


def _bbox(geometry: dict[str, Any]) -> list[float]:
    if geometry["type"] == "Point":
        x, y = geometry["coordinates"]
        return [x, y, x, y]
    xs = [p[0] for p in geometry["coordinates"][0]]
    ys = [p[1] for p in geometry["coordinates"][0]]
    return [min(xs), min(ys), max(xs), max(ys)]


# The start of the range of an item taken at a time nobody knows: no earlier one is written.
UNKNOWN_START = datetime(1, 1, 1, tzinfo=UTC)
DERIVED_FROM = "derived_from"  # STAC's relation of an item to the one it was made from


def _parse_time(text: object) -> datetime | None:
    """An ISO 8601 time (UTC where it names no zone), or None."""
    if isinstance(text, str):
        try:
            t = datetime.fromisoformat(text.replace("Z", "+00:00"))
            return t if t.tzinfo else t.replace(tzinfo=UTC)
        except ValueError:
            pass
    return None


def _when(row: ExportRow, ingested: datetime) -> dict[str, Any]:
    """The item's time as STAC states it: ``datetime``, its ``captured_at``; else no
    ``datetime`` but the range it lies in (STAC's ``start_datetime``/``end_datetime``): at any
    time up to when it was ingested (the caller adds ``assay:captured`` "unknown"). No other
    time is presented as when it was taken."""
    captured = _parse_time(row.metadata.get("captured_at"))
    if captured is not None:
        return {"datetime": captured}
    return {
        "datetime": None,
        "start_datetime": UNKNOWN_START,
        "end_datetime": ingested,
    }


def _tasks(row: ExportRow) -> list[str]:
    kinds = {r.kind for r in row.regions}
    tasks = []
    if "box" in kinds:
        tasks.append("detection")
    if "polygon" in kinds:
        tasks.append("segmentation")
    if kinds & {"choice", "rating", "text"}:
        tasks.append("classification")
    return tasks


def write(bundle: ExportBundle, out: Path) -> list[Path]:
    """Write the catalog, its items, the media and the label GeoJSON of each item."""
    pystac: Any = require("pystac", "sensors")
    rows = image_rows(bundle, "stac")
    placed = [(r, g) for r in rows if (g := item_geometry(r)) is not None]
    if len(placed) < len(rows):
        bundle.dropped.add("items without georeference", len(rows) - len(placed))
    out_dir = prepare_out(Path(out))
    now = datetime.now(UTC).replace(microsecond=0)
    catalog = pystac.Catalog(
        id=f"assay-{bundle.dataset}",
        description=f"{bundle.dataset} ({bundle.revision or 'working state'}), "
        f"marking {bundle.marking}",
    )
    catalog.extra_fields["marking"] = bundle.marking
    imagery = pystac.Collection(
        id=f"{bundle.dataset}-imagery",
        description=f"Imagery of {bundle.dataset}",
        extent=pystac.Extent(
            pystac.SpatialExtent([[-180, -90, 180, 90]]), pystac.TemporalExtent([[now, None]])
        ),
    )
    labels = pystac.Collection(
        id=f"{bundle.dataset}-labels",
        description=f"Labels of {bundle.dataset}",
        extent=pystac.Extent(
            pystac.SpatialExtent([[-180, -90, 180, 90]]), pystac.TemporalExtent([[now, None]])
        ),
    )
    catalog.add_children([imagery, labels])
    classes = list(bundle.classes().names())
    media_rows = [r for r, _ in placed]  # only these are written
    files = dict(zip((r.item_id for r in media_rows), media_paths(bundle, media_rows), strict=True))
    label_docs: dict[str, dict[str, Any]] = {}
    lineage = bundle.lineage([r.item_id for r in media_rows]) if bundle.lineage else {}
    stac_items: dict[str, Any] = {}
    unknown_times = 0
    for row, geometry in placed:
        facts = lineage.get(row.item_id)
        when = _when(row, (_parse_time(facts.ingested) if facts else None) or now)
        extra = {"assay:captured": "unknown"} if when["datetime"] is None else {}
        unknown_times += when["datetime"] is None
        item = pystac.Item(
            id=row.item_id,
            geometry=geometry,
            bbox=_bbox(geometry),
            **when,
            properties={
                **extra,
                "title": row.name,
                "marking": row.marking,
                "assay:width": row.width,
                "assay:height": row.height,
                "assay:georef": georef(row),
                # The item's own facts (a scene's projection and bands, a chip's window,
                # the capture time), so an import elsewhere gets the item as it was.
                "assay:metadata": row.metadata,
            },
        )
        gsd = _fact(row, "gsd_m")
        if isinstance(gsd, int | float):
            item.properties["gsd"] = gsd
        crs, transform = _fact(row, "crs"), _fact(row, "transform")
        if isinstance(crs, str) and isinstance(transform, list):
            item.stac_extensions.append(PROJ_EXT)
            item.properties["proj:code"] = crs
            item.properties["proj:transform"] = transform[:6]
            item.properties["proj:shape"] = [row.height, row.width]
        # An href is a URL: a chip's name holds "#" and "&", which must be percent-encoded.
        href = f"../../{quote(files[row.item_id])}"
        item.add_asset("image", pystac.Asset(href=href, media_type=row.media_type, roles=["data"]))
        imagery.add_item(item)
        stac_items[row.item_id] = item
        if not row.regions:
            continue
        one = ExportBundle(
            rows=RowStream.of([row]),
            label_names=bundle.label_names,
            dataset=bundle.dataset,
            revision=bundle.revision,
            marking=row.marking,
        )
        features, _ = label_features(one, [row])
        bundle.dropped.update(one.dropped.to_dict())
        label = pystac.Item(
            id=f"{row.item_id}-labels",
            geometry=geometry,
            bbox=_bbox(geometry),
            datetime=item.datetime,
            start_datetime=item.common_metadata.start_datetime,
            end_datetime=item.common_metadata.end_datetime,
            properties={
                "label:description": f"labels of record of {row.name}",
                "label:type": "vector",
                "label:properties": ["label"],
                "label:classes": [{"name": "label", "classes": classes}],
                "label:tasks": _tasks(row),
                "label:methods": ["manual"],
                "marking": row.marking,
            },
            stac_extensions=[LABEL_EXT],
        )
        label.add_link(
            pystac.Link(
                "source",
                item,
                media_type="application/geo+json",
                extra_fields={"label:assets": ["image"]},
            )
        )
        name = f"{row.item_id}-labels.geojson"
        label.add_asset(
            "labels",
            pystac.Asset(href=f"./{name}", media_type="application/geo+json", roles=["labels"]),
        )
        labels.add_item(label)
        label_docs[label.id] = {
            "type": "FeatureCollection",
            "marking": row.marking,
            "features": features,
        }
    _link_parents(pystac, bundle, stac_items, lineage)
    if unknown_times:
        bundle.warnings.append(
            f"{unknown_times} item(s) without a capture time (no captured_at): their STAC "
            "datetime is null, with start_datetime and end_datetime spanning any time up to "
            'when each was ingested, and "assay:captured": "unknown"'
        )
    for collection in (imagery, labels):
        collection.update_extent_from_items()
    # Absolute: pystac resolves a relative root against another base, and `--out ../x` put the
    # catalog, its collections and items outside the export folder. A trailing "/": a folder,
    # though its name has a dot.
    catalog.normalize_hrefs(str(out_dir.resolve()) + "/")
    catalog.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    written = [Path(catalog.self_href)]
    for collection in (imagery, labels):
        for it in collection.get_items():
            written.append(Path(it.self_href))
            if it.id in label_docs:
                path = Path(it.self_href).parent / f"{it.id.removesuffix('-labels')}-labels.geojson"
                path.write_text(json.dumps(label_docs[it.id], separators=(",", ":")) + "\n")
                written.append(path)
    if bundle.copy_media:
        written += copy_media(bundle, media_rows, out_dir, [files[r.item_id] for r in media_rows])
    written.append(write_marking(bundle, out_dir))
    return written


def _link_parents(
    pystac: Any, bundle: ExportBundle, stac_items: dict[str, Any], lineage: dict[str, Any]
) -> None:
    """Link each item to the one it was made from (a chip to its scene) by STAC's
    ``derived_from``, where that one is in the catalog; count the others (a frame's video is
    no imagery item, a chip's scene may be left out of the dataset)."""
    unlinked = 0
    for item_id, item in stac_items.items():
        facts = lineage.get(item_id)
        if facts is None or facts.parent is None:
            continue
        parent = stac_items.get(facts.parent)
        if parent is None:
            unlinked += 1
            continue
        item.add_link(pystac.Link(DERIVED_FROM, parent, media_type="application/geo+json"))
    if unlinked:
        bundle.dropped.add("links to the item each was made from (not in the export)", unlinked)


def _fact(row: ExportRow, key: str) -> Any:
    """A chip's or frame's `key` of metadata, or a scene's (an ingested scene keeps its
    projection and ground sample distance under ``scene``)."""
    scene = row.metadata.get("scene")
    if key not in row.metadata and isinstance(scene, dict):
        return scene.get(key)
    return row.metadata.get(key)


def _metadata(item: Any) -> dict[str, Any]:
    """The item's metadata as the export wrote it (``assay:metadata``), else what the STAC
    fields say of it: projection, footprint or point, ground sample distance."""
    props = item.properties
    written = props.get("assay:metadata")
    if isinstance(written, dict):
        return written
    meta: dict[str, Any] = {}
    if isinstance(props.get("proj:code"), str) and isinstance(props.get("proj:transform"), list):
        meta["crs"], meta["transform"] = props["proj:code"], props["proj:transform"]
    geometry = item.geometry or {}
    if geometry.get("type") == "Polygon":
        meta["footprint"] = geometry
    elif geometry.get("type") == "Point":
        lon, lat = geometry["coordinates"][:2]
        meta["geo"] = {"lat": lat, "lon": lon}
    if isinstance(props.get("gsd"), int | float):
        meta["gsd_m"] = props["gsd"]
    return meta


def _imagery(item: Any, root: Path, marking: str | None) -> dict[str, Any]:
    """What `regions_from_features` needs of an imagery item, its metadata and media type,
    and its media file if present."""
    props = item.properties
    shape = props.get("proj:shape")
    ref = props.get("assay:georef")
    if not ref and isinstance(props.get("proj:transform"), list):
        ref = {"crs": props.get("proj:code"), "transform": props["proj:transform"]}
    info: dict[str, Any] = {
        "item_name": props.get("title") or item.id,
        "width": props.get("assay:width") or (shape[1] if isinstance(shape, list) else None),
        "height": props.get("assay:height") or (shape[0] if isinstance(shape, list) else None),
        "georef": ref or {},
        "marking": props.get("marking") or marking,
        "metadata": _metadata(item),
    }
    asset = item.assets.get("image")
    if asset is not None:
        info["media_type"] = asset.media_type
        href = Path(unquote(asset.get_absolute_href() or ""))
        if href.is_file():
            info["file"] = os.path.relpath(href, root)
    return info


def _inside(href: str, folder: Path, f: str) -> Path:
    """The local file `href` names, when it lies inside `folder` (links followed), else an
    error naming it: no URL is fetched, no file elsewhere on the machine is read."""
    parts = urlsplit(href)
    if parts.scheme.lower() not in ("", "file") or parts.netloc not in ("", "localhost"):
        v.fail(f, href, "a catalog link or asset naming a URL: assay reads local files only")
    path = os.path.realpath(unquote(parts.path) if parts.scheme else href)
    root = os.path.realpath(folder)
    if not (path + os.sep).startswith(root.rstrip(os.sep) + os.sep):
        v.fail(f, href, f"outside the catalog's folder {root}: a catalog is read from it only")
    return Path(path)


def _local_io(pystac: Any, folder: Path, f: str) -> Any:
    """pystac's reader, kept to the files inside `folder` (`_inside`)."""

    class LocalOnly(pystac.stac_io.DefaultStacIO):  # type: ignore[misc]
        def read_text_from_href(self, href: str) -> str:
            return str(super().read_text_from_href(str(_inside(href, folder, f))))

    return LocalOnly()


def read(path: Path, images: Path | None = None) -> ImportBundle:
    """Read a STAC catalog written by assay (pystac): imagery items and their label items."""
    pystac: Any = require("pystac", "sensors")
    path = Path(path)
    cat_path = path / "catalog.json" if path.is_dir() else path
    f = cat_path.name
    try:
        io = _local_io(pystac, cat_path.parent, f)
        catalog = pystac.Catalog.from_file(str(cat_path), stac_io=io)
        stac_items = list(catalog.get_items(recursive=True))
    except InvalidInput:
        raise
    except (
        OSError,
        ValueError,
        KeyError,
        TypeError,
        pystac.STACError,
        pystac.STACTypeError,
    ) as exc:
        if isinstance(exc.__cause__, InvalidInput):  # pystac wraps what a link's read raised
            raise exc.__cause__ from None
        raise InvalidInput(f"{cat_path}: not a STAC catalog pystac can read ({exc})") from None
    root = Path(images) if images is not None else cat_path.parent
    marking = catalog.extra_fields.get("marking")
    known: dict[str, dict[str, Any]] = {}
    labelled = []
    for item in stac_items:
        if any(e.startswith(LABEL_EXT.rsplit("/v", 1)[0]) for e in item.stac_extensions):
            labelled.append(item)
        else:
            known[item.id] = _imagery(item, root, marking if isinstance(marking, str) else None)
    per_item: dict[str, list[Region]] = {}
    for label in labelled:
        asset = label.assets.get("labels")
        if asset is None:
            v.fail(f, f"item {label.id}", "a label item without its 'labels' asset")
        doc_path = _inside(asset.get_absolute_href() or "", cat_path.parent, f)
        doc = v.need_obj(v.load_json(doc_path, doc_path.name), doc_path.name, "top level")
        features = v.need_list(doc.get("features"), doc_path.name, "features")
        for item, regions in regions_from_features(features, known, doc_path.name, f).items():
            per_item.setdefault(item, []).extend(regions)
    media = media_of(known, per_item, root, f)
    _relink(stac_items, dict(zip(known, media, strict=True)))
    return ImportBundle(media=media, label_names=label_names(per_item), source=cat_path)


def _relink(stac_items: list[Any], media: dict[str, ImportedMedia]) -> None:
    """Give each imagery item's media the media its ``derived_from`` link names (a chip its
    scene's), where that item is in the catalog, and its derivation (a chip's window, a
    frame's place in its video) as ingest records it."""
    by_href = {os.path.realpath(it.get_self_href() or ""): it.id for it in stac_items}
    for item in stac_items:
        m = media.get(item.id)
        if m is None:
            continue
        for link in item.links:
            if link.rel != DERIVED_FROM:
                continue
            target = by_href.get(os.path.realpath(unquote(link.get_absolute_href() or "")))
            if target in media and target != item.id:
                m.derived_from, m.derivation = media[target], _derivation(m.metadata)
                break


def _derivation(meta: dict[str, Any]) -> str | None:
    """A derived item's `derivation` as ingest writes it, from its metadata."""
    window, frame = meta.get("window"), meta.get("frame")
    if isinstance(window, dict):
        how: dict[str, Any] = {"window": window}
    elif isinstance(frame, dict) and {"index", "pts", "time_s"} <= frame.keys():
        how = {"frame": frame["index"], "pts": frame["pts"], "time_s": frame["time_s"]}
    else:
        return None
    return json.dumps(how, sort_keys=True, separators=(",", ":"))


CODEC = Codec(
    name="stac",
    read=read,
    write=write,
    description="STAC catalog of georeferenced imagery with Label-extension items",
    title="STAC",
)

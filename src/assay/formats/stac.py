"""STAC (SpatioTemporal Asset Catalog) with the Label extension, via pystac.

``catalog.json`` links one collection of imagery items and one of label items:

- an imagery item per georeferenced item of the export (scene, chip, video frame): its
  footprint as geometry and bbox, its time (``captured_at``, else when it was ingested is not
  known and the export time is used), ``gsd``, the projection of a scene or chip
  (``proj:code``/``proj:transform``), the ``marking``, and its media as the ``image`` asset;
- a label item (Label extension v1.0.1) per imagery item that has labels: ``label:type``
  vector, ``label:properties`` ["label"], ``label:classes`` from the dataset's label map,
  ``label:tasks`` (detection for boxes, segmentation for polygons, classification for
  whole-item answers), a ``source`` link to its imagery item, and the labels as a GeoJSON
  asset placed on the ground the same way as ``--format geojson``.

Items without a georeference cannot be placed in a catalog: they are counted under
``dropped`` ("items without georeference").
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from assay.errors import require
from assay.formats._export import copy_media, image_rows, prepare_out, write_marking
from assay.formats._model import ExportBundle, ExportRow
from assay.formats._records import media_paths
from assay.formats._registry import Codec
from assay.formats._stream import RowStream
from assay.formats.geojson import item_geometry, label_features

LABEL_EXT = "https://stac-extensions.github.io/label/v1.0.1/schema.json"
PROJ_EXT = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"


def _bbox(geometry: dict[str, Any]) -> list[float]:
    if geometry["type"] == "Point":
        x, y = geometry["coordinates"]
        return [x, y, x, y]
    xs = [p[0] for p in geometry["coordinates"][0]]
    ys = [p[1] for p in geometry["coordinates"][0]]
    return [min(xs), min(ys), max(xs), max(ys)]


def _time(row: ExportRow, now: datetime) -> datetime:
    text = row.metadata.get("captured_at")
    if isinstance(text, str):
        try:
            t = datetime.fromisoformat(text.replace("Z", "+00:00"))
            return t if t.tzinfo else t.replace(tzinfo=UTC)
        except ValueError:
            pass
    return now


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
    files = dict(zip((r.item_id for r in bundle.rows), media_paths(bundle), strict=True))
    label_docs: dict[str, dict[str, Any]] = {}
    for row, geometry in placed:
        item = pystac.Item(
            id=row.item_id,
            geometry=geometry,
            bbox=_bbox(geometry),
            datetime=_time(row, now),
            properties={"title": row.name, "marking": row.marking},
        )
        if isinstance(row.metadata.get("gsd_m"), int | float):
            item.properties["gsd"] = row.metadata["gsd_m"]
        if isinstance(row.metadata.get("crs"), str) and isinstance(
            row.metadata.get("transform"), list
        ):
            item.stac_extensions.append(PROJ_EXT)
            item.properties["proj:code"] = row.metadata["crs"]
            item.properties["proj:transform"] = row.metadata["transform"][:6]
            item.properties["proj:shape"] = [row.height, row.width]
        # An href is a URL: a chip's name holds "#" and "&", which must be percent-encoded.
        href = f"../../{quote(files[row.item_id])}"
        item.add_asset("image", pystac.Asset(href=href, media_type=row.media_type, roles=["data"]))
        imagery.add_item(item)
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
            datetime=_time(row, now),
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
    for collection in (imagery, labels):
        collection.update_extent_from_items()
    catalog.normalize_hrefs(str(out_dir) + "/")  # a folder, though its name has a dot
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
        media_rows = [r for r, _ in placed]
        written += copy_media(bundle, media_rows, out_dir, [files[r.item_id] for r in media_rows])
    written.append(write_marking(bundle, out_dir))
    return written


CODEC = Codec(
    name="stac",
    read=None,
    write=write,
    description="STAC catalog of georeferenced imagery with Label-extension items",
    title="STAC",
)

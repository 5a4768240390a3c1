"""Building the explorer's index of a revision: one Arrow row per item with the classes,
authors and region areas of its labels and its top-level metadata fields, the label and
metadata JSON parsed by Arrow's JSON reader (not one `json.loads` per row)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.engine import Connection

from assay import versioning
from assay.explore._reduce import reduce_rows
from assay.versioning import Revision
from assay.workspace import Workspace

MAX_FIELDS = 32  # metadata fields pulled out as columns, most common first
META = "meta."
_BASE = ["item_id", "media_type", "labels", "n_regions", "authors", "marking"]

_REGION = pa.struct(
    [
        ("kind", pa.string()),
        ("label", pa.string()),
        ("box", pa.list_(pa.float64())),
        ("points", pa.list_(pa.list_(pa.float64()))),
    ]
)


def _ndjson(texts: list[str], wrap: bool) -> pa.BufferReader:
    body = "\n".join(f'{{"r":{t}}}' if wrap else t for t in texts)
    return pa.BufferReader(body.encode("utf-8"))


def _region_facts(labels: list[str]) -> tuple[pa.Array, pa.Array]:
    """Per row, its regions' classes and areas (box w*h; a polygon's bounding box), parsed by
    Arrow's JSON reader rather than one `json.loads` per row."""
    import pyarrow.json as pj

    parse = pj.ParseOptions(
        explicit_schema=pa.schema([("r", pa.list_(_REGION))]), unexpected_field_behavior="ignore"
    )
    table = pj.read_json(
        _ndjson([t or "[]" for t in labels], wrap=True),
        read_options=pj.ReadOptions(block_size=1 << 24),
        parse_options=parse,
    )
    regions = table["r"].combine_chunks()
    flat = pc.list_flatten(regions)
    box = pc.struct_field(flat, "box")
    area = pc.multiply(pc.list_element(box, 2), pc.list_element(box, 3))
    points = pc.struct_field(flat, "points")
    polygon = pc.and_(pc.equal(pc.struct_field(flat, "kind"), "polygon"), pc.is_valid(points))
    if pc.any(polygon).as_py():
        pts = pc.list_flatten(points)
        offsets = points.offsets.to_numpy()
        xs = pc.list_element(pts, 0).to_numpy(zero_copy_only=False)
        ys = pc.list_element(pts, 1).to_numpy(zero_copy_only=False)
        width = reduce_rows(np.fmax, xs, offsets, np.nan) - reduce_rows(
            np.fmin, xs, offsets, np.nan
        )
        height = reduce_rows(np.fmax, ys, offsets, np.nan) - reduce_rows(
            np.fmin, ys, offsets, np.nan
        )
        area = pc.if_else(polygon, pa.array(width * height), area)
    row_offsets = regions.offsets
    classes = pa.ListArray.from_arrays(row_offsets, pc.struct_field(flat, "label"))
    areas = pa.ListArray.from_arrays(row_offsets, pc.cast(area, pa.float32()))
    return classes, areas


def _metadata_columns(texts: list[str]) -> dict[str, pa.Array]:
    """Up to MAX_FIELDS top-level scalar metadata fields as string columns, most common first."""
    import pyarrow.json as pj

    try:
        table = pj.read_json(
            _ndjson([t or "{}" for t in texts], wrap=False),
            read_options=pj.ReadOptions(block_size=1 << 24),
        )
    except pa.ArrowInvalid:  # a field of different types in different rows: read them one by one
        rows = [json.loads(t or "{}") for t in texts]
        keys = {k for r in rows for k, v in r.items() if isinstance(v, str | int | float | bool)}
        table = pa.table(
            {k: pa.array([None if r.get(k) is None else str(r[k]) for r in rows]) for k in keys}
        )
    scalar = [
        n
        for n in table.column_names
        if not pa.types.is_nested(table[n].type) and not pa.types.is_null(table[n].type)
    ]
    counts = {n: len(table) - table[n].null_count for n in scalar}
    chosen = sorted(counts, key=lambda k: (-counts[k], k))[:MAX_FIELDS]
    return {n: pc.cast(table[n], pa.string()).combine_chunks() for n in chosen}


def build(conn: Connection, ws: Workspace, rev: Revision) -> bytes:
    """The index of `rev` as the bytes of an Arrow IPC file."""
    t = versioning.revision_rows(conn, ws.blobs, rev, _BASE).sort_by("item_id")
    ids = t["item_id"].to_pylist()
    attrs = versioning.item_attributes(conn, ids)
    missing: tuple[Any, ...] = ("", None, None, "{}")
    rows = [attrs.get(i, missing) for i in ids]
    classes, areas = _region_facts(t["labels"].to_pylist())
    cols: dict[str, Any] = {
        "item_id": t["item_id"],
        "marking": t["marking"],
        "media_type": t["media_type"],
        "name": pa.array([r[0] or "" for r in rows], pa.string()),
        "width": pa.array([r[1] for r in rows], pa.int32()),
        "height": pa.array([r[2] for r in rows], pa.int32()),
        "n_regions": t["n_regions"],
        "authors": t["authors"],
        "classes": classes,
        "areas": areas,
        "labels": t["labels"],
    }
    for k, column in _metadata_columns([r[3] for r in rows]).items():
        cols[META + k] = column
    table = pa.table(cols).combine_chunks()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())

"""Commit manifests: one Parquet file per commit, stored as a blob."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from assay.store import LocalBlobStore

SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),
        ("blob", pa.string()),
        ("media_type", pa.string()),
        ("name", pa.string()),
        ("size", pa.int64()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("metadata", pa.string()),
        ("metadata_hash", pa.string()),
        ("labels", pa.string()),
        ("label_hash", pa.string()),
        ("n_regions", pa.int32()),
        ("annotation_ids", pa.list_(pa.string())),
        ("authors", pa.list_(pa.string())),
        ("marking", pa.string()),
    ],
    metadata={b"assay.manifest": b"1"},
)
COLUMNS = SCHEMA.names


def from_columns(cols: dict[str, Sequence[Any]]) -> pa.Table:
    return pa.table({name: pa.array(cols[name], SCHEMA.field(name).type) for name in COLUMNS})


def empty() -> pa.Table:
    return SCHEMA.empty_table()


def write(blobs: LocalBlobStore, table: pa.Table) -> str:
    sink = io.BytesIO()
    pq.write_table(
        table.cast(SCHEMA),
        sink,
        compression="zstd",
        compression_level=1,
        row_group_size=256 * 1024,
        use_dictionary=["media_type", "marking", "authors"],
        write_statistics=["item_id"],
    )
    return blobs.put_bytes(sink.getvalue())


def read(blobs: LocalBlobStore, sha: str, columns: list[str] | None = None) -> pa.Table:
    return pq.read_table(blobs.path(sha), columns=columns)


def take_items(table: pa.Table, ids: Sequence[str]) -> pa.Table:
    if not ids:
        return table.slice(0, 0)
    return table.filter(pc.is_in(table["item_id"], value_set=pa.array(list(ids), pa.string())))


def drop_items(table: pa.Table, ids: Sequence[str]) -> pa.Table:
    if not ids:
        return table
    mask = pc.is_in(table["item_id"], value_set=pa.array(list(ids), pa.string()))
    return table.filter(pc.invert(mask))

"""Commit manifests: one Parquet file per commit, stored as a blob."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from assay.store import LocalBlobStore

# One row per item of a commit. Item attributes that never change (name, size, pixel size,
# metadata) stay in the items table; the row carries the metadata hash that pins them.
# `blob` is null when the item id is itself the blob's sha256 (every ingested item).
SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),
        ("blob", pa.string()),
        ("media_type", pa.string()),
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


# The label changes a commit made against its first parent: diff of adjacent commits reads
# only this, never the full manifests.
DELTA_SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),
        ("change", pa.string()),  # added | removed | changed
        ("before_hash", pa.string()),
        ("after_hash", pa.string()),
        ("before_labels", pa.string()),
        ("after_labels", pa.string()),
    ],
    metadata={b"assay.delta": b"1"},
)


def write_delta(blobs: LocalBlobStore, cols: dict[str, list[Any]]) -> str:
    sink = io.BytesIO()
    table = pa.table({n: pa.array(cols[n], pa.string()) for n in DELTA_SCHEMA.names})
    pq.write_table(table.cast(DELTA_SCHEMA), sink, compression="zstd")
    return blobs.put_bytes(sink.getvalue())


def empty() -> pa.Table:
    return SCHEMA.empty_table()


# lz4 decodes about twice as fast as zstd here; commit and diff read manifests whole.
_WRITE_OPTIONS: dict[str, Any] = {
    "compression": "lz4",
    "use_dictionary": ["media_type", "marking", "authors"],
    "write_statistics": ["item_id"],
}
ROW_GROUP = 256 * 1024


def write(blobs: LocalBlobStore, table: pa.Table) -> str:
    sink = io.BytesIO()
    pq.write_table(table.cast(SCHEMA), sink, row_group_size=ROW_GROUP, **_WRITE_OPTIONS)
    return blobs.put_bytes(sink.getvalue())


def rewrite(
    blobs: LocalBlobStore, base: str, drop: Sequence[str], extra: pa.Table
) -> tuple[str, int, int]:
    """A new manifest: `base` without the `drop` items, then `extra`, streamed batch by batch
    so memory stays at a few batches whatever the dataset size.

    Returns (sha, rows, regions).
    """
    drop_set = pa.array(list(drop), pa.string())
    sink = io.BytesIO()
    rows = regions = 0
    with pq.ParquetWriter(sink, SCHEMA, **_WRITE_OPTIONS) as writer:
        for batch in pq.ParquetFile(blobs.path(base)).iter_batches(batch_size=ROW_GROUP):
            kept = pa.Table.from_batches([batch]).filter(
                pc.invert(pc.is_in(batch.column("item_id"), value_set=drop_set))
            )
            writer.write_table(kept.cast(SCHEMA), row_group_size=ROW_GROUP)
            rows += kept.num_rows
            regions += int(pc.sum(kept["n_regions"]).as_py() or 0)
        if extra.num_rows:
            writer.write_table(extra.cast(SCHEMA), row_group_size=ROW_GROUP)
            rows += extra.num_rows
            regions += int(pc.sum(extra["n_regions"]).as_py() or 0)
    return blobs.put_bytes(sink.getvalue()), rows, regions


def read(blobs: LocalBlobStore, sha: str, columns: list[str] | None = None) -> pa.Table:
    # ParquetFile avoids importing pyarrow.dataset, which costs more than reading a delta.
    return pq.ParquetFile(blobs.path(sha)).read(columns=columns)


def take_items(table: pa.Table, ids: Sequence[str]) -> pa.Table:
    if not ids:
        return table.slice(0, 0)
    return table.filter(pc.is_in(table["item_id"], value_set=pa.array(list(ids), pa.string())))


def drop_items(table: pa.Table, ids: Sequence[str]) -> pa.Table:
    if not ids:
        return table
    mask = pc.is_in(table["item_id"], value_set=pa.array(list(ids), pa.string()))
    return table.filter(pc.invert(mask))

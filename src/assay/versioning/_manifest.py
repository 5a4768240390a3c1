"""Commit manifests: one Parquet file per commit, stored as a blob."""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from assay.store import BlobStore

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


def write_delta(blobs: BlobStore, cols: dict[str, list[Any]]) -> str:
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


class Writer:
    """A full manifest written table by table; `rows`, `regions` and, after `close`, `sha`."""

    def __init__(self, blobs: BlobStore) -> None:
        self._blobs = blobs
        self._sink = io.BytesIO()
        self._writer = pq.ParquetWriter(self._sink, SCHEMA, **_WRITE_OPTIONS)
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self.rows = self.regions = 0
        self.sha = ""

    def write(self, table: pa.Table) -> None:
        self.rows += table.num_rows
        self.regions += int(pc.sum(table["n_regions"]).as_py() or 0)
        # Tables arrive in small chunks; row groups stay ROW_GROUP rows long.
        self._pending.append(table)
        self._pending_rows += table.num_rows
        if self._pending_rows >= ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            table = pa.concat_tables(self._pending).cast(SCHEMA)
            self._writer.write_table(table, row_group_size=ROW_GROUP)
        self._pending, self._pending_rows = [], 0

    def close(self) -> str:
        self._flush()
        self._writer.close()
        self.sha = self._blobs.put_bytes(self._sink.getvalue())
        return self.sha


# A commit's manifest is either full (every row; depth 0) or a layer over its parent's
# manifest: the rows the commit added or changed, and a row with `removed` set for each item it
# dropped. Readers resolve the chain down to the full manifest, so a commit costs what it
# changed; once the chain is MAX_DEPTH deep or its layers hold more than LAYER_SHARE of the
# rows, the next commit writes a full manifest again (streamed, a few batches in memory).
LAYER_SCHEMA = pa.schema([*SCHEMA, pa.field("removed", pa.bool_())])
MAX_DEPTH = 32
LAYER_SHARE = 0.1
LAYER_MIN_ROWS = 10_000


def _chain(blobs: BlobStore, sha: str) -> tuple[pq.ParquetFile, list[pq.ParquetFile]]:
    """The full manifest under `sha` and the layers above it, newest first."""
    layers: list[pq.ParquetFile] = []
    f = pq.ParquetFile(blobs.path(sha))
    while (base := (f.schema_arrow.metadata or {}).get(b"assay.base")) is not None:
        layers.append(f)
        f = pq.ParquetFile(blobs.path(base.decode()))
    return f, layers


def _info(f: pq.ParquetFile) -> tuple[int, int]:
    """(depth, rows held by the layers of the chain) of a manifest file."""
    meta = f.schema_arrow.metadata or {}
    return int(meta.get(b"assay.depth", 0)), int(meta.get(b"assay.layer_rows", 0))


def _resolve_layers(
    layers: list[pq.ParquetFile], columns: list[str] | None
) -> tuple[pa.Array, pa.Table | None]:
    """(every item id the layers mention, the live rows they hold); an item's newest row wins."""
    need = None if columns is None else [*dict.fromkeys(["item_id", *columns]), "removed"]
    mentioned = pa.array([], pa.string())
    live: list[pa.Table] = []
    for f in layers:  # newest first
        t = f.read(columns=need)
        t = t.filter(pc.invert(pc.is_in(t["item_id"], value_set=mentioned)))
        mentioned = pa.concat_arrays([mentioned, t["item_id"].combine_chunks()])
        live.append(t.filter(pc.invert(t["removed"])).drop_columns(["removed"]))
    rows = pa.concat_tables(live[::-1]) if live else None
    return mentioned, rows


def commit_layer(
    blobs: BlobStore, base: str, drop: Sequence[str], extra: pa.Table, total_rows: int
) -> str:
    """The manifest of a commit whose parent's manifest is `base`: the `drop` items removed or
    replaced by the rows of `extra`. Written as a layer unless the chain is due a full rewrite.

    `total_rows` is the size of the new version, which bounds how large layers may grow.
    """
    depth, layer_rows = _info(pq.ParquetFile(blobs.path(base)))
    grown = layer_rows + len(drop) + extra.num_rows
    if depth < MAX_DEPTH and grown <= max(LAYER_MIN_ROWS, LAYER_SHARE * total_rows):
        return _write_layer(blobs, base, drop, extra, depth + 1, grown)
    return _compact(blobs, base, drop, extra)


def _write_layer(
    blobs: BlobStore, base: str, drop: Sequence[str], extra: pa.Table, depth: int, rows: int
) -> str:
    kept = set(extra["item_id"].to_pylist())
    gone = sorted({i for i in drop if i not in kept})
    fresh = extra.cast(SCHEMA).append_column("removed", pa.repeat(False, extra.num_rows))
    removed = pa.table({"item_id": pa.array(gone, pa.string())})
    removed = removed.append_column("removed", pa.repeat(True, len(gone)))
    table = pa.concat_tables([fresh, removed], promote_options="default")
    meta = {
        b"assay.manifest": b"1",
        b"assay.base": base.encode(),
        b"assay.depth": str(depth).encode(),
        b"assay.layer_rows": str(rows).encode(),
    }
    sink = io.BytesIO()
    pq.write_table(table.cast(LAYER_SCHEMA.with_metadata(meta)), sink, compression="zstd")
    return blobs.put_bytes(sink.getvalue())


def _compact(blobs: BlobStore, base: str, drop: Sequence[str], extra: pa.Table) -> str:
    """A full manifest: the chain under `base` resolved, `drop` removed, `extra` appended;
    streamed batch by batch so memory stays at a few batches whatever the dataset size."""
    full, layers = _chain(blobs, base)
    mentioned, live = _resolve_layers(layers, None)
    dropped = pa.array(list(drop), pa.string())
    gone = pa.concat_arrays([mentioned, dropped])
    writer = Writer(blobs)
    for batch in full.iter_batches(batch_size=ROW_GROUP):
        table = pa.Table.from_batches([batch])
        writer.write(table.filter(pc.invert(pc.is_in(table["item_id"], value_set=gone))))
    if live is not None:
        writer.write(live.filter(pc.invert(pc.is_in(live["item_id"], value_set=dropped))))
    writer.write(extra)
    return writer.close()


def read(blobs: BlobStore, sha: str, columns: list[str] | None = None) -> pa.Table:
    """A commit's rows (the chosen columns), with any layers resolved."""
    # ParquetFile avoids importing pyarrow.dataset, which costs more than reading a delta.
    full, layers = _chain(blobs, sha)
    if not layers:
        return full.read(columns=columns)
    need = None if columns is None else list(dict.fromkeys(["item_id", *columns]))
    mentioned, live = _resolve_layers(layers, columns)
    t = full.read(columns=need)
    t = t.filter(pc.invert(pc.is_in(t["item_id"], value_set=mentioned)))
    if live is not None:
        t = pa.concat_tables([t, live.select(t.column_names).cast(t.schema)])
    return t if columns is None else t.select(columns)


def read_delta(blobs: BlobStore, sha: str) -> pa.Table:
    return pq.ParquetFile(blobs.path(sha)).read()


def take_items(table: pa.Table, ids: Sequence[str]) -> pa.Table:
    if not ids:
        return table.slice(0, 0)
    return table.filter(pc.is_in(table["item_id"], value_set=pa.array(list(ids), pa.string())))


class Positional:
    """A commit's rows read by position, a row group at a time, so a reader of every row never
    holds more than one row group of the wide columns (label texts) in memory.

    Positions number the full manifest's rows in file order, then the live rows of its layers
    (`index` gives the position of each row `read` returns). `take` reads the row groups the
    positions fall in, one at a time, keeping the last one read for the next call: positions
    that follow file order read every row group once.
    """

    def __init__(self, blobs: BlobStore, sha: str) -> None:
        self._full, layers = _chain(blobs, sha)
        self._layers = layers
        meta = self._full.metadata
        sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        self._starts = [0]
        for n in sizes:
            self._starts.append(self._starts[-1] + n)
        self._live: pa.Table | None = None
        self._lock = threading.Lock()
        self._cached: tuple[tuple[int, tuple[str, ...]], pa.Table] | None = None

    def index(self, columns: list[str]) -> tuple[pa.Table, pa.Array]:
        """The rows `read` gives (the chosen columns) and the position of each."""
        need = list(dict.fromkeys(["item_id", *columns]))
        t = self._full.read(columns=need)
        pos = pa.array(range(t.num_rows), pa.int64())
        if not self._layers:
            return t.select(columns), pos
        mentioned, live = _resolve_layers(self._layers, None)
        keep = pc.invert(pc.is_in(t["item_id"], value_set=mentioned))
        t, pos = t.filter(keep), pa.chunked_array([pos]).filter(keep).combine_chunks()
        if live is not None:
            self._live = live.cast(SCHEMA)
            base = self._starts[-1]
            t = pa.concat_tables([t, live.select(t.column_names).cast(t.schema)])
            extra = pa.array(range(base, base + live.num_rows), pa.int64())
            pos = pa.concat_arrays([pos, extra])
        return t.select(columns), pos

    def take(self, positions: Any, columns: list[str]) -> pa.Table:
        """The rows at `positions` (a numpy int64 array), in that order. One call at a time:
        an export's read-ahead thread and its row path may both read."""
        with self._lock:
            return self._take(positions, columns)

    def _take(self, positions: Any, columns: list[str]) -> pa.Table:
        import numpy as np

        positions = np.asarray(positions, dtype=np.int64)
        groups = np.searchsorted(np.asarray(self._starts), positions, side="right") - 1
        pieces: list[pa.Table] = []
        where: list[Any] = []
        for g in np.unique(groups):
            hit = np.flatnonzero(groups == g)
            table = self._group(int(g), columns)
            pieces.append(table.take(pa.array(positions[hit] - self._starts[g])))
            where.append(hit)
        if not pieces:
            return SCHEMA.empty_table().select(columns)
        out = pa.concat_tables(pieces) if len(pieces) > 1 else pieces[0]
        if len(pieces) == 1:
            return out
        back = np.empty(len(positions), dtype=np.int64)
        back[np.concatenate(where)] = np.arange(len(positions))
        return out.take(pa.array(back))

    def _group(self, g: int, columns: list[str]) -> pa.Table:
        if g == len(self._starts) - 1:  # the layers' live rows, held whole (a tenth at most)
            assert self._live is not None
            return self._live.select(columns)
        key = (g, tuple(columns))
        if self._cached is not None and self._cached[0] == key:
            return self._cached[1]
        self._cached = None  # freed before the next group is read
        table = self._full.read_row_group(g, columns=columns)
        self._cached = (key, table)
        return table

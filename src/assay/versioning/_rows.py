"""Bulk reads of the working state into manifest-shaped Arrow tables.

These are the hot paths of commit, status, diff and export. They use plain DB-API cursors
in the connection's own transaction (a second SQLite library in the process, such as an
ADBC driver's, would break SQLite's locking) and convert to Arrow column by column.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.engine import Connection, CursorResult

from assay.store.schema import ID_SEP
from assay.versioning import _manifest

_COLUMNS = (
    "w.item_id, i.media_type, i.metadata_hash, w.labels, w.label_hash, w.n_regions, "
    "w.annotation_ids, w.authors, i.marking"
)
_NAMES = [
    "item_id",
    "media_type",
    "metadata_hash",
    "labels",
    "label_hash",
    "n_regions",
    "annotation_ids",
    "authors",
    "marking",
]
_FROM = " FROM working w JOIN items i ON i.id = w.item_id WHERE w.dataset_id = {p}"
CHUNK = 500


def _param(conn: Connection) -> str:
    return "%s" if conn.dialect.name == "postgresql" else "?"


def _split(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    """ID_SEP-joined strings to lists of strings ('' is the empty list)."""
    parts = pc.split_pattern(col, ID_SEP)
    empty = pa.scalar([], pa.list_(pa.string()))
    return pc.if_else(pc.equal(col, ""), empty, parts)


def _finish(cols: dict[str, pa.Array | pa.ChunkedArray]) -> pa.Table:
    arrays: dict[str, pa.Array | pa.ChunkedArray] = {}
    for name in _manifest.COLUMNS:
        if name == "blob":
            arrays[name] = pa.nulls(len(cols["item_id"]), pa.string())
        elif name in ("annotation_ids", "authors"):
            arrays[name] = _split(pc.cast(cols[name], pa.string()))
        else:
            arrays[name] = pc.cast(cols[name], _manifest.SCHEMA.field(name).type)
    return pa.table(arrays, schema=_manifest.SCHEMA)


def to_table(rows: Sequence[Sequence[object]]) -> pa.Table:
    if not rows:
        return _manifest.empty()
    columns = zip(*rows, strict=True)
    return _finish({n: pa.array(c) for n, c in zip(_NAMES, columns, strict=True)})


PACKED_CHUNK = 65536
_FIELD_SEP = "\x1e"  # JSON escapes control characters, so no stored value contains it


def _packed_query(conn: Connection, ds: int) -> CursorResult[Any]:
    """The whole working state with one Python string per row instead of one per value.

    The database joins each row's columns with _FIELD_SEP; Arrow splits them back. Per-value
    Python objects are what makes a million-row read slow through DB-API.
    """
    sep = "chr(30)" if conn.dialect.name == "postgresql" else "char(30)"
    packed = f" || {sep} || ".join(
        f"coalesce(CAST({c.strip()} AS TEXT), '')" for c in _COLUMNS.split(",")
    )
    p = _param(conn)
    return conn.exec_driver_sql(f"SELECT {packed}{_FROM.format(p=p)} ORDER BY w.item_id", (ds,))


def _unpack(rows: Sequence[Any]) -> pa.Table:
    parts = pc.split_pattern(pa.array([r[0] for r in rows], pa.string()), _FIELD_SEP)
    cols: dict[str, pa.Array | pa.ChunkedArray] = {}
    for k, name in enumerate(_NAMES):
        col = pc.list_element(parts, k)
        if name == "n_regions":
            col = pc.cast(col, pa.int32())
        cols[name] = col
    return _finish(cols)


def stream_working(conn: Connection, ds: int, sink: Callable[[pa.Table], None]) -> None:
    """Feed the whole working state, in item order, to `sink` as Arrow tables of a few tens of
    thousands of rows, so a million rows never exist as Python objects all at once.

    The database read stays on this thread (the connection's); turning rows into Arrow and
    `sink` run on a second thread. SQLite steps and Arrow kernels release the GIL, so on two
    cores the read and the conversion (and a Parquet write in `sink`) overlap.
    """
    result = _packed_query(conn, ds)
    chunks: queue.Queue[Sequence[Any] | None] = queue.Queue(maxsize=2)
    failure: list[BaseException] = []

    def convert() -> None:
        while (rows := chunks.get()) is not None:
            if not failure:
                try:
                    sink(_unpack(rows))
                except BaseException as exc:  # handed to the reading thread below
                    failure.append(exc)
            del rows

    worker = threading.Thread(target=convert, name="assay-rows", daemon=True)
    worker.start()
    try:
        while not failure and (rows := result.fetchmany(PACKED_CHUNK)):
            chunks.put(rows)
            del rows
    finally:
        chunks.put(None)
        worker.join()
    if failure:
        raise failure[0]


def _packed_all(conn: Connection, ds: int) -> pa.Table:
    tables: list[pa.Table] = []
    stream_working(conn, ds, tables.append)
    return pa.concat_tables(tables) if tables else _manifest.empty()


def working_rows(conn: Connection, ds: int, ids: Sequence[str] | None = None) -> pa.Table:
    """Manifest rows of the working state: all members, or those of `ids` that are members."""
    p = _param(conn)
    base = f"SELECT {_COLUMNS}{_FROM.format(p=p)}"
    if ids is None:
        return _packed_all(conn, ds)
    out: list[Sequence[object]] = []
    for start in range(0, len(ids), CHUNK):
        chunk = list(ids[start : start + CHUNK])
        marks = ",".join([p] * len(chunk))
        out.extend(
            conn.exec_driver_sql(base + f" AND w.item_id IN ({marks})", (ds, *chunk)).fetchall()
        )
    out.sort(key=lambda r: str(r[0]))
    return to_table(out)


@dataclass
class Change:
    """One item that changed since the last commit: its committed and current labels."""

    item_id: str
    base_hash: str | None
    base_labels: str | None
    hash: str | None
    labels: str | None

    @property
    def kind(self) -> str | None:
        if self.base_hash is None:
            return "added" if self.hash is not None else None
        if self.hash is None:
            return "removed"
        return "changed" if self.hash != self.base_hash else None


def pending_changes(conn: Connection, ds: int) -> list[Change]:
    """Every recorded change of the working state, read from the change log only.

    Before the first commit there is no log: every member is an added item.
    """
    p = _param(conn)
    if not conn.exec_driver_sql(
        f"SELECT head FROM datasets WHERE id = {p} AND head IS NOT NULL", (ds,)
    ).first():
        rows = conn.exec_driver_sql(
            "SELECT item_id, NULL, NULL, label_hash, labels FROM working "
            f"WHERE dataset_id = {p} ORDER BY item_id",
            (ds,),
        ).fetchall()
        return [Change(*r) for r in rows]
    rows = conn.exec_driver_sql(
        "SELECT c.item_id, c.base_hash, c.base_labels, w.label_hash, w.labels "
        "FROM working_changes c LEFT JOIN working w "
        "ON w.dataset_id = c.dataset_id AND w.item_id = c.item_id "
        f"WHERE c.dataset_id = {p} ORDER BY c.item_id",
        (ds,),
    ).fetchall()
    return [Change(*r) for r in rows]


def working_hashes(conn: Connection, ds: int) -> pa.Table:
    p = _param(conn)
    rows = conn.exec_driver_sql(
        f"SELECT item_id, label_hash FROM working WHERE dataset_id = {p} ORDER BY item_id", (ds,)
    ).fetchall()
    ids = [r[0] for r in rows]
    hashes = [r[1] for r in rows]
    return pa.table(
        {"item_id": pa.array(ids, pa.string()), "label_hash": pa.array(hashes, pa.string())}
    )


def item_columns(
    conn: Connection, ids: Sequence[str]
) -> tuple[list[str], list[int | None], list[int | None], list[str], list[str]]:
    """Name, width, height, metadata JSON and marking now of each item of `ids`, as columns in
    the order of `ids` (read in chunks; repeated metadata and marking texts are shared, so a
    million items cost a few compact lists, not a million tuples)."""
    p = _param(conn)
    names: list[str] = []
    widths: list[int | None] = []
    heights: list[int | None] = []
    metas: list[str] = []
    marks: list[str] = []
    shared: dict[str, str] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = list(ids[start : start + CHUNK])
        params = ",".join([p] * len(chunk))
        found = {
            r[0]: r
            for r in conn.exec_driver_sql(
                "SELECT id, name, width, height, metadata, marking FROM items "
                f"WHERE id IN ({params})",
                tuple(chunk),
            ).fetchall()
        }
        for i in chunk:
            r = found[i]
            names.append(r[1])
            widths.append(r[2])
            heights.append(r[3])
            metas.append(shared.setdefault(r[4], r[4]))
            marks.append(shared.setdefault(r[5], r[5]))
    return names, widths, heights, metas, marks


ITEM_FIELDS = ("name", "width", "height", "metadata", "marking", "number")
_ITEM_TYPES = (pa.string(), pa.int64(), pa.int64(), pa.string(), pa.string(), pa.int64())


def item_table(cols: Sequence[Sequence[Any]]) -> pa.Table:
    """Columns (name, width, height, metadata, marking, number) as a table of `ITEM_FIELDS`."""
    return pa.table(
        [pa.array(c, t) for c, t in zip(cols, _ITEM_TYPES, strict=True)], names=list(ITEM_FIELDS)
    )


def numbered_items(conn: Connection, ds: int) -> tuple[pa.Array, pa.Table]:
    """(item id, `ITEM_FIELDS` row) of every numbered item of dataset `ds`: name, width,
    height, metadata JSON, marking now and image number.

    One pass over the dataset's numbered items (no statement per chunk of ids), read through
    the driver's own cursor in large chunks, each turned into Arrow columns at once (no Python
    object per value beyond the driver's row tuples)."""
    p = _param(conn)
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    cur.execute(
        "SELECT n.item_id, i.name, i.width, i.height, i.metadata, i.marking, n.number "
        f"FROM item_numbers n JOIN items i ON i.id = n.item_id WHERE n.dataset_id = {p}",
        (ds,),
    )
    row_type = pa.struct([("item_id", pa.string()), *zip(ITEM_FIELDS, _ITEM_TYPES, strict=True)])
    chunks: list[pa.Array] = []
    while rows := cur.fetchmany(PACKED_CHUNK):
        chunks.append(pa.array(rows, row_type))
        del rows
    cur.close()
    if not chunks:
        return pa.array([], pa.string()), item_table([[]] * len(ITEM_FIELDS))
    whole = pa.Table.from_struct_array(pa.chunked_array(chunks, row_type))
    return whole["item_id"].combine_chunks(), whole.drop_columns(["item_id"])


def item_attributes(conn: Connection, ids: Sequence[str]) -> dict[str, tuple[Any, ...]]:
    """(name, width, height, metadata JSON, marking now) of each item, read in chunks."""
    p = _param(conn)
    out: dict[str, tuple[Any, ...]] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = list(ids[start : start + CHUNK])
        marks = ",".join([p] * len(chunk))
        rows = conn.exec_driver_sql(
            f"SELECT id, name, width, height, metadata, marking FROM items WHERE id IN ({marks})",
            tuple(chunk),
        ).fetchall()
        for r in rows:
            out[r[0]] = tuple(r[1:])
    return out

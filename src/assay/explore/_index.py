"""The explorer's index of a revision: one Arrow row per item with what the filters need.

Built once per commit manifest (classes, authors, region areas and top-level metadata fields
pulled out of the label and metadata JSON) and kept as a blob (`derived` table): an
uncompressed Arrow IPC file, memory-mapped when read, so opening it costs next to nothing, a
filtered page over a million items is a few vectorised Arrow/numpy operations, and taking the
labels of a page's rows touches only those rows. The working state changes under the reader,
so its index is built fresh on each request (cost follows its size).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.engine import Connection

from assay import versioning
from assay.explore._derived import derived_blob
from assay.versioning import Revision
from assay.workspace import Workspace

KIND = "explore-index/v3"
MAX_FIELDS = 32  # metadata fields pulled out as columns, most common first
META = "meta."
_BASE = ["item_id", "media_type", "labels", "n_regions", "authors", "marking"]


@dataclass
class Index:
    """A loaded index (memory-mapped for a commit) and the values its facets offer."""

    table: pa.Table
    classes: list[str]
    authors: list[str]
    markings: list[str]
    fields: list[str]

    def __post_init__(self) -> None:
        self._cache: dict[
            str, tuple[np.ndarray[Any, Any], list[Any], np.ndarray[Any, Any] | None]
        ] = {}
        self._lock = threading.Lock()

    def _encoded(
        self, col: str
    ) -> tuple[np.ndarray[Any, Any], list[Any], np.ndarray[Any, Any] | None]:
        """(values or codes, dictionary, list offsets) of a column, computed once per index.

        A list column is flattened, with its offsets (row i's values are
        values[offsets[i]:offsets[i + 1]]); strings become small integer codes into a
        dictionary, so a filter is a table lookup and a cumulative sum, all in numpy.
        """
        with self._lock:
            hit = self._cache.get(col)
        if hit is not None:
            return hit
        column = self.table[col].combine_chunks()
        offsets = None
        values: Any = column
        if pa.types.is_list(column.type):
            offsets = column.offsets.to_numpy()
            values = pc.list_flatten(column)
        made: tuple[np.ndarray[Any, Any], list[Any], np.ndarray[Any, Any] | None]
        if pa.types.is_floating(values.type):
            made = (values.to_numpy(zero_copy_only=False), [], offsets)
        else:
            enc = pc.dictionary_encode(values)
            codes = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False)
            made = (codes, enc.dictionary.to_pylist(), offsets)
        with self._lock:
            self._cache[col] = made
        return made

    def _rows(self, hit: np.ndarray[Any, Any], offsets: np.ndarray[Any, Any] | None) -> Any:
        if offsets is None:
            return hit
        total = np.concatenate(([0], np.cumsum(hit, dtype=np.int64)))
        return total[offsets[1:]] > total[offsets[:-1]]

    def _per_row(self, key: str, make: Any) -> Any:
        with self._lock:
            hit = self._cache.get(key)
        if hit is None:
            hit = make()
            with self._lock:
                self._cache[key] = hit
        return hit

    def _bits(self, col: str) -> np.ndarray[Any, Any] | None:
        """Per row, a 64-bit set of the list column's values (None past 64 distinct values)."""
        codes, dictionary, offsets = self._encoded(col)
        if offsets is None or len(dictionary) > 64:
            return None

        def make() -> np.ndarray[Any, Any]:
            one = np.uint64(1)
            vals = np.where(codes >= 0, one << np.maximum(codes, 0).astype(np.uint64), 0)
            return np.asarray(
                _reduce_rows(np.bitwise_or, vals.astype(np.uint64), offsets, np.uint64(0))
            )

        return np.asarray(self._per_row(col + "#bits", make))

    def rows_with(self, col: str, values: set[str]) -> np.ndarray[Any, Any]:
        """A row mask: rows whose column holds (any of) `values`."""
        codes, dictionary, offsets = self._encoded(col)
        bits = self._bits(col)
        if bits is not None:
            want = np.uint64(0)
            for i, v in enumerate(dictionary):
                if v in values:
                    want |= np.uint64(1) << np.uint64(i)
            return np.asarray((bits & want) != 0)
        lookup = np.zeros(len(dictionary) + 1, dtype=bool)  # the last entry: code -1 (null)
        for i, v in enumerate(dictionary):
            lookup[i] = v in values
        return np.asarray(self._rows(lookup[codes], offsets))

    def rows_in_range(
        self, col: str, low: float | None, high: float | None
    ) -> np.ndarray[Any, Any]:
        """A row mask: rows with a value of the (float list) column within [low, high]."""
        values, _none, offsets = self._encoded(col)
        if offsets is not None and (low is None) != (high is None):
            # one bound: the row's largest (or smallest) value decides, kept per row
            if low is not None:
                top = self._per_row(
                    col + "#max", lambda: _reduce_rows(np.fmax, values, offsets, np.nan)
                )
                return np.asarray(top >= low)
            bottom = self._per_row(
                col + "#min", lambda: _reduce_rows(np.fmin, values, offsets, np.nan)
            )
            return np.asarray(bottom <= high)
        hit = np.ones(len(values), dtype=bool)
        if low is not None:
            hit &= values >= low
        if high is not None:
            hit &= values <= high
        return np.asarray(self._rows(hit, offsets))

    def labels(self, rows: list[int]) -> list[str]:
        """The labels JSON of the given row positions."""
        taken = self.table["labels"].take(pa.array(rows, pa.int64()))
        return [str(v) for v in taken.to_pylist()]


def _reduce_rows(ufunc: Any, values: Any, offsets: Any, empty: Any) -> Any:
    """`ufunc` reduced over each row's slice of a flattened list column (`empty` if none).

    `empty` must leave a reduction unchanged (nan for fmax/fmin, 0 for bitwise_or): it is
    appended once, so every start is a valid index and the last row still ends at the end.
    """
    starts = offsets[:-1]
    dtype = values.dtype if len(values) else np.float64
    ext = np.append(np.asarray(values, dtype=dtype), np.array([empty], dtype=dtype))
    nonempty = offsets[1:] > starts
    if not len(starts):
        return np.zeros(0, dtype=dtype)
    reduced = ufunc.reduceat(ext, starts)
    return np.where(nonempty, reduced, np.array(empty, dtype=dtype))


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
        width = _reduce_rows(np.fmax, xs, offsets, np.nan) - _reduce_rows(
            np.fmin, xs, offsets, np.nan
        )
        height = _reduce_rows(np.fmax, ys, offsets, np.nan) - _reduce_rows(
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


_LOADED: OrderedDict[str, Index] = OrderedDict()
_LOCK = threading.Lock()
KEEP = 4


def _load(source: bytes | str) -> Index:
    buf = pa.py_buffer(source) if isinstance(source, bytes) else pa.memory_map(source)
    table = pa.ipc.open_file(buf).read_all()  # zero-copy: pages come in as they are touched
    names = table.column_names

    def uniq(col: str) -> list[str]:
        values = pc.unique(pc.list_flatten(table[col])).to_pylist()
        return sorted(v for v in values if v)

    return Index(
        table=table,
        classes=uniq("classes"),
        authors=uniq("authors"),
        markings=sorted(v for v in pc.unique(table["marking"]).to_pylist() if v),
        fields=[n[len(META) :] for n in names if n.startswith(META)],
    )


def index_for(ws: Workspace, rev: Revision) -> Index:
    """The index of a commit (built once, then read from the blob store) or the working state."""
    if rev.commit is None:
        with ws.db.read() as conn:
            return _load(build(conn, ws, rev))
    manifest = rev.commit.manifest
    with _LOCK:
        hit = _LOADED.get(manifest)
        if hit is not None:
            _LOADED.move_to_end(manifest)
            return hit

    def make() -> bytes:
        with ws.db.read() as conn:
            return build(conn, ws, rev)

    sha = derived_blob(ws, KIND, manifest, make)
    index = _load(str(ws.blobs.path(sha)))
    with _LOCK:
        _LOADED[manifest] = index
        while len(_LOADED) > KEEP:
            _LOADED.popitem(last=False)
    return index

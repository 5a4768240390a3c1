"""The explorer's index of a revision: one Arrow row per item with what the filters need.

Built once per commit manifest (classes, authors, region areas and top-level metadata fields
pulled out of the label and metadata JSON) and kept as a blob (`derived` table): an
uncompressed Arrow IPC file, memory-mapped when read, so opening it costs next to nothing, a
filtered page over a million items is a few vectorised Arrow/numpy operations, and taking the
labels of a page's rows touches only those rows. The working state changes under the reader,
so its index is built fresh on each request (cost follows its size).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from assay.explore._build import META, build
from assay.explore._derived import derived_blob
from assay.explore._reduce import reduce_rows
from assay.versioning import Revision
from assay.workspace import Workspace

KIND = "explore-index/v3"


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
                reduce_rows(np.bitwise_or, vals.astype(np.uint64), offsets, np.uint64(0))
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
                    col + "#max", lambda: reduce_rows(np.fmax, values, offsets, np.nan)
                )
                return np.asarray(top >= low)
            bottom = self._per_row(
                col + "#min", lambda: reduce_rows(np.fmin, values, offsets, np.nan)
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


def with_markings(index: Index, markings: pa.Array) -> Index:
    """`index` with its marking column replaced (the other columns shared, not copied)."""
    table = index.table.set_column(index.table.column_names.index("marking"), "marking", markings)
    return Index(
        table=table,
        classes=index.classes,
        authors=index.authors,
        markings=sorted(v for v in pc.unique(markings).to_pylist() if v),
        fields=index.fields,
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

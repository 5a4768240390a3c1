"""Export rows built a chunk at a time, so an export's memory does not grow with the dataset.

A million-item export used to build every `ExportRow` (and every `Region` of every row) before
writing a byte: about 10 KB per item. `RowStream` keeps only compact per-item columns (id,
name, media type, size, number, marking) and builds full rows, labels parsed, one chunk at a
time as a writer iterates; nothing it builds is kept. Writers that need a column of every row
(file names to check for clashes, media types to filter) read the compact columns instead of
building rows.

A list of rows wraps as a `RowStream` too (`RowStream.of`), so writers see one interface.

Writers that can work on columns ask for `batches`: bigger chunks, each with the rows as one
Arrow table (label and metadata texts as stored, not parsed) when the source can give it, and
the full rows built only when the writer asks for them (a chunk its column path cannot write).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, overload

if TYPE_CHECKING:
    from assay.formats._model import ExportRow

CHUNK = 4096  # rows built at a time: big enough to batch JSON parsing and database reads
BATCH_CHUNKS = 16  # a batch (`RowStream.batches`) is this many chunks: columns work in bulk

# The columns of a batch's table, in this order. `metadata` and `labels` are JSON texts as
# stored (canonical: sorted keys); `width`/`height` null when unknown.
BATCH_COLUMNS = (
    "item_id",
    "name",
    "media_type",
    "width",
    "height",
    "number",
    "marking",
    "metadata",
    "labels",
    "authors",
    "annotation_ids",
)


class Batch:
    """Rows of a stream as a table (`table`, None when the source has none) and, on demand,
    as full rows (`rows()`); `prepared` is what the writer's `prepare` made of the table
    (`RowStream.batches`), None when it made nothing or there is no table."""

    prepared: Any = None

    def __init__(
        self,
        positions: Sequence[int],
        build: Callable[[Sequence[int]], list[ExportRow]],
        table: Callable[[Sequence[int]], Any] | None,
    ) -> None:
        self.positions = positions
        self._build = build
        self.table = table(positions) if table is not None else None

    def __len__(self) -> int:
        return len(self.positions)

    def rows(self) -> list[ExportRow]:
        return self._build(self.positions)


# `RowColumns` fields and the column of `RowColumns.table` each is read from.
_FIELDS = {
    "item_ids": "item_id",
    "names": "name",
    "media_types": "media_type",
    "widths": "width",
    "heights": "height",
    "numbers": "number",
    "markings": "marking",
}


class RowColumns:
    """The compact columns of every row, in export order: Python lists, or an Arrow `table`
    (columns `item_id`, `name`, `media_type`, `width`, `height`, `number`, `marking`) whose
    lists are made only when first asked for (writers that work on columns never ask)."""

    item_ids: list[str]
    names: list[str]
    media_types: list[str]
    widths: list[int | None]
    heights: list[int | None]
    numbers: list[int]
    markings: list[str]

    def __init__(
        self,
        item_ids: list[str],
        names: list[str],
        media_types: list[str],
        widths: list[int | None],
        heights: list[int | None],
        numbers: list[int],
        markings: list[str],
    ) -> None:
        self.table: Any = None
        self.unique_names = False  # known to hold no name twice (see `export_bundle`)
        self.item_ids, self.names, self.media_types = item_ids, names, media_types
        self.widths, self.heights, self.numbers, self.markings = widths, heights, numbers, markings

    @classmethod
    def of_table(cls, table: Any) -> RowColumns:
        """Columns backed by an Arrow table (see the class)."""
        self = cls.__new__(cls)
        self.table = table
        self.unique_names = False
        return self

    def __getattr__(self, name: str) -> Any:
        column = _FIELDS.get(name)
        table = self.__dict__.get("table")
        if column is None or table is None:
            raise AttributeError(name)
        values = table[column].to_pylist()
        if column in ("media_type", "marking"):  # a handful of texts: share them
            seen: dict[str, str] = {}
            values = [seen.setdefault(x, x) for x in values]
        setattr(self, name, values)
        return values

    def __len__(self) -> int:
        return self.table.num_rows if self.table is not None else len(self.item_ids)

    def distinct(self, name: str) -> set[Any]:
        """The distinct values of one field."""
        if self.table is not None and name not in self.__dict__:
            import pyarrow.compute as pc

            return set(pc.unique(self.table[_FIELDS[name]]).to_pylist())
        return set(getattr(self, name))

    def array(self, name: str) -> Any:
        """One field as an Arrow array."""
        import pyarrow as pa

        if self.table is not None:
            return self.table[_FIELDS[name]].combine_chunks()
        kind = pa.int64() if name in ("widths", "heights", "numbers") else pa.string()
        return pa.array(getattr(self, name), kind)

    def take(self, positions: Sequence[int]) -> RowColumns:
        if self.table is not None:
            import pyarrow as pa

            some = RowColumns.of_table(self.table.take(pa.array(positions, pa.int64())))
            some.unique_names = self.unique_names and len(set(positions)) == len(positions)
            return some
        return RowColumns(
            item_ids=[self.item_ids[p] for p in positions],
            names=[self.names[p] for p in positions],
            media_types=[self.media_types[p] for p in positions],
            widths=[self.widths[p] for p in positions],
            heights=[self.heights[p] for p in positions],
            numbers=[self.numbers[p] for p in positions],
            markings=[self.markings[p] for p in positions],
        )


class RowStream(Sequence["ExportRow"]):
    """Export rows: compact columns always, full rows built a chunk at a time on iteration.

    `build(positions)` makes the full rows at those positions (indexes into the columns), in
    order. `labels` maps each label of a region of record to the region kinds it is used with,
    in first-seen order (None when unknown: `ExportBundle.classes` then reads the rows); it may
    leave out labels of the bundle's label map, which hold their classes already.
    """

    def __init__(
        self,
        columns: RowColumns,
        build: Callable[[Sequence[int]], list[ExportRow]],
        labels: dict[str, set[str]] | None = None,
        positions: Sequence[int] | None = None,
        table: Callable[[Sequence[int]], Any] | None = None,
    ) -> None:
        self._all = columns
        self._build = build
        self._table = table
        self.labels = labels
        self._positions: Sequence[int] = positions if positions is not None else range(len(columns))
        self.columns = columns if positions is None else columns.take(positions)

    @classmethod
    def of(cls, rows: Sequence[ExportRow]) -> RowStream:
        """Rows already built (tests, scene exports, readers handing rows on)."""
        if isinstance(rows, RowStream):
            return rows
        kept = list(rows)
        columns = RowColumns(
            item_ids=[r.item_id for r in kept],
            names=[r.name for r in kept],
            media_types=[r.media_type for r in kept],
            widths=[r.width for r in kept],
            heights=[r.height for r in kept],
            numbers=[r.number for r in kept],
            markings=[r.marking for r in kept],
        )
        return cls(columns, lambda positions: [kept[p] for p in positions])

    def __len__(self) -> int:
        return len(self._positions)

    @overload
    def __getitem__(self, index: int) -> ExportRow: ...

    @overload
    def __getitem__(self, index: slice) -> RowStream: ...

    def __getitem__(self, index: int | slice) -> ExportRow | RowStream:
        if isinstance(index, slice):
            return self.select(range(len(self))[index])
        return self._build([self._positions[index]])[0]

    def __iter__(self) -> Iterator[ExportRow]:
        for chunk in self.chunks():
            yield from chunk

    def chunks(self, size: int | None = None) -> Iterator[list[ExportRow]]:
        """The full rows, `size` (default `CHUNK`) at a time; each list is new, keep none."""
        size = size or CHUNK
        for start in range(0, len(self._positions), size):
            yield self._build(self._positions[start : start + size])

    def batches(
        self, size: int | None = None, prepare: Callable[[Batch, int], Any] | None = None
    ) -> Iterator[Batch]:
        """The rows `size` (default `BATCH_CHUNKS` chunks) at a time, as `Batch`es.

        `prepare(batch, start)` (the batch's first row is the `start`th of the stream) turns a
        batch's table into what the writer writes, its `prepared`. Tables are read, and
        prepared, one batch ahead on a second thread (Arrow work, GIL released) while the
        writer writes the batch before; `prepare` sees the batches in order, one at a time."""
        size = size or CHUNK * BATCH_CHUNKS
        n = len(self._positions)

        def batch(start: int) -> Batch:
            made = Batch(self._positions[start : start + size], self._build, self._table)
            if prepare is not None and made.table is not None:
                made.prepared = prepare(made, start)
            return made

        if self._table is None or n <= size:
            yield from map(batch, range(0, n, size))
            return
        with ThreadPoolExecutor(1, thread_name_prefix="assay-batch") as pool:
            ahead = pool.submit(batch, 0)
            for start in range(0, n, size):
                done = ahead.result()
                if start + size < n:
                    ahead = pool.submit(batch, start + size)
                yield done
                del done

    def select(self, which: Sequence[int]) -> RowStream:
        """The rows at positions `which` of this stream (in that order)."""
        positions = [self._positions[k] for k in which]
        return RowStream(self._all, self._build, self.labels, positions, self._table)

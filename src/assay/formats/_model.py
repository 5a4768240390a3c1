"""What codecs read and write: plain in-process values, independent of the store.

A reader turns files into an `ImportBundle` (media plus labels per media file).
A writer receives an `ExportBundle` (rows of item, media bytes accessor and
labels of record) and writes files into a folder. Codecs never touch the
database; `assay.formats.io` (the service layer) maps bundles to and from
the workspace.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.domain.labelmap import LabelMap
from assay.domain.labels import Region
from assay.formats._stream import RowStream

_PLURAL = {
    "box": "boxes",
    "polygon": "polygons",
    "point": "points",
    "span": "spans",
    "choice": "choices",
    "text": "texts",
    "rating": "ratings",
    "ranking": "rankings",
}


# Region kinds whose label is a class of the label map (whole-item choices are not).
CLASS_KINDS = ("box", "polygon", "point", "span")


def plural(kind: str) -> str:
    """The name a drop is counted under for a region kind: ``choice`` -> ``choices``."""
    return _PLURAL.get(kind, kind)


class Drops:
    """What an import or export could not carry, counted per kind (``{"choices": 12}``).

    Every reader and writer counts here instead of skipping silently; the workspace reports the
    counts (stderr, ``dropped`` in ``--json``) and, with ``--strict``, refuses before writing.
    Region kinds are counted in the plural (`plural`); other things under a plain phrase
    (``"text items"``, ``"keypoints"``).
    """

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def add(self, kind: str, n: int = 1) -> None:
        if n > 0:
            self.counts[kind] += n

    def region(self, region: Region) -> None:
        """Count one region of record the format cannot hold."""
        self.add(plural(region.kind))

    def update(self, counts: Counter[str] | dict[str, int]) -> None:
        for k, n in counts.items():
            self.add(k, n)

    def __bool__(self) -> bool:
        return bool(self.counts)

    def to_dict(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))

    def describe(self) -> str:
        """``12 choices, 3 polygons``"""
        return ", ".join(f"{n} {k}" for k, n in sorted(self.counts.items()))


@dataclass
class ImportedAnnotation:
    """One person's or model's labels of one media file, as the source file has them."""

    regions: list[Region]
    author: str = "user:import"
    kind: str = "human"  # human | model
    created: str | None = None  # ISO-8601 when the file says
    lead_time: float | None = None
    source_id: str | None = None  # the id the source tool gave it
    of_record: bool = False  # behind the item's labels of record (`ImportedMedia.record`)
    # The regions already encoded, in order, as their `assay.domain.labels.region_texts`
    # (record, content key), each by `author`; then `regions` is empty. A bulk reader's way to
    # hand over labels without one Python object per coordinate (`Codec.read_encoded`).
    encoded: list[tuple[bytes, bytes]] | None = None


@dataclass
class ImportedMedia:
    """One media file (image or text) and what the source says about it.

    Exactly one of `path` (a file on disk) and `text` (inline text content) is set.
    """

    name: str  # file name as the source refers to it (used again on export)
    path: Path | None = None
    text: str | None = None
    width: int | None = None
    height: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    annotations: list[ImportedAnnotation] = field(default_factory=list)
    marking: str | None = None  # the marking the file states for it (assay exports), if any
    number: int | None = None  # the image id the source gives (COCO image id), kept if free
    data: bytes | None = None  # the media bytes, when the file embeds them (Parquet)
    # The item id (sha256 of the media) the file names; with no media in the file (an export
    # made with --no-media) the item is taken from the workspace by this id.
    item_id: str | None = None
    # The labels of record exactly as the file states them (assay's JSONL/Parquet: all regions
    # of all authors, in order) and their authors; None: the latest human annotation is taken.
    record: list[Region] | None = None
    record_authors: list[str] = field(default_factory=list)
    # The media type the file states (assay's JSONL/Parquet): a text item's file is text, not
    # an image to probe; None: an image, unless `text` is set.
    media_type: str | None = None
    # The media of the same import this one was made from (a chip's scene, by a STAC
    # `derived_from` link) and how (the item's `derivation`): a new item gets them as its
    # parent and derivation.
    derived_from: ImportedMedia | None = None
    derivation: str | None = None


@dataclass
class ImportBundle:
    media: list[ImportedMedia]
    label_names: list[str] = field(default_factory=list)  # declared classes in file order
    source: Path | None = None
    # Declared classes with the ids the file gives them (COCO category ids, YOLO indices), in
    # file order; None when the format has no ids (then `label_names` gives the order).
    label_map: LabelMap | None = None
    # Dataset-level facts the format carries and no item holds, by key (``coco``: info and
    # licenses); stored with the dataset and handed back to the same format's writer.
    dataset_meta: dict[str, Any] = field(default_factory=dict)
    dropped: Drops = field(default_factory=Drops)  # what the reader could not carry
    # Markings the file states for everything in it (place in the file -> marking text, e.g.
    # Parquet's schema metadata ``assay.marking``): every item is met with at least each.
    markings: dict[str, str] = field(default_factory=dict)
    # Why the file holds no media for an item it names by id, and how to get one that does.
    no_media: tuple[str, str] = ("the file was exported with --no-media", "export with media")


@dataclass
class ExportRow:
    """One item of a dataset version with its labels of record."""

    item_id: str
    name: str  # unique file name to write the media under
    media_type: str  # image/png, text/plain, ...
    width: int | None
    height: int | None
    marking: str
    metadata: dict[str, Any]
    regions: list[Region]
    read_bytes: Callable[[], bytes]
    authors: list[str] = field(default_factory=list)
    annotation_ids: list[str] = field(default_factory=list)
    number: int = 0  # the item's stable image id in its dataset (1, 2, ...; 0 when unknown)
    # Every stored annotation of the item (all authors, predictions), oldest first; filled
    # only when the export asks for them (`ExportBundle.all_annotations`).
    annotations: list[ExportAnnotation] = field(default_factory=list)


@dataclass
class ExportAnnotation:
    """One stored annotation of an item, for formats with a slot per annotation."""

    id: str
    author: str
    kind: str  # human | model | aggregate | review
    regions: list[Region]
    created: str
    lead_time: float | None = None
    source_id: str | None = None
    of_record: bool = False  # among the annotations behind the labels of record


@dataclass(frozen=True)
class ItemLineage:
    """Where an item came from: the item it was made from (a chip's scene, a frame's video)
    and when it was ingested (imported)."""

    parent: str | None
    ingested: str


@dataclass
class ExportBundle:
    # Any sequence of rows is accepted and kept as a `RowStream` (built a chunk at a time).
    rows: RowStream
    label_names: list[str]  # every class name, stable order
    dataset: str
    revision: str | None  # commit id or None for the working state
    marking: str  # highest marking in the bundle
    copy_media: bool = True
    embed_media: bool = False  # write the media bytes into the label file (`Codec.embeds_media`)
    # Reads the media of many rows at once (in order), when the source can do better than
    # one `read_bytes` per row.
    read_media: Callable[[Sequence[ExportRow]], Iterator[bytes]] | None = None
    # The dataset's stable label map; `classes()` extends it with any label still missing.
    label_map: LabelMap | None = None
    dataset_meta: dict[str, Any] = field(default_factory=dict)  # see `ImportBundle`
    all_annotations: bool = False  # rows carry `annotations` (every author, predictions)
    dropped: Drops = field(default_factory=Drops)  # writers count what they cannot hold
    # Media files written under another name than the item's, so that FAT32, exFAT and NTFS
    # take them (`assay.formats._portable`): nothing is lost, the label files name them.
    renamed: Drops = field(default_factory=Drops)
    options: dict[str, Any] = field(default_factory=dict)  # format options (--min-agreement)
    # What the user must know about the files written (not a loss: a choice the writer made
    # for them); shown on stderr and under `warnings` in --json.
    warnings: list[str] = field(default_factory=list)
    # Told `(done, total)` as media files are written or embedded (`media_contents`).
    progress: Callable[[int, int], None] | None = None
    media_done: int = 0
    # The lineage of the items asked for, read when a writer links items (STAC's
    # `derived_from`); None: not known (a bundle made by hand).
    lineage: Callable[[Sequence[str]], dict[str, ItemLineage]] | None = None

    def __post_init__(self) -> None:
        self.rows = RowStream.of(self.rows)

    def set_rows(self, rows: Sequence[ExportRow]) -> None:
        """Replace the rows (a list or a `RowStream`)."""
        self.rows = RowStream.of(rows)

    def classes(self, kinds: Sequence[str] = CLASS_KINDS) -> LabelMap:
        """Every class a writer may meet: the label map, then `label_names` not in it, then labels
        of `kinds` regions in neither, each appended with the next free id."""
        m = self.label_map if self.label_map is not None else LabelMap()
        m = m.extend(self.label_names)
        known = self.rows.labels
        if known is not None:
            return m.extend(label for label, used in known.items() if used.intersection(kinds))
        used = (
            r.label
            for row in self.rows
            for r in row.regions
            if r.label is not None and r.kind in kinds
        )
        return m.extend(used)

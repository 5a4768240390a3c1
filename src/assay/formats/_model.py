"""What codecs read and write: plain in-process values, independent of the store.

A reader turns files into an `ImportBundle` (media plus labels per media file).
A writer receives an `ExportBundle` (rows of item, media bytes accessor and
labels of record) and writes files into a folder. Codecs never touch the
database; `assay.formats.io` (the service layer) maps bundles to and from
the workspace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.domain.labels import Region


@dataclass
class ImportedAnnotation:
    """One person's or model's labels of one media file, as the source file has them."""

    regions: list[Region]
    author: str = "user:import"
    kind: str = "human"  # human | model
    created: str | None = None  # ISO-8601 when the file says
    lead_time: float | None = None
    source_id: str | None = None  # the id the source tool gave it


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


@dataclass
class ImportBundle:
    media: list[ImportedMedia]
    label_names: list[str] = field(default_factory=list)  # declared classes in file order
    source: Path | None = None


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


@dataclass
class ExportBundle:
    rows: list[ExportRow]
    label_names: list[str]  # every class name, stable order
    dataset: str
    revision: str | None  # commit id or None for the working state
    marking: str  # highest marking in the bundle
    copy_media: bool = True
    # Reads the media of many rows at once (in order), when the source can do better than
    # one `read_bytes` per row.
    read_media: Callable[[Sequence[ExportRow]], Iterator[bytes]] | None = None

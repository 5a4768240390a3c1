"""Frames of a sequence: how the track formats (CVAT for video, MOT) group and order items.

A frame item carries metadata ``sequence`` (its video or sequence name) and ``frame`` (its
0-based index). Frames sampled from an ingested video carry ``frame`` as a mapping
(``index``, ``pts``, ``time_s``): their sequence is the video (its path, else the item name
before ``#``) and their order the decoded frame index. Items without either belong to one
sequence named after the dataset; within a sequence they are ordered by ``frame``, then by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath

from assay.errors import InvalidInput
from assay.formats._export import check_unique, safe_relpath
from assay.formats._media import media_suffix
from assay.formats._model import ExportBundle, ExportRow
from assay.formats._portable import portable_part, portable_paths


def sequences(bundle: ExportBundle, rows: Sequence[ExportRow]) -> dict[str, list[ExportRow]]:
    """Rows grouped by sequence name (first-seen order), each group in frame order."""
    groups: dict[str, list[ExportRow]] = {}
    for row in rows:
        groups.setdefault(_sequence(row) or bundle.dataset, []).append(row)
    for members in groups.values():
        members.sort(key=_frame_key)
    return groups


def folder_names(bundle: ExportBundle, seqs: Sequence[str]) -> list[str]:
    """Each sequence name as one folder name inside the export, portable
    (`assay.formats._portable`; the sequence keeps its name in the format's own file)."""
    names = []
    for seq in seqs:
        name = safe_relpath(seq.replace("/", "_").replace("\\", "_"))
        if name in (".", ""):
            raise InvalidInput(f"sequence name {seq!r} cannot be a folder name")
        names.append(name)
    check_unique(names, "sequence folder")
    fixed = portable_paths(names)
    bundle.renamed.add("sequence folders", sum(a != b for a, b in zip(names, fixed, strict=True)))
    return fixed


def _sequence(row: ExportRow) -> str | None:
    seq = row.metadata.get("sequence")
    if seq:
        return str(seq)
    if isinstance(row.metadata.get("frame"), dict):  # a frame sampled from an ingested video
        return str(row.metadata.get("path") or row.name.split("#")[0])
    return None


def frame_file(i: int, row: ExportRow, width: int = 6) -> str:
    """``NNNNNN.<ext>`` for frame number `i`, with the suffix of the item's name (or its media
    type's, for names like ``flight.ts#t=1.000`` and suffixes not every file system takes)."""
    suffix = PurePosixPath(row.name).suffix
    if isinstance(row.metadata.get("frame"), dict) or not suffix or portable_part(suffix) != suffix:
        suffix = media_suffix(row.media_type) or suffix or ".png"
    return f"{i:0{width}d}{suffix}"


def _frame_key(row: ExportRow) -> tuple[int, str]:
    frame = row.metadata.get("frame")
    if isinstance(frame, int) and not isinstance(frame, bool):
        return (frame, row.name)
    if isinstance(frame, dict) and isinstance(frame.get("index"), int):
        return (frame["index"], row.name)
    return (1 << 62, row.name)

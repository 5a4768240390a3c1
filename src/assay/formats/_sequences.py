"""Frames of a sequence: how the track formats (CVAT for video, MOT) group and order items.

A frame item carries metadata ``sequence`` (its video or sequence name) and ``frame`` (its
0-based index). Items without a ``sequence`` belong to one sequence named after the dataset;
within a sequence they are ordered by ``frame``, then by name.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from assay.errors import InvalidInput
from assay.formats._export import safe_relpath
from assay.formats._model import ExportBundle, ExportRow


def sequences(bundle: ExportBundle, rows: list[ExportRow]) -> dict[str, list[ExportRow]]:
    """Rows grouped by sequence name (first-seen order), each group in frame order."""
    groups: dict[str, list[ExportRow]] = {}
    for row in rows:
        groups.setdefault(str(row.metadata.get("sequence") or bundle.dataset), []).append(row)
    for members in groups.values():
        members.sort(key=_frame_key)
    return groups


def folder_name(seq: str) -> str:
    """A sequence name as one folder name inside the export."""
    name = safe_relpath(seq.replace("/", "_").replace("\\", "_"))
    if name in (".", ""):
        raise InvalidInput(f"sequence name {seq!r} cannot be a folder name")
    return name


def frame_file(i: int, row: ExportRow, width: int = 6) -> str:
    """``NNNNNN.<ext>`` for frame number `i`, with the suffix of the item's name."""
    return f"{i:0{width}d}{PurePosixPath(row.name).suffix or '.png'}"


def _frame_key(row: ExportRow) -> tuple[int, str]:
    frame = row.metadata.get("frame")
    if isinstance(frame, int) and not isinstance(frame, bool):
        return (frame, row.name)
    return (1 << 62, row.name)

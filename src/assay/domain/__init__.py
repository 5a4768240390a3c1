"""Pure models, no I/O.

Names load on first use: paths that only hash and record (ingest, audit, `--version`) never
pay for importing the pydantic label models.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.domain.commit import Commit
    from assay.domain.diff import CHANGE_KINDS, ChangeKind, LabelChange, diff_regions
    from assay.domain.labels import (
        Region,
        RegionKind,
        box_iou,
        canonical_json,
        payload_from_json,
        payload_hash,
        payload_to_json,
    )
    from assay.domain.marking import DEFAULT_LEVELS, Marking, MarkingScheme
    from assay.domain.tracks import Track, TrackShape

_HOMES = {
    "CHANGE_KINDS": "diff",
    "DEFAULT_LEVELS": "marking",
    "ChangeKind": "diff",
    "Commit": "commit",
    "LabelChange": "diff",
    "Marking": "marking",
    "MarkingScheme": "marking",
    "Region": "labels",
    "Track": "tracks",
    "TrackShape": "tracks",
    "RegionKind": "labels",
    "box_iou": "labels",
    "canonical_json": "canonical",
    "diff_regions": "diff",
    "payload_from_json": "labels",
    "payload_hash": "labels",
    "payload_to_json": "labels",
}
__all__ = [
    "CHANGE_KINDS",
    "DEFAULT_LEVELS",
    "ChangeKind",
    "Commit",
    "LabelChange",
    "Marking",
    "MarkingScheme",
    "Region",
    "RegionKind",
    "Track",
    "TrackShape",
    "box_iou",
    "canonical_json",
    "diff_regions",
    "payload_from_json",
    "payload_hash",
    "payload_to_json",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'assay.domain' has no attribute {name!r}")
    return getattr(importlib.import_module(f"assay.domain.{home}"), name)

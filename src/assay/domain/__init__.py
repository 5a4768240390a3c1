"""Pure models, no I/O."""

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
    "box_iou",
    "canonical_json",
    "diff_regions",
    "payload_from_json",
    "payload_hash",
    "payload_to_json",
]

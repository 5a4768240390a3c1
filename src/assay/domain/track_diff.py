"""Label changes seen per track: what happened to each object across a video's frames.

Tracks are stored per frame (see `assay.domain.tracks`), so moving one keyframe changes the
box on every interpolated frame around it, and a diff lists one change per frame. This folds
the changes of regions tagged with a ``track_id`` into one line per (sequence, track): the
frames touched, the change kinds counted, and the keyframes added and removed.

Example:
    >>> from assay.domain.diff import LabelChange
    >>> box = {"kind": "box", "label": "car", "box": (0, 0, 4, 4)}
    >>> a = {**box, "attributes": {"track_id": 2, "keyframe": False}}
    >>> b = {**box, "attributes": {"track_id": 2, "keyframe": True}}
    >>> c = [LabelChange("f7", "attribute_changed", a, b, "user:ana")]
    >>> summarize_tracks(c, {"f7": ("flight.ts", 7)})[0].keyframes_added
    [7]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from assay.domain.diff import LabelChange
from assay.domain.tracks import KEYFRAME, TRACK_ID

__all__ = ["TrackChange", "summarize_tracks"]


@dataclass
class TrackChange:
    """The changes to one track of one sequence between two versions."""

    sequence: str
    track_id: int
    label: str | None
    frames: list[int] = field(default_factory=list)
    changes: Counter[str] = field(default_factory=Counter)
    keyframes_added: list[int] = field(default_factory=list)
    keyframes_removed: list[int] = field(default_factory=list)
    authors: set[str] = field(default_factory=set)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sequence": self.sequence,
            "track_id": self.track_id,
            "label": self.label,
            "frames": sorted(self.frames),
            "changes": dict(sorted(self.changes.items())),
            "keyframes_added": sorted(self.keyframes_added),
            "keyframes_removed": sorted(self.keyframes_removed),
            "authors": sorted(self.authors),
        }


def _track(side: dict[str, Any] | None) -> int | None:
    tid = (side or {}).get("attributes", {}).get(TRACK_ID)
    return tid if isinstance(tid, int) and not isinstance(tid, bool) else None


def _key(side: dict[str, Any] | None) -> bool:
    return bool((side or {}).get("attributes", {}).get(KEYFRAME, True))


def summarize_tracks(
    changes: Sequence[LabelChange], position: Mapping[str, tuple[str, int]]
) -> list[TrackChange]:
    """One `TrackChange` per (sequence, track id) among `changes`.

    Args:
        changes: label changes, as `assay.domain.diff.diff_regions` gives them.
        position: item id -> (sequence name, frame index) of the frame items.
    """
    out: dict[tuple[str, int], TrackChange] = {}
    for c in changes:
        tid = _track(c.after) if c.after is not None else _track(c.before)
        if tid is None or c.item not in position:
            continue
        seq, frame = position[c.item]
        label = (c.after or c.before or {}).get("label")
        t = out.setdefault((seq, tid), TrackChange(seq, tid, label))
        if frame not in t.frames:
            t.frames.append(frame)
        t.changes[c.change] += 1
        if c.author:
            t.authors.add(c.author)
        was = c.before is not None and _key(c.before)
        now = c.after is not None and _key(c.after)
        if now and not was and frame not in t.keyframes_added:
            t.keyframes_added.append(frame)
        elif was and not now and frame not in t.keyframes_removed:
            t.keyframes_removed.append(frame)
    return [out[k] for k in sorted(out)]

"""Tracks: one labelled object followed across the frames of a sequence.

A `Track` holds the shapes an annotator (or a tracker) placed on some frames. A shape is a
*keyframe* when a person set it, or an interpolated position otherwise; an *outside* shape says
the object left the view from that frame on, until the next visible shape. Between two visible
keyframes a box (and a polygon with the same number of points) moves linearly; after the last
visible shape the object stays where it was until an outside shape or the end of the sequence.
This is the model of CVAT's tracks (``<track>`` with ``keyframe`` and ``outside``) and covers
MOT Challenge ground truth (every row a visible shape).

Stored labels stay per frame: each frame item carries its regions, and a region that belongs to
a track says so in two attributes, `TRACK_ID` (an integer) and `KEYFRAME` (a boolean).
`frame_regions` and `tracks_from_frames` convert between the two views.

Example:
    >>> from assay.domain.labels import Region
    >>> a = TrackShape(0, Region(kind="box", label="boat", box=(0, 0, 10, 10)))
    >>> b = TrackShape(4, Region(kind="box", label="boat", box=(8, 0, 10, 10)))
    >>> Track(1, "boat", (a, b)).at(2).box
    (4.0, 0.0, 10.0, 10.0)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from assay.domain.labels import Region

__all__ = [
    "KEYFRAME",
    "TRACK_ID",
    "Interpolation",
    "Track",
    "TrackShape",
    "frame_regions",
    "tracks_from_frames",
]

TRACK_ID = "track_id"
KEYFRAME = "keyframe"
Interpolation = Literal["linear", "none"]


@dataclass(frozen=True)
class TrackShape:
    """The object on one frame: its region (label, geometry, attributes such as ``occluded``)."""

    frame: int
    region: Region
    keyframe: bool = True
    outside: bool = False


@dataclass(frozen=True)
class Track:
    """An object across frames; `shapes` are sorted by frame, at most one per frame."""

    id: int
    label: str
    shapes: tuple[TrackShape, ...]
    interpolation: Interpolation = "linear"

    def __post_init__(self) -> None:
        frames = [s.frame for s in self.shapes]
        if frames != sorted(set(frames)):
            raise ValueError(f"track {self.id}: shapes must have distinct frames in order")

    @property
    def start(self) -> int:
        return self.shapes[0].frame if self.shapes else 0

    def visible_ranges(self, stop: int) -> list[tuple[int, int]]:
        """Half-open ``[first, end)`` ranges of frames before `stop` with the object in view."""
        ranges: list[tuple[int, int]] = []
        begin: int | None = None
        for s in self.shapes:
            if s.frame >= stop:
                break
            if s.outside and begin is not None:
                ranges.append((begin, s.frame))
                begin = None
            elif not s.outside and begin is None:
                begin = s.frame
        if begin is not None:
            ranges.append((begin, stop))
        return ranges

    def outside_ranges(self, stop: int) -> list[tuple[int, int]]:
        """The ``[first, end)`` ranges between the track's start and `stop` out of view."""
        gaps, at = [], self.start
        for begin, end in self.visible_ranges(stop):
            if begin > at:
                gaps.append((at, begin))
            at = end
        if at < stop:
            gaps.append((at, stop))
        return gaps

    def at(self, frame: int) -> Region | None:
        """The object's region on `frame`, interpolated between shapes; None when out of view."""
        before = after = None
        for s in self.shapes:
            if s.frame <= frame:
                before = s
            else:
                after = s
                break
        if before is None or before.outside:
            return None
        if before.frame == frame or after is None or after.outside:
            return before.region
        if self.interpolation == "none":
            return before.region
        t = (frame - before.frame) / (after.frame - before.frame)
        return _lerp(before.region, after.region, t)

    def expand(self, stop: int) -> list[TrackShape]:
        """One visible shape per frame in view before `stop`: the given ones as they are, the
        frames between them interpolated (``keyframe=False``)."""
        given = {s.frame: s for s in self.shapes}
        out: list[TrackShape] = []
        for begin, end in self.visible_ranges(stop):
            for frame in range(begin, end):
                s = given.get(frame)
                if s is not None:
                    out.append(s)
                    continue
                region = self.at(frame)
                if region is not None:
                    out.append(TrackShape(frame, region, keyframe=False))
        return out


def _lerp(a: Region, b: Region, t: float) -> Region:
    if a.box is not None and b.box is not None:
        box = tuple(x + (y - x) * t for x, y in zip(a.box, b.box, strict=True))
        return a.model_copy(update={"box": box})
    if a.points and b.points and len(a.points) == len(b.points):
        pts = tuple(
            (p[0] + (q[0] - p[0]) * t, p[1] + (q[1] - p[1]) * t)
            for p, q in zip(a.points, b.points, strict=True)
        )
        return a.model_copy(update={"points": pts})
    return a  # shapes that cannot be matched point for point hold until the next shape


def frame_regions(tracks: Iterable[Track], stop: int) -> dict[int, list[Region]]:
    """Per-frame regions of `tracks` (every frame in view), each tagged with its track."""
    frames: dict[int, list[Region]] = {}
    for track in tracks:
        for s in track.expand(stop):
            attrs = {**s.region.attributes, TRACK_ID: track.id, KEYFRAME: s.keyframe}
            region = s.region.model_copy(update={"attributes": attrs, "label": track.label})
            frames.setdefault(s.frame, []).append(region)
    return frames


def tracks_from_frames(
    frames: Mapping[int, Sequence[Region]], stop: int
) -> tuple[list[Track], dict[int, list[Region]]]:
    """Group per-frame regions by their track id: the tracks and the regions of no track.

    A track leaves the view (an outside shape) on the first frame after each run of frames it
    is on, unless that is `stop`, the end of the sequence.
    """
    by_track: dict[int, list[TrackShape]] = {}
    labels: dict[int, str] = {}
    loose: dict[int, list[Region]] = {}
    for frame in sorted(frames):
        for r in frames[frame]:
            tid = r.attributes.get(TRACK_ID)
            if not isinstance(tid, int) or isinstance(tid, bool):
                loose.setdefault(frame, []).append(r)
                continue
            attrs = {k: v for k, v in r.attributes.items() if k not in (TRACK_ID, KEYFRAME)}
            key = bool(r.attributes.get(KEYFRAME, True))
            shape = TrackShape(frame, r.model_copy(update={"attributes": attrs}), keyframe=key)
            shapes = by_track.setdefault(tid, [])
            if shapes and shapes[-1].frame == frame:
                raise ValueError(f"track {tid} has two regions on frame {frame}")
            shapes.append(shape)
            labels.setdefault(tid, r.label or "")
    tracks = []
    for tid, shapes in sorted(by_track.items()):
        with_outside: list[TrackShape] = []
        for i, s in enumerate(shapes):
            with_outside.append(s)
            nxt = shapes[i + 1].frame if i + 1 < len(shapes) else stop
            if nxt > s.frame + 1:
                with_outside.append(TrackShape(s.frame + 1, s.region, outside=True))
        tracks.append(Track(tid, labels[tid], tuple(with_outside)))
    return tracks, loose

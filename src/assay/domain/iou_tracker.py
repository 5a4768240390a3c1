"""Link per-frame detections into tracks by box overlap: the pre-labels of a video task.

A greedy IoU tracker (Bochinski, Eiselein and Sikora, "High-Speed Tracking-by-Detection
Without Using Image Information", AVSS 2017): on each frame, the detection pairs (open track's
last box, detection) of the same label are matched in order of falling IoU while IoU is at
least `min_iou`; a matched detection extends its track, an unmatched one starts a new track,
and a track not extended for more than `max_gap` frames is closed. Every detection becomes a
keyframe of its track, so the annotator sees exactly what the model said and corrects it.

Example:
    >>> from assay.domain.labels import Region
    >>> box = lambda x: Region(kind="box", label="boat", box=(x, 0, 10, 10))
    >>> tracks = link_detections({0: [box(0)], 1: [box(2)], 2: [box(50)]})
    >>> [(t.id, [s.frame for s in t.shapes if not s.outside]) for t in tracks]
    [(0, [0, 1]), (1, [2])]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from assay.domain.labels import Region
from assay.domain.tracks import Track, TrackShape

__all__ = ["iou", "link_detections"]


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two ``(x, y, w, h)`` boxes."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = min(ax + aw, bx + bw) - max(ax, bx)
    h = min(ay + ah, by + bh) - max(ay, by)
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / (aw * ah + bw * bh - inter)


@dataclass
class _Open:
    id: int
    label: str
    shapes: list[TrackShape] = field(default_factory=list)

    @property
    def last(self) -> TrackShape:
        return self.shapes[-1]


def link_detections(
    frames: Mapping[int, Sequence[Region]],
    *,
    min_iou: float = 0.3,
    max_gap: int = 1,
    stop: int | None = None,
) -> list[Track]:
    """Tracks from per-frame box detections (other kinds are ignored).

    Args:
        frames: frame index -> the boxes a model found on it.
        min_iou: the least overlap with a track's last box that continues the track.
        max_gap: frames a track may miss and still continue (1: no frame may be missed).
        stop: the number of frames of the sequence; a track that ends before it gets an
            ``outside`` shape on the frame after its last box.

    Returns:
        Tracks numbered from 0 in order of their first detection.
    """
    done: list[_Open] = []
    live: list[_Open] = []
    for frame in sorted(frames):
        dets = [r for r in frames[frame] if r.kind == "box" and r.box is not None]
        still = [t for t in live if frame - t.last.frame <= max_gap]
        done.extend(t for t in live if frame - t.last.frame > max_gap)
        live = still
        pairs = sorted(
            (
                (iou(t.last.region.box or (0, 0, 0, 0), d.box or (0, 0, 0, 0)), ti, di)
                for ti, t in enumerate(live)
                for di, d in enumerate(dets)
                if t.label == (d.label or "")
            ),
            key=lambda p: (-p[0], p[1], p[2]),
        )
        used_t: set[int] = set()
        used_d: set[int] = set()
        for score, ti, di in pairs:
            if score < min_iou:
                break
            if ti in used_t or di in used_d:
                continue
            used_t.add(ti)
            used_d.add(di)
            live[ti].shapes.append(TrackShape(frame, dets[di]))
        for di, d in enumerate(dets):
            if di not in used_d:
                live.append(_Open(-1, d.label or "", [TrackShape(frame, d)]))
    done.extend(live)
    done.sort(key=lambda t: (t.shapes[0].frame, _order(t, frames)))
    tracks = []
    for tid, t in enumerate(done):
        shapes = _with_outside(t.shapes, stop)
        tracks.append(Track(tid, t.label, tuple(shapes)))
    return tracks


def _order(t: _Open, frames: Mapping[int, Sequence[Region]]) -> int:
    first = t.shapes[0]
    return next(i for i, r in enumerate(frames[first.frame]) if r is first.region)


def _with_outside(shapes: list[TrackShape], stop: int | None) -> list[TrackShape]:
    """An outside shape after each run of frames (gaps, and the end before `stop`)."""
    out: list[TrackShape] = []
    for i, s in enumerate(shapes):
        out.append(s)
        nxt = shapes[i + 1].frame if i + 1 < len(shapes) else stop
        if nxt is not None and nxt > s.frame + 1:
            out.append(TrackShape(s.frame + 1, s.region, outside=True))
    return out

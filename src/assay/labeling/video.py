"""Video tasks: the frame tasks of one video in a project, labelled together as tracks.

A project over a video's frames has one task per frame (as for any item). The video view
groups a video's frame tasks in playback order with each frame's telemetry and footprint,
and the annotator draws *tracks* (see `assay.domain.tracks`): keyframes, linear
interpolation or none, outside ranges, attributes per keyframe (those the schema declares
checked and stated on every keyframe, see `assay.domain.attributes`). Saving expands the tracks
into per-frame regions tagged ``track_id``/``keyframe`` and stores one annotation per frame
task: through the ordinary submit path the first time (leasing the frame task to the
annotator if the queue has not), as an edit superseding the annotator's previous answer
afterwards. What is stored is exactly what the CVAT-video and MOT exports read back.

Loading gives back the annotator's own tracks, else the model detections on the frames
linked into tracks by the IoU tracker (`assay.domain.iou_tracker`) as pre-labels.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from assay.domain.iou_tracker import link_detections
from assay.domain.labels import Region, canonical_json, payload_from_json, payload_to_json
from assay.domain.tracks import TRACK_ID, Track, TrackShape, frame_regions, tracks_from_frames
from assay.errors import Conflict, InvalidInput, NotFound
from assay.labeling._access import visible
from assay.labeling._tx import Tx, in_list, write_tx
from assay.labeling.catalog import open_with_markings
from assay.labeling.prelabels import MADE_FOR
from assay.labeling.projects import Project
from assay.labeling.queue import previous, remember, stats_row
from assay.labeling.submit import annotation_id, authored, submit_in
from assay.labeling.users import User
from assay.timeutil import now_iso
from assay.workspace import Workspace

__all__ = [
    "VideoFrame",
    "is_video_project",
    "list_videos",
    "load_video",
    "save_video",
    "tracks_from_json",
]

_FRAMES = (
    "SELECT t.id, i.id, i.width, i.height, i.metadata, i.marking, i.derivation FROM tasks t "
    "JOIN items i ON i.id = t.item_id WHERE t.project_id = :p AND i.parent_id = :v "
    "AND t.is_gold = 0 AND t.marking IN {marks}"
)
_VIDEOS = (
    "SELECT i.parent_id, COUNT(*), v.name FROM tasks t JOIN items i ON i.id = t.item_id "
    "JOIN items v ON v.id = i.parent_id WHERE t.project_id = :p AND t.is_gold = 0 "
    "AND t.marking IN {marks} GROUP BY i.parent_id, v.name ORDER BY v.name"
)
_KIND = (
    "SELECT COUNT(*), SUM(CASE WHEN v.media_type LIKE 'video/%' THEN 1 ELSE 0 END) FROM tasks t "
    "JOIN items i ON i.id = t.item_id LEFT JOIN items v ON v.id = i.parent_id "
    "WHERE t.project_id = :p AND t.is_gold = 0"
)
_MINE = (
    "SELECT a.task_id, a.state, a.annotation_id, n.payload FROM assignments a "
    "LEFT JOIN annotations n ON n.id = a.annotation_id "
    "WHERE a.user_id = :u AND a.project_id = :p AND a.task_id IN {tasks}"
)
_MODEL = (
    f"SELECT item_id, payload FROM annotations WHERE {MADE_FOR} AND item_id IN {{items}} "
    "ORDER BY created"
)
_CLAIM_ONE = (
    "UPDATE tasks SET active = active + 1, "
    "open = CASE WHEN active + 1 < COALESCE(target, :k) THEN 1 ELSE 0 END "
    "WHERE id = :t AND active < COALESCE(target, :k)"
)
_LEASE = (
    "INSERT INTO assignments (task_id, project_id, user_id, state, leased_at, expires) "
    "VALUES (:t, :p, :u, 'leased', :now, :exp) ON CONFLICT (task_id, user_id) DO UPDATE "
    "SET state = 'leased', leased_at = excluded.leased_at, expires = excluded.expires"
)
_EDIT = (
    "INSERT INTO annotations (id, item_id, project, author, kind, payload, created, lead_time, "
    "supersedes, source_id) VALUES (:id, :item, :project, :author, 'human', :payload, "
    ":created, NULL, :prev, :source)"
)
_POINT = "UPDATE assignments SET annotation_id = :ann WHERE task_id = :t AND user_id = :u"


@dataclass(frozen=True)
class VideoFrame:
    """One frame task of a video: its place in the sequence and its georeference."""

    index: int
    task_id: int
    item_id: str
    width: int | None
    height: int | None
    marking: str
    metadata: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        m = self.metadata
        return {
            "index": self.index,
            "task_id": self.task_id,
            "item": self.item_id,
            "media_url": f"/api/v1/items/{self.item_id}/blob",
            "width": self.width,
            "height": self.height,
            "marking": self.marking,
            "frame": m.get("frame") or {},
            "captured_at": m.get("captured_at"),
            "telemetry": m.get("telemetry") or {},
            "footprint": m.get("footprint"),
            "geo": m.get("geo"),
        }


def _open(tx: Tx, ws: Workspace, user: User, project: str) -> tuple[Project, str, dict[str, str]]:
    """The project (NotFound above the user) and an SQL list of the markings they may see,
    read in the transaction that acts on them (markings rise while a server runs)."""
    p, present = open_with_markings(tx, ws, user, project)
    marks, params = in_list("m", sorted(visible(ws.scheme, user, present)) or ["\x00none"])
    return p, marks, params


def list_videos(ws: Workspace, user: User, project: str) -> list[dict[str, Any]]:
    """The videos whose frames are tasks of `project` that `user` may see."""
    user.require("label")
    with write_tx(ws.db) as tx:
        p, marks, params = _open(tx, ws, user, project)
        rows = tx.all(_VIDEOS.format(marks=marks), {"p": p.id, **params})
    return [{"video": r[0], "frames": int(r[1]), "name": r[2]} for r in rows if r[0]]


def is_video_project(tx: Tx, project_id: int) -> bool:
    """True when every task of the project is a frame of a video (labelled as tracks in the
    video view); a project of stills, or of stills and frames, is labelled item by item."""
    total, frames = tx.one(_KIND, {"p": project_id})
    return bool(total) and int(frames or 0) == int(total)


def _frames(
    tx: Tx, ws: Workspace, user: User, project: str, video_id: str
) -> tuple[Project, list[VideoFrame]]:
    p, marks, params = _open(tx, ws, user, project)
    rows = tx.all(_FRAMES.format(marks=marks), {"p": p.id, "v": video_id, **params})
    if not rows:
        raise NotFound(f"no video {video_id[:16]!r} in project {p.name!r}")

    def order(r: Any) -> tuple[float, int]:
        d = json.loads(r[6] or "{}")
        return float(d.get("pts", d.get("time_s", 0)) or 0), int(d.get("frame", 0) or 0)

    rows.sort(key=order)
    return p, [
        VideoFrame(i, int(r[0]), r[1], r[2], r[3], r[5], json.loads(r[4] or "{}"))
        for i, r in enumerate(rows)
    ]


def _interpolation(keys: Track, stored: list[TrackShape]) -> Track:
    """Linear if the stored in-between shapes are the linear ones, else none."""
    for s in stored:
        if s.keyframe or s.outside:
            continue
        want = keys.at(s.frame)
        if want is None or want.box != s.region.box or want.points != s.region.points:
            return Track(keys.id, keys.label, keys.shapes, "none")
    return keys


def _tracks_json(tracks: list[Track]) -> list[dict[str, Any]]:
    out = []
    for t in tracks:
        keys = tuple(s for s in t.shapes if s.keyframe or s.outside)
        shown = _interpolation(Track(t.id, t.label, keys), list(t.shapes))
        out.append(
            {
                "id": t.id,
                "label": t.label,
                "interpolation": shown.interpolation,
                "shapes": [
                    {
                        "frame": s.frame,
                        "outside": s.outside,
                        "control": s.region.control,
                        "box": list(s.region.box) if s.region.box else None,
                        "attributes": s.region.attributes,
                    }
                    for s in keys
                ],
            }
        )
    return out


def load_video(ws: Workspace, user: User, project: str, video_id: str) -> dict[str, Any]:
    """The video's frames in order, and the tracks to show: the user's own, else pre-labels."""
    user.require("label")
    with write_tx(ws.db) as tx:
        p, frames = _frames(tx, ws, user, project, video_id)
        by_task = {f.task_id: f for f in frames}
        tlist, tparams = in_list("t", [str(t) for t in by_task])
        mine = tx.all(_MINE.format(tasks=tlist), {"u": user.id, "p": p.id, **tparams})
        ilist, iparams = in_list("i", [f.item_id for f in frames])
        model = tx.all(_MODEL.format(items=ilist), {"p": p.name, **iparams})
    n = len(frames)
    saved = {
        by_task[int(r[0])].index: payload_from_json(r[3])
        for r in mine
        if r[1] == "submitted" and r[3] is not None
    }
    source = "saved" if saved else "empty"
    if saved:
        tracks, loose = tracks_from_frames(saved, n)
    else:
        index = {f.item_id: f.index for f in frames}
        detections: dict[int, list[Region]] = {}
        for item_id, payload in model:  # the newest model answer per frame wins
            detections[index[item_id]] = payload_from_json(payload)
        tracks, loose = link_detections(detections, stop=n), {}
        source = "prelabels" if tracks else "empty"
    return {
        "project": p.name,
        "video": video_id,
        "frames": [f.to_dict() for f in frames],
        "tracks": _tracks_json(tracks),
        "loose": {str(k): [r.model_dump(exclude_none=True) for r in v] for k, v in loose.items()},
        "source": source,
        "submitted": sum(1 for r in mine if r[1] == "submitted"),
    }


def tracks_from_json(raw: list[dict[str, Any]]) -> list[Track]:
    """Tracks from the video view's JSON (`id`, `label`, `interpolation`, `shapes`).

    Raises:
        InvalidInput: naming the track and field that is wrong.
    """
    tracks: list[Track] = []
    for i, t in enumerate(raw):
        where = f"tracks[{i}]"
        try:
            tid, label = int(t["id"]), str(t["label"])
            interp = t.get("interpolation", "linear")
            if interp not in ("linear", "none"):
                raise InvalidInput(f"{where}.interpolation: use linear or none, not {interp!r}")
            shapes = []
            for j, s in enumerate(t["shapes"]):
                box = s.get("box")
                numbers = isinstance(box, list) and len(box) == 4
                if numbers and not all(isinstance(v, int | float) for v in box):
                    numbers = False
                if not s.get("outside") and not numbers:
                    raise InvalidInput(f"{where}.shapes[{j}].box: four numbers x, y, w, h")
                region = Region(
                    kind="box",
                    control=str(s.get("control") or "label"),
                    label=label,
                    box=tuple(float(v) for v in box) if box else (0.0, 0.0, 0.0, 0.0),
                    attributes=dict(s.get("attributes") or {}),
                )
                shapes.append(TrackShape(int(s["frame"]), region, outside=bool(s.get("outside"))))
            shapes.sort(key=lambda s: s.frame)
            tracks.append(Track(tid, label, tuple(shapes), interp))
        except KeyError as exc:
            raise InvalidInput(f"{_field(where, t, exc)}: missing") from None
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"{where}: {exc}") from None
    ids = [t.id for t in tracks]
    if len(set(ids)) != len(ids):
        raise InvalidInput("tracks: two tracks share one id")
    return tracks


def _field(where: str, track: Any, exc: KeyError) -> str:
    """`tracks[i].KEY`, or `tracks[i].shapes[j].KEY` for the first shape that lacks it."""
    key = str(exc.args[0]) if exc.args else "?"
    if isinstance(track, dict) and key in ("id", "label", "shapes") and key not in track:
        return f"{where}.{key}"
    shapes = track.get("shapes") if isinstance(track, dict) else None
    for j, shape in enumerate(shapes if isinstance(shapes, list) else []):
        if isinstance(shape, dict) and key not in shape:
            return f"{where}.shapes[{j}].{key}"
    return f"{where}.{key}"


_REGION = re.compile(r"^regions\[(\d+)\](?: \([^)]*\))?: ")


@contextmanager
def _naming_the_track(regions: list[Region], frame: int) -> Iterator[None]:
    """Re-raise a region's InvalidInput (`regions[3]: ...`) as `track 5 (boat), frame 12: ...`:
    the annotator drew tracks, not a frame's region list."""
    try:
        yield
    except InvalidInput as exc:
        text = str(exc)
        m = _REGION.match(text)
        if m is None or int(m.group(1)) >= len(regions):
            raise InvalidInput(f"frame {frame}: {text}") from None
        r = regions[int(m.group(1))]
        track = (r.attributes or {}).get(TRACK_ID)
        raise InvalidInput(f"track {track} ({r.label}), frame {frame}: {text[m.end() :]}") from None


def save_video(
    ws: Workspace,
    user: User,
    project: str,
    video_id: str,
    client_id: str,
    tracks: list[Track],
) -> dict[str, Any]:
    """Store the tracks as one annotation per frame task, in one transaction.

    A frame the annotator has not answered yet is leased to them (if not already) and
    submitted as usual; an answered frame whose regions changed gets an edit that
    supersedes the previous answer. A retry with the same `client_id` changes nothing.
    """
    user.require("label")
    now = time.time()
    with write_tx(ws.db) as tx:
        first = previous(tx, client_id, user, "video")
        if first is not None:
            return {**first, "duplicate": True}
        p, frames = _frames(tx, ws, user, project, video_id)
        n = len(frames)
        for t in tracks:
            for s in t.shapes:
                if not 0 <= s.frame < n:
                    raise InvalidInput(f"track {t.id}: frame {s.frame} outside 0..{n - 1}")
        tracks = p.schema.complete_tracks(tracks)
        per_frame = frame_regions(tracks, n)
        tlist, tparams = in_list("t", [str(f.task_id) for f in frames])
        mine = {
            int(r[0]): (r[1], r[2], r[3])
            for r in tx.all(_MINE.format(tasks=tlist), {"u": user.id, "p": p.id, **tparams})
        }
        stats_row(tx, p.id, user.id)
        submitted = edited = 0
        for f in frames:
            regions = per_frame.get(f.index, [])
            with _naming_the_track(regions, f.index):
                p.schema.check_regions(regions)
            state, prev_id, prev_payload = mine.get(f.task_id, (None, None, None))
            cid = f"{client_id}:{f.index}"
            if state == "submitted":
                final = authored(regions, user.actor)
                if prev_payload is not None and _same(prev_payload, final):
                    continue
                ann = annotation_id(user, cid)
                tx.run(
                    _EDIT,
                    {
                        "id": ann,
                        "item": f.item_id,
                        "project": p.name,
                        "author": user.actor,
                        "payload": payload_to_json(final),
                        "created": now_iso(),
                        "prev": prev_id,
                        "source": f"client:{cid}",
                    },
                )
                tx.run(_POINT, {"ann": ann, "t": f.task_id, "u": user.id})
                edited += 1
                continue
            if state != "leased":
                if not tx.run(_CLAIM_ONE, {"t": f.task_id, "k": p.workflow.overlap}):
                    raise Conflict(f"frame {f.index} of the video went to other annotators")
                lease = {"t": f.task_id, "p": p.id, "u": user.id, "now": now, "exp": now + 3600}
                tx.run(_LEASE, lease)
            with _naming_the_track(regions, f.index):
                submit_in(tx, ws, user, f.task_id, cid, regions, None, False)
            submitted += 1
        result = {
            "frames": n,
            "submitted": submitted,
            "edited": edited,
            "tracks": len(tracks),
            "duplicate": False,
        }
        remember(tx, client_id, user, frames[0].task_id, "video", result)
        details = {"project": p.name, "tracks": len(tracks), "submitted": submitted}
        tx.audit(user.actor, "video.save", f"item:{video_id}", {**details, "edited": edited})
        return result


def _same(payload: str, regions: list[Region]) -> bool:
    old = [r.content_key() for r in payload_from_json(payload)]
    return canonical_json(old) == canonical_json([r.content_key() for r in regions])

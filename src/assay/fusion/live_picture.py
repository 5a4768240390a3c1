"""The live picture: each track's entity kept as the tracker steps, not rebuilt per version.

`assay fuse` builds its entities once, from each track's whole history (`fuse.to_entities`).
`assay fuse --follow` saves a version every few scans, and rebuilding every entity from its
track's history each time costs more the longer the tracks run (every detection's provenance
merged again, every state turned into a track point again). `LivePicture` instead reads only
the states each track gained since the last scan: their detections go into the track's
`Tally` (provenance, confidence terms, markings, sensors) and each state becomes its track
point once. An entity whose track gained nothing, whose status and report mentions are the
same, is the same object as in the last version. The entities are the ones `to_entities` makes
of the same tracker (tests/fusion/test_live_picture.py checks it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from assay.domain.canonical import canonical_json
from assay.domain.entity import Entity, TrackPoint
from assay.fusion.fuse import Tally, place_mentions, thinned, track_entity, track_point
from assay.fusion.sources import Mention
from assay.fusion.tracker import Fuser, Params, TrackResult, update_type

if TYPE_CHECKING:
    from assay.workspace import Workspace

__all__ = ["LivePicture"]


@dataclass
class _Book:
    """One track as far as it was read: its result so far, tally and track points."""

    result: TrackResult
    tally: Tally = field(default_factory=Tally)
    points: list[TrackPoint] = field(default_factory=list)
    point_texts: list[str] = field(default_factory=list)  # each point's canonical JSON
    seen: int = 0  # the track's states read
    stamp: tuple[Any, ...] = ()
    entity: Entity | None = None
    text: str = ""  # the entity's canonical JSON


class LivePicture:
    """The entities of a `Fuser`'s tracks, brought up to date after each `Fuser.update`."""

    def __init__(self, fuser: Fuser) -> None:
        self.fuser = fuser
        self.books: dict[int, _Book] = {}  # id(track) -> its book (the fuser keeps the tracks)
        self.deleted_read = 0

    def absorb(self) -> None:
        """Read what the tracks gained in the scans stepped since the last call."""
        fuser = self.fuser
        update = update_type(fuser.engine)
        plane = fuser.plane
        if plane is None:
            return
        gone = fuser._deleted[self.deleted_read :]
        self.deleted_read = len(fuser._deleted)
        tracks = [(t, False) for tr in fuser.trackers.values() for t in tr.tracks]
        for track, deleted in [*tracks, *((t, True) for t in gone)]:
            book = self.books.get(id(track))
            if book is None:
                label = fuser._labels[id(track)]
                r = TrackResult(fuser.key(track), label, [], [], float("inf"), float("-inf"))
                book = self.books[id(track)] = _Book(r)
            r = book.result
            r.deleted = deleted
            states = track.states
            for s in states[book.seen :]:
                st = (
                    s.timestamp.timestamp(),
                    np.asarray(s.state_vector, float).ravel(),
                    np.asarray(s.covar, float),
                )
                r.states.append(st)
                point = track_point(st, plane)
                book.points.append(point)
                book.point_texts.append(canonical_json(point.model_dump(mode="json")))
                if isinstance(s, update):
                    m = s.hypothesis.measurement
                    for o in m.metadata["cluster"].members:
                        r.members.append(o)
                        book.tally.add(o)
                    t = m.timestamp.timestamp()
                    r.first, r.last_update = min(r.first, t), max(r.last_update, t)
            book.seen = len(states)

    def entities(
        self, ws: Workspace, mentions: Sequence[Mention], params: Params, end: float
    ) -> tuple[list[Entity], dict[str, str]]:
        """The picture now: `fuse.to_entities` of the same tracks and mentions; and each
        entity's canonical JSON by id (for `pictures.save`)."""
        plane = self.fuser.plane
        books = sorted(
            (b for b in self.books.values() if b.result.members), key=lambda b: b.result.key
        )
        by_key = {b.result.key: b for b in books}

        def entity_of(r: TrackResult, reports: list[Mention]) -> Entity:
            assert plane is not None
            book = by_key[r.key]
            lost = r.deleted or end - r.last_update > params.lost_after_s
            stamp = (book.seen, lost, tuple(m.id for m in reports))
            if book.entity is None or book.stamp != stamp:
                e = track_entity(ws, r, book.tally, book.points, reports, plane, params, end)
                book.entity, book.stamp = e, stamp
                book.text = entity_text(e, "[" + ",".join(thinned(book.point_texts)) + "]")
            return book.entity

        found, _ = place_mentions(ws, [b.result for b in books], plane, mentions, entity_of)
        texts = {b.result.key: b.text for b in books}
        for e in found:
            if e.id not in texts:  # a report resolved onto no track: an entity of its own
                texts[e.id] = canonical_json(e.model_dump(mode="json"))
        return found, texts


def entity_text(e: Entity, track: str) -> str:
    """The canonical JSON of `e`, whose track's canonical JSON is `track` (kept point by
    point: the track is most of an entity's text)."""
    rest = canonical_json({**e.model_dump(mode="json", exclude={"track"}), "track": 0})
    # Inside a JSON string a quote is escaped: this can only be the key.
    before, _, after = rest.rpartition('"track":0')
    return before + '"track":' + track + after

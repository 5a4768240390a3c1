"""What a reader at a clearance sees of a picture: GeoJSON, Lattice-shaped JSON, CoT, one
entity with its provenance (frames with their boxes, models, commits), and the live stream of
server-sent events behind the map.

A picture none of whose entities the reader may see answers as a missing one; an entity above
the reader answers as a missing entity.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

from sqlalchemy import select

from assay.domain.entity import Entity, Picture
from assay.domain.labels import payload_from_json
from assay.errors import InvalidInput, NotFound
from assay.feeds.cot import entity_event
from assay.feeds.publish import Feed, QueueSink, Subscription, visible
from assay.feeds.shapes import entity_feature, lattice_entity
from assay.fusion import pictures
from assay.store.schema import annotations_table, items

if TYPE_CHECKING:
    from assay.domain.marking import Marking
    from assay.workspace import Workspace

__all__ = [
    "cot_document",
    "entity_detail",
    "feature_collection",
    "lattice_collection",
    "sse_stream",
    "visible_picture",
]


def visible_picture(ws: Workspace, clearance: Marking, spec: str) -> tuple[Picture, list[Entity]]:
    """The version `spec` names and the entities `clearance` allows.

    Raises:
        NotFound: no such picture, or none of its entities is for this reader (one message).
    """
    name = spec.partition("@")[0]
    try:
        pic = pictures.load(ws, spec)
    except (NotFound, InvalidInput):
        raise NotFound(f"no picture named {name!r}") from None
    found = pictures.entities(ws, pic)
    mine = visible(ws.scheme, clearance, found)
    if found and not mine:
        raise NotFound(f"no picture named {name!r}")
    return pic, mine


def _marking(ws: Workspace, found: list[Entity]) -> str:
    return ws.scheme.highest_text(e.marking for e in found) if found else ws.scheme.levels[0]


def feature_collection(ws: Workspace, clearance: Marking, spec: str) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of the entities, with the picture's version and the
    highest marking of what is in it."""
    pic, mine = visible_picture(ws, clearance, spec)
    return {
        "type": "FeatureCollection",
        "picture": pic.name,
        "version": pic.seq,
        "marking": _marking(ws, mine),
        "features": [entity_feature(e) for e in mine],
    }


def lattice_collection(ws: Workspace, clearance: Marking, spec: str) -> dict[str, Any]:
    pic, mine = visible_picture(ws, clearance, spec)
    return {
        "picture": pic.name,
        "version": pic.seq,
        "marking": _marking(ws, mine),
        "entities": [lattice_entity(e, picture=pic.name) for e in mine],
    }


def cot_document(ws: Workspace, clearance: Marking, spec: str) -> bytes:
    """The entities as CoT events inside one ``<events>`` element."""
    pic, mine = visible_picture(ws, clearance, spec)
    root = ET.Element("events", {"picture": pic.name, "marking": _marking(ws, mine)})
    for e in mine:
        root.append(ET.fromstring(entity_event(e, picture=pic.name)))
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def entity_detail(ws: Workspace, clearance: Marking, spec: str, entity_id: str) -> dict[str, Any]:
    """One entity: its feature, its Lattice shape, and its provenance opened up — the frames
    (the reader may see) with the boxes of the annotations it rests on.

    Raises:
        NotFound: no such entity, or one above the reader (one message).
    """
    pic, mine = visible_picture(ws, clearance, spec)
    found = next((e for e in mine if e.id == entity_id), None)
    if found is None:
        raise NotFound(f"no entity {entity_id!r} in picture {pic.name!r}")
    prov = found.provenance
    frames: dict[str, dict[str, Any]] = {}
    with ws.db.read() as conn:
        rows = conn.execute(
            select(items.c.id, items.c.name, items.c.marking, items.c.width, items.c.height).where(
                items.c.id.in_(prov.items)
            )
        ).all()
        for r in rows:
            if ws.scheme.allows(clearance, ws.scheme.parse(r.marking)):
                frames[r.id] = {
                    "item": r.id,
                    "name": r.name,
                    "marking": r.marking,
                    "width": r.width,
                    "height": r.height,
                    "blob": f"/api/v1/items/{r.id}/blob",
                    "regions": [],
                }
        anns = conn.execute(
            select(
                annotations_table.c.id,
                annotations_table.c.item_id,
                annotations_table.c.author,
                annotations_table.c.payload,
            ).where(annotations_table.c.id.in_(prov.annotations))
        ).all()
    for a in anns:
        if a.item_id in frames:
            frames[a.item_id]["regions"].extend(
                {**r.model_dump(mode="json"), "annotation": a.id, "author": a.author}
                for r in payload_from_json(a.payload)
            )
    return {
        "picture": pic.name,
        "version": pic.seq,
        "marking": found.marking or ws.scheme.levels[0],
        "feature": entity_feature(found),
        "lattice": lattice_entity(found, picture=pic.name),
        "provenance": prov.model_dump(mode="json"),
        "frames": [frames[i] for i in sorted(frames)],
    }


async def sse_stream(
    ws: Workspace,
    clearance: Marking,
    name: str,
    *,
    interval: float = 1.0,
    seconds: float | None = None,
) -> AsyncIterator[str]:
    """Server-sent events of picture `name` at `clearance`: first every entity the reader
    may see (``upsert``, a GeoJSON feature each), then what changed with every new version
    (``upsert`` and ``remove``), each version closed by a ``version`` event with its number,
    the highest marking of what the reader got, and the workspace's levels in order. Ends
    after `seconds` (the browser's EventSource reconnects and refreshes)."""
    sink = QueueSink()
    feed = Feed(name, ws.scheme, [Subscription(sink, clearance)])
    last: tuple[str, list[tuple[str, str]]] | None = None
    marks = 0  # the audit event the markings were last looked at from
    loop = asyncio.get_running_loop()
    started = loop.time()
    yield "retry: 1000\n\n"
    while True:
        # A cheap look first (the newest version's id, whether any marking moved since the
        # last look); the entities are read only when either says something changed. The
        # markings are asked before the entities are read: a move in between is seen next time.
        newest, moved, marks = await asyncio.to_thread(_look, ws, name, marks)
        if last is None or newest != last[0] or moved:
            pic, mine = await asyncio.to_thread(visible_picture, ws, clearance, name)
            # A new version, or a marking risen under this one (an entity's item raised since).
            seen = (pic.id, [(e.id, e.marking) for e in mine])
            if seen != last:
                last = seen
                await feed.publish(mine)
                while not sink.queue.empty():
                    for u in sink.queue.get_nowait():
                        if u.kind == "upsert" and u.entity is not None:
                            data = json.dumps(entity_feature(u.entity), separators=(",", ":"))
                            yield f"id: {pic.seq}\nevent: upsert\ndata: {data}\n\n"
                        else:
                            data = json.dumps({"id": u.entity_id})
                            yield f"id: {pic.seq}\nevent: remove\ndata: {data}\n\n"
                info = {
                    "version": pic.seq,
                    "marking": _marking(ws, mine),
                    "entities": len(mine),
                    "levels": list(ws.scheme.levels),
                }
                yield f"id: {pic.seq}\nevent: version\ndata: {json.dumps(info)}\n\n"
        if seconds is not None and loop.time() - started >= seconds:
            return
        await asyncio.sleep(interval)


def _look(ws: Workspace, name: str, marks: int) -> tuple[str, bool, int]:
    """The id of picture `name`'s newest version, whether an item's marking moved after audit
    event `marks`, and the event to ask from next (a few rows read, no entity)."""
    moved, marks = pictures.markings_moved(ws, marks)
    return pictures.head(ws, name).id, moved, marks

"""Pictures: named, versioned sets of fused entities, saved and read like dataset commits.

A version is content-identified (`Picture.id` hashes its header, which names the entities
blob), points to its parent, and is never changed. `NAME` means the newest version;
`NAME@REV` takes a version number (`NAME@3`), `HEAD`, `HEAD~N` or an id prefix (4+ hex).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING

from pydantic import TypeAdapter
from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Row

from assay import audit
from assay.domain.canonical import canonical_json
from assay.domain.entity import Entity, EntityChange, Picture, diff_entities
from assay.errors import Conflict, InvalidInput, NotFound
from assay.markings import moved_since
from assay.store._sql import select_in
from assay.store.schema import datasets, items, picture_versions
from assay.timeutil import now_iso

if TYPE_CHECKING:
    from assay.domain.marking import Marking
    from assay.workspace import Workspace

__all__ = [
    "diff_pictures",
    "entities",
    "entities_and_texts",
    "head",
    "is_picture",
    "load",
    "log",
    "marked_now",
    "markings_moved",
    "save",
    "visible_entities",
]

_HEAD_N = re.compile(r"^HEAD(?:~(\d+))?$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def save(
    ws: Workspace,
    name: str,
    found: Sequence[Entity],
    *,
    message: str,
    sources: Sequence[str] = (),
    stats: dict[str, int | float] | None = None,
    texts: Mapping[str, str] | None = None,
) -> Picture:
    """Save `found` as the next version of picture `name` (one transaction, one audit event).

    The version's marking is the highest of its entities' markings. `texts`: the canonical
    JSON of each entity by id (`entity_text`), when the caller keeps them (`assay fuse
    --follow` does, track by track); else made here.

    Raises:
        InvalidInput: a bad picture name, or two entities with one id.
        Conflict: a dataset already has that name (pictures and datasets share `assay log`).
    """
    if not _NAME.match(name):
        raise InvalidInput(
            f"bad picture name {name!r}: use letters, digits, '.', '_' and '-' (200 at most)"
        )
    ids = Counter(e.id for e in found)
    twice = [i for i, n in ids.items() if n > 1]
    if twice:
        raise InvalidInput(f"picture {name!r}: entity id {twice[0]!r} appears twice")
    ordered = sorted(found, key=lambda e: e.id)
    if texts is None:
        body = canonical_json([e.model_dump(mode="json") for e in ordered]).encode()
    else:  # the canonical JSON of a list: its items' canonical JSON, joined by ","
        body = ("[" + ",".join(texts[e.id] for e in ordered) + "]").encode()
    marking = ws.scheme.highest_text(e.marking for e in ordered) if ordered else ""
    counts = Counter(e.status for e in ordered)
    all_stats: dict[str, int | float] = {
        "entities": len(ordered),
        **{f"status_{k}": counts.get(k, 0) for k in ("new", "confirmed", "lost")},
        **(stats or {}),
    }
    blob = ws.blobs.put_bytes(body)
    with ws.db.begin() as conn:
        # Two saves of one picture at once queue here (PostgreSQL's read committed let both
        # read the same head; SQLite's write lock orders them already).
        audit.lock_trail(conn)
        if conn.execute(select(datasets.c.id).where(datasets.c.name == name)).first():
            raise Conflict(f"{name!r} is a dataset; give the picture another name")
        head = _head(conn, name)
        header: dict[str, object] = {
            "name": name,
            "seq": (head.seq if head else 0) + 1,
            "parent": head.id if head else None,
            "created": now_iso(),
            "author": ws.actor,
            "message": message,
            "entities_blob": blob,
            "stats": all_stats,
            "marking": marking,
            "sources": list(sources),
        }
        pic = Picture(id=Picture.make_id(header), **header)
        conn.execute(
            picture_versions.insert().values(
                id=pic.id,
                picture=name,
                seq=pic.seq,
                parent=pic.parent,
                created=pic.created,
                author=pic.author,
                message=message,
                entities_blob=blob,
                stats=canonical_json(all_stats),
                marking=marking,
                sources=canonical_json(list(sources)),
            )
        )
        audit.append(
            conn,
            ws.actor,
            "picture.save",
            f"picture:{name}@{pic.seq}",
            {"id": pic.id, "entities": len(ordered), "marking": marking, "sources": list(sources)},
        )
    from assay.fusion.notify import announce

    announce(ws.root, name)  # a following `assay feed` publishes it now, not at its next look
    return pic


def head(ws: Workspace, name: str) -> Picture:
    """The newest version of picture `name` (one row read, however long its history).

    Raises:
        NotFound: no picture has that name.
    """
    with ws.db.read() as conn:
        top = _head(conn, name)
    if top is None:
        raise NotFound(f"no picture named {name!r}; make one with `assay fuse {name} --from ...`")
    return top


def is_picture(ws: Workspace, name: str) -> bool:
    with ws.db.read() as conn:
        row = conn.execute(
            select(picture_versions.c.id).where(picture_versions.c.picture == name).limit(1)
        ).first()
    return row is not None


def log(ws: Workspace, name: str) -> list[Picture]:
    """The versions of picture `name`, newest first.

    Raises:
        NotFound: no picture has that name.
    """
    with ws.db.read() as conn:
        rows = conn.execute(
            select(picture_versions)
            .where(picture_versions.c.picture == name)
            .order_by(picture_versions.c.seq.desc())
        ).all()
    if not rows:
        raise NotFound(f"no picture named {name!r}; make one with `assay fuse {name} --from ...`")
    return [_picture(r) for r in rows]


def load(ws: Workspace, spec: str) -> Picture:
    """Resolve `NAME[@REV]` to a version.

    Raises:
        NotFound: no such picture or version.
        InvalidInput: an ambiguous id prefix or an empty revision.
    """
    name, sep, rev = spec.partition("@")
    if sep and not rev:
        raise InvalidInput(f"bad picture revision {spec!r}: nothing after '@'")
    chain = log(ws, name)
    if not rev or rev == "HEAD":
        return chain[0]
    m = _HEAD_N.match(rev)
    if m:
        steps = int(m.group(1) or 0)
        if steps >= len(chain):
            raise NotFound(f"{spec}: picture {name!r} has only {len(chain)} version(s)")
        return chain[steps]
    if rev.isdigit() and len(rev) < 4:
        for p in chain:
            if p.seq == int(rev):
                return p
        raise NotFound(f"{spec}: picture {name!r} has versions 1 to {len(chain)}")
    found = [p for p in chain if p.id.startswith(rev.lower())]
    if len(rev) < 4 or not found:
        raise NotFound(f"{spec}: no version number or id prefix (4+ hex digits) matches")
    if len(found) > 1:
        raise InvalidInput(f"{spec}: ambiguous, matches {len(found)} versions; use more digits")
    return found[0]


def entities(ws: Workspace, pic: Picture) -> list[Entity]:
    """The entities of a version, in id order (read from the blob store), each marked at
    least as high as the items it rests on are marked now (`_marked_now`)."""
    found = _entity_list().validate_json(ws.blobs.get_bytes(pic.entities_blob))
    return [e for e, _ in _marked_now(ws, [(e, b"") for e in found])]


def entities_and_texts(
    ws: Workspace, pic: Picture, *, tracks: bool = True
) -> list[tuple[Entity, bytes]]:
    """The entities of a version, each with its stored JSON text (what `assay feed`
    fingerprints: the canonical JSON of the entity, as `save` wrote it). Without `tracks`
    the entities' tracks are left empty, unread (most of a live picture's text and of the
    time it takes to read)."""
    import msgspec

    data = ws.blobs.get_bytes(pic.entities_blob)
    texts = [bytes(t) for t in msgspec.json.decode(data, type=list[msgspec.Raw])]
    if tracks:
        found = _entity_list().validate_json(data)
    else:
        rows = msgspec.json.decode(data)
        found = [Entity.model_validate({**row, "track": ()}) for row in rows]
    return _marked_now(ws, list(zip(found, texts, strict=True)))


def markings_moved(ws: Workspace, since: int) -> tuple[bool, int]:
    """Whether an item's marking moved after audit event `since`, and the newest event's
    number to ask from next (0 at first: nothing moved before anyone looked)."""
    with ws.db.read() as conn:
        head, moved = moved_since(conn, since)
    return bool(moved), head


def marked_now(ws: Workspace, pic: Picture, found: Sequence[Entity]) -> Picture:
    """`pic` with its marking raised to its entities' (`entities` gives them as marked now)."""
    high = ws.scheme.highest(ws.scheme.parse(t) for t in [pic.marking, *(e.marking for e in found)])
    if high == ws.scheme.parse(pic.marking):
        return pic
    return pic.model_copy(update={"marking": ws.scheme.render(high)})


def _marked_now(ws: Workspace, rows: list[tuple[Entity, bytes]]) -> list[tuple[Entity, bytes]]:
    """Each entity (with its stored text) marked the higher of its stored marking and the
    markings its items (frames, chips, reports) have now.

    A version is never changed, but an item's marking may rise after it was fused
    (`assay.markings`): what was derived from the item rises with it, at once, for every
    reader. A risen entity's text is made anew, so a feed sends its new marking.
    """
    ids = sorted({i for e, _ in rows for i in e.provenance.items})
    if not ids:
        return rows
    with ws.db.read() as conn:
        now = dict(select_in(conn, [items.c.id, items.c.marking], items.c.id, ids))
    out = []
    for e, text in rows:
        was = ws.scheme.parse(e.marking)
        high = ws.scheme.highest(
            [was, *(ws.scheme.parse(now[i]) for i in e.provenance.items if i in now)]
        )
        if high != was:
            e = e.model_copy(update={"marking": ws.scheme.render(high)})
            text = canonical_json(e.model_dump(mode="json")).encode()
        out.append((e, text))
    return out


@cache
def _entity_list() -> TypeAdapter[list[Entity]]:
    return TypeAdapter(list[Entity])  # JSON validated as it is parsed: no dicts in between


def visible_entities(ws: Workspace, found: Sequence[Entity], clearance: Marking) -> list[Entity]:
    """The entities a holder of `clearance` may see (need-to-know: the rest are not there)."""
    return [e for e in found if ws.scheme.allows(clearance, ws.scheme.parse(e.marking))]


def diff_pictures(
    ws: Workspace, spec_a: str, spec_b: str
) -> tuple[Picture, Picture, list[EntityChange]]:
    """Entities appeared, moved, lost and reclassified from `spec_a` to `spec_b`.

    A bare `spec_b` of the form `@REV` reads the same picture as `spec_a`."""
    a = load(ws, spec_a)
    b = load(ws, a.name + spec_b if spec_b.startswith("@") else spec_b)
    return a, b, diff_entities(entities(ws, a), entities(ws, b))


def _head(conn: Connection, name: str) -> Picture | None:
    top = conn.execute(
        select(func.max(picture_versions.c.seq)).where(picture_versions.c.picture == name)
    ).scalar()
    if top is None:
        return None
    row = conn.execute(
        select(picture_versions).where(
            picture_versions.c.picture == name, picture_versions.c.seq == top
        )
    ).one()
    return _picture(row)


def _picture(r: Row[tuple[object, ...]]) -> Picture:
    m = r._mapping
    return Picture(
        id=m["id"],
        name=m["picture"],
        seq=m["seq"],
        parent=m["parent"],
        created=m["created"],
        author=m["author"],
        message=m["message"],
        entities_blob=m["entities_blob"],
        stats=json.loads(m["stats"]),
        marking=m["marking"],
        sources=tuple(json.loads(m["sources"])),
    )

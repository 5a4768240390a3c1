"""The feed: entity updates, filtered by each subscription's clearance, sent to its sink.

A `Feed` holds subscriptions; each pairs a `Sink` (CoT over TCP or UDP, NATS JetStream, a
server-sent-events queue) with a clearance. `Feed.publish(entities)` sends every subscription
the entities it may see that changed since it last sent them (an upsert), and a removal for
each entity it had been sent that it may no longer see (gone from the picture, or its marking
rose above the clearance). What a subscription has been sent is a fingerprint per entity id;
a sink that cannot say what its peer holds (a CoT socket that reconnected) answers `None` to
`held()`, and the feed sends it everything it may see: a full refresh. A NATS sink reads the
fingerprints back from its stream, so a restarted feed sends only what is missing.

Need-to-know is decided per entity: every field of an entity (position, track, sensors,
provenance) derives from its sources, and its marking is the highest of theirs, so an entity
a clearance allows carries no field above it.

Example:
    >>> import asyncio
    >>> from assay.domain.entity import Entity
    >>> from assay.domain.marking import MarkingScheme
    >>> scheme = MarkingScheme.default()
    >>> sink = QueueSink()
    >>> feed = Feed("flood", scheme, [Subscription(sink, scheme.parse("CUI"))])
    >>> e = dict(label="boat", lon=-95.3, lat=29.7, first_seen="2026-07-25T17:20:00Z",
    ...          last_seen="2026-07-25T17:20:00Z", confidence=0.7)
    >>> found = [Entity(id="a", marking="CUI", **e), Entity(id="b", marking="SECRET", **e)]
    >>> asyncio.run(feed.publish(found)).sent
    1
    >>> [u.entity_id for u in sink.queue.get_nowait()]
    ['a']
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from assay.domain.canonical import canonical_json
from assay.domain.entity import Entity
from assay.domain.marking import Marking, MarkingScheme

__all__ = [
    "Feed",
    "PublishStats",
    "QueueSink",
    "Sink",
    "Subscription",
    "Update",
    "fingerprint",
    "text_fingerprint",
    "visible",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Update:
    """One change for one subscriber: an entity to show (``upsert``) or to take away."""

    kind: Literal["upsert", "remove"]
    entity_id: str
    entity: Entity | None = None
    fingerprint: str = ""
    cot_type: str = "a-u-G"


class Sink(Protocol):
    """Where a subscription's updates go. `held` says what the peer already holds (entity id
    to fingerprint), or None when it cannot know and needs a full refresh. `tracks`: whether
    it sends entities' tracks (a CoT event has none: a feed of CoT sinks alone does not read
    them)."""

    label: str
    tracks: bool

    async def open(self) -> None: ...

    async def held(self) -> dict[str, str] | None: ...

    async def send(self, picture: str, updates: Sequence[Update]) -> None: ...

    async def close(self) -> None: ...


@dataclass
class Subscription:
    sink: Sink
    clearance: Marking
    sent: dict[str, str] | None = None
    cot_types: dict[str, str] = field(default_factory=dict)


@dataclass
class PublishStats:
    sent: int = 0
    removed: int = 0
    unchanged: int = 0
    withheld: int = 0


def fingerprint(e: Entity) -> str:
    """A short content hash of the entity: equal fingerprints, nothing to send."""
    return text_fingerprint(canonical_json(e.model_dump(mode="json")).encode())


def text_fingerprint(text: bytes) -> str:
    """`fingerprint` of an entity whose canonical JSON is `text` (a picture stores it)."""
    return hashlib.sha256(text).hexdigest()[:24]


def visible(scheme: MarkingScheme, clearance: Marking, found: Sequence[Entity]) -> list[Entity]:
    """The entities a holder of `clearance` may see; the others are not there for them."""
    return [e for e in found if scheme.allows(clearance, scheme.parse(e.marking))]


class Feed:
    """Publishes versions of one picture to its subscriptions."""

    def __init__(self, picture: str, scheme: MarkingScheme, subs: Sequence[Subscription]):
        self.picture = picture
        self.scheme = scheme
        self.subs = list(subs)

    async def open(self) -> None:
        for sub in self.subs:
            await sub.sink.open()

    async def close(self) -> None:
        for sub in self.subs:
            await sub.sink.close()

    async def publish(
        self, found: Sequence[Entity], prints: Mapping[str, str] | None = None
    ) -> PublishStats:
        """Send each subscription what changed for it; see the module docstring. `found` is
        the whole picture: an entity a subscription was sent that is not in it is removed.
        `prints`: the entities' fingerprints by id, when known (`text_fingerprint` of the
        picture's stored text), else made here."""
        return await self._send(found, whole=True, prints=prints)

    async def update(self, changed: Sequence[Entity]) -> PublishStats:
        """Send the entities that changed (a tracker's live output after one scan); entities
        not named stay as they are. One rising above a clearance is removed there."""
        return await self._send(changed, whole=False)

    async def _send(
        self, found: Sequence[Entity], *, whole: bool, prints: Mapping[str, str] | None = None
    ) -> PublishStats:
        stats = PublishStats()
        if prints is None:
            prints = {e.id: fingerprint(e) for e in found}
        for sub in self.subs:
            if sub.sent is None:
                sub.sent = await sub.sink.held() or {}
            mine = visible(self.scheme, sub.clearance, found)
            stats.withheld += len(found) - len(mine)
            updates: list[Update] = []
            seen: set[str] = set()
            for e in mine:
                seen.add(e.id)
                fp = prints[e.id]
                if sub.sent.get(e.id) == fp:
                    stats.unchanged += 1
                    continue
                updates.append(Update("upsert", e.id, e, fp, e.cot_type))
            gone = set(sub.sent) - seen if whole else {e.id for e in found} & set(sub.sent) - seen
            for eid in sorted(gone):
                ctype = sub.cot_types.get(eid, "a-u-G")
                updates.append(Update("remove", eid, None, sub.sent[eid], ctype))
            if not updates:
                continue
            try:
                await sub.sink.send(self.picture, updates)
            except (TimeoutError, OSError) as exc:
                # The peer holds an unknown part of this batch: refresh it in full next time.
                log.warning("%s: %s; a full refresh follows", sub.sink.label, exc)
                sub.sent = None
                continue
            for u in updates:
                if u.kind == "upsert":
                    sub.sent[u.entity_id] = u.fingerprint
                    sub.cot_types[u.entity_id] = u.cot_type
                    stats.sent += 1
                else:
                    sub.sent.pop(u.entity_id, None)
                    sub.cot_types.pop(u.entity_id, None)
                    stats.removed += 1
        return stats


class QueueSink:
    """Updates into an asyncio queue, one list per publish (the server's SSE streams)."""

    label = "queue"
    tracks = True

    def __init__(self) -> None:
        self.queue: asyncio.Queue[list[Update]] = asyncio.Queue()

    async def open(self) -> None:
        return None

    async def held(self) -> dict[str, str] | None:
        return None

    async def send(self, picture: str, updates: Sequence[Update]) -> None:
        self.queue.put_nowait(list(updates))

    async def close(self) -> None:
        return None

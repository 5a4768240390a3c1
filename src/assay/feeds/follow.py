"""`assay feed`: follow a picture and publish each new version to the feed's subscriptions.

`start_feed` parses the destinations (each with its clearance), records who opened which
feed at which clearance in the audit trail, and opens the sinks; `follow` polls the
picture's head and publishes whenever it moves on, or an item's marking moved (an entity
rises with the items it was fused from: `pictures.entities`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit, urlunsplit

from assay import audit
from assay.errors import InvalidInput
from assay.feeds.publish import Feed, PublishStats, Subscription, text_fingerprint
from assay.feeds.sinks import open_sink
from assay.fusion import pictures
from assay.fusion.notify import Listener

if TYPE_CHECKING:
    from assay.workspace import Workspace

__all__ = ["Destination", "follow", "parse_destination", "start_feed"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Destination:
    url: str
    clearance: str


def parse_destination(text: str) -> Destination:
    """``URL?clearance=LEVEL[/COMPARTMENT...]``: every destination names its clearance.

    Raises:
        InvalidInput: no clearance given.
    """
    parts = urlsplit(text)
    query = parse_qs(parts.query)
    clearance = query.pop("clearance", [""])[0].strip()
    if not clearance:
        shown = urlunsplit(parts._replace(query="clearance=CUI"))
        raise InvalidInput(
            f"feed destination {text!r}: add the subscription's clearance, e.g. {shown!r}"
        )
    if query:
        raise InvalidInput(f"feed destination {text!r}: unknown option(s) {', '.join(query)}")
    return Destination(urlunsplit(parts._replace(query="")), clearance)


async def start_feed(
    ws: Workspace, name: str, destinations: Sequence[Destination], *, stale_s: float = 300.0
) -> Feed:
    """A feed of picture `name` to `destinations`, opened (every sink connected).

    Raises:
        NotFound: no picture `name`.
        InvalidInput: a bad destination or clearance.
        OSError: a destination cannot be reached.
    """
    pictures.log(ws, name)  # NotFound, with the remedy, before anything connects
    subs = [
        Subscription(open_sink(d.url, stale_s=stale_s), ws.scheme.parse(d.clearance))
        for d in destinations
    ]
    feed = Feed(name, ws.scheme, subs)
    await feed.open()
    with ws.db.begin() as conn:
        audit.append(
            conn,
            ws.actor,
            "feed.start",
            f"picture:{name}",
            {
                "destinations": [
                    {"url": d.url, "clearance": ws.scheme.render(s.clearance)}
                    for d, s in zip(destinations, subs, strict=True)
                ]
            },
        )
    return feed


async def follow(
    ws: Workspace,
    name: str,
    feed: Feed,
    *,
    interval: float = 1.0,
    once: bool = False,
    stop: asyncio.Event | None = None,
    on_publish: Callable[[str, PublishStats], None] | None = None,
) -> int:
    """Publish the head of picture `name` now and after every new version; returns how many
    versions were published. Stops after one with `once`, or when `stop` is set.

    A new version is published as soon as its writer's word arrives (`assay.fusion.notify`),
    and at the latest `interval` seconds after it was saved (a writer whose word cannot reach
    this process)."""
    last: str | None = None
    marks = 0
    versions = 0
    stop = stop or asyncio.Event()
    tracks = any(sub.sink.tracks for sub in feed.subs)
    async with Listener(ws.root, name) as heard:
        while not stop.is_set():
            head = pictures.head(ws, name)
            # An item raised since the last look may raise an entity of this very version.
            moved, marks = pictures.markings_moved(ws, marks)
            if head.id != last or moved:
                rows = pictures.entities_and_texts(ws, head, tracks=tracks)
                found = [e for e, _ in rows]
                prints = {e.id: text_fingerprint(text) for e, text in rows}
                stats = await feed.publish(found, prints)
                last = head.id
                versions += 1
                if on_publish is not None:
                    on_publish(f"{name}@{head.seq}", stats)
            if once:
                break
            await _word_or_stop(heard, stop, interval)
    return versions


async def _word_or_stop(heard: Listener, stop: asyncio.Event, interval: float) -> None:
    """Until a new version is announced, `stop` is set, or `interval` passes."""
    word = asyncio.ensure_future(heard.wait(interval))
    halt = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({word, halt}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in (word, halt):
            t.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(word, halt, return_exceptions=True)

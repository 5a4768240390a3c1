"""The feed to NATS JetStream: a durable consumer resumes without loss or repeats after the
feed stops mid-stream and a new feed process starts; each subject has its clearance."""

from __future__ import annotations

import asyncio
import json

import nats

from assay.domain.marking import MarkingScheme
from assay.feeds.publish import Feed, Subscription
from assay.feeds.sinks import open_sink
from feed_peers import Nats, drain, make_entity

SCHEME = MarkingScheme.default()


def test_consumers_resume_without_loss_after_a_restart(nats_server: Nats) -> None:
    world = [make_entity(i, marking="CUI" if i % 5 == 0 else "") for i in range(60)]
    subject = "assay.flood.unclassified"
    url = f"{nats_server.url}/{subject}"

    async def run() -> None:
        nc = await nats.connect(nats_server.url)
        js = nc.jetstream()

        feed = Feed("flood", SCHEME, [Subscription(open_sink(url), SCHEME.parse("UNCLASSIFIED"))])
        await feed.open()
        await feed.publish(world[:25])  # stopped after 25 of the 60
        await feed.close()
        first = await drain(js, subject, "map-client")

        # A new feed process: it reads what the stream holds and sends only the rest, plus
        # the entities that moved since.
        moved = {e.id: e.model_copy(update={"lat": e.lat + 0.001}) for e in world[1:4]}
        now = [moved.get(e.id, e) for e in world]
        feed = Feed("flood", SCHEME, [Subscription(open_sink(url), SCHEME.parse("UNCLASSIFIED"))])
        await feed.open()
        stats = await feed.publish(now)
        await feed.close()
        rest = await drain(js, subject, "map-client")
        await nc.close()

        visible = [e for e in now if e.marking == ""]
        assert stats.withheld == 12 and stats.unchanged == 20 - 3
        got = first + rest
        assert all(m["op"] == "upsert" for m in got)
        ids = [m["entity"]["id"] for m in got]
        # Every visible entity arrived; only the three that moved arrived twice.
        assert set(ids) == {e.id for e in visible}
        assert sorted(i for i in set(ids) if ids.count(i) > 1) == sorted(moved)
        latest = {m["entity"]["id"]: m["entity"] for m in got}
        for eid, e in moved.items():
            assert latest[eid]["lat"] == e.lat
        assert all(m["entity"]["marking"] == "" for m in got)

    asyncio.run(run())


def test_each_subject_carries_only_its_clearance_and_removals(nats_server: Nats) -> None:
    world = [make_entity(1), make_entity(2, marking="SECRET", sensors=("RAVEN-7",))]

    async def run() -> None:
        low = f"{nats_server.url}/assay.flood.cui"
        high = f"{nats_server.url}/assay.flood.secret"
        feed = Feed(
            "flood",
            SCHEME,
            [
                Subscription(open_sink(low), SCHEME.parse("CUI")),
                Subscription(open_sink(high), SCHEME.parse("SECRET")),
            ],
        )
        await feed.open()
        await feed.publish(world)
        risen = [world[0].model_copy(update={"marking": "SECRET"}), world[1]]
        await feed.publish(risen)
        await feed.close()

        nc = await nats.connect(nats_server.url)
        js = nc.jetstream()
        low_msgs = await drain(js, "assay.flood.cui", "low")
        high_msgs = await drain(js, "assay.flood.secret", "high")
        await nc.close()
        assert [(m["op"], m.get("id") or m["entity"]["id"]) for m in low_msgs] == [
            ("upsert", world[0].id),
            ("remove", world[0].id),
        ]
        assert "RAVEN-7" not in json.dumps(low_msgs) and "SECRET" not in json.dumps(low_msgs)
        assert [m["entity"]["marking"] for m in high_msgs] == ["", "SECRET", "SECRET"]

    asyncio.run(run())

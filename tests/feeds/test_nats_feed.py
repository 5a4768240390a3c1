"""The feed to NATS JetStream: a durable consumer resumes without loss or repeats after the
feed stops mid-stream and a new feed process starts; each subject has its clearance."""

from __future__ import annotations

import asyncio
import json

import nats

from assay.domain.marking import MarkingScheme
from assay.feeds.publish import Feed, Subscription
from assay.feeds.sinks import open_sink, stream_name
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


# Entity ids no NATS token can hold as they are ('.', '*', '>', spaces, non-ASCII), and ids
# that differ only where a sanitiser would make them alike.
TRICKY_IDS = ("gate.1", "gate_1", "gate 1", "gate*1", "gate>1", "gate_2E1")
TRICKY_IDS += ("gäte-1", "GATE-1", "gate\r\n1", "")


def test_every_entity_has_a_subject_of_its_own(nats_server: Nats) -> None:
    """An entity's subject names it alone: entities whose ids differ only in characters a
    subject token cannot hold never share one (a consumer of one entity's subject would get
    the other's, at its marking), and a restarted feed finds every one of them held."""
    world = [
        make_entity(i, id=eid, marking="SECRET" if i % 2 else "")
        for i, eid in enumerate(TRICKY_IDS)
    ]
    subject = "assay.town.secret"
    url = f"{nats_server.url}/{subject}"

    async def run() -> None:
        feed = Feed("town", SCHEME, [Subscription(open_sink(url), SCHEME.parse("SECRET"))])
        await feed.open()
        await feed.publish(world)
        await feed.close()

        nc = await nats.connect(nats_server.url)
        js = nc.jetstream()
        info = await js.stream_info(stream_name(subject), subjects_filter=f"{subject}.>")
        subjects = sorted(info.state.subjects or {})
        # One subject per entity, each a single token under the feed's subject, holding
        # that entity's message only.
        assert len(subjects) == len(world)
        on_subject = {}
        for subj in subjects:
            assert subj.startswith(f"{subject}.") and subj.count(".") == subject.count(".") + 1
            msg = await js.get_last_msg(stream_name(subject), subj)
            on_subject[subj] = json.loads(msg.data)["entity"]
        assert sorted(e["id"] for e in on_subject.values()) == sorted(TRICKY_IDS)
        by_id = {e.id: e for e in world}
        for e in on_subject.values():
            assert e["marking"] == by_id[e["id"]].marking
        await nc.close()

        again = Feed("town", SCHEME, [Subscription(open_sink(url), SCHEME.parse("SECRET"))])
        await again.open()
        stats = await again.publish(world)
        await again.close()
        assert (stats.sent, stats.unchanged) == (0, len(world))

    asyncio.run(run())


def test_subjects_alike_but_for_punctuation_or_case_have_streams_of_their_own(
    nats_server: Nats,
) -> None:
    """`town.cui` and `town_cui` (or `TOWN.cui`) are other subjects, each at its own
    clearance: each gets a stream of its own, so neither feed's entities reach the other."""
    world = [make_entity(1), make_entity(2, marking="SECRET")]
    subjects = {"town.cui": "CUI", "town_cui": "SECRET", "TOWN.cui": "SECRET"}

    async def run() -> None:
        feed = Feed(
            "town",
            SCHEME,
            [
                Subscription(open_sink(f"{nats_server.url}/{s}"), SCHEME.parse(level))
                for s, level in subjects.items()
            ],
        )
        await feed.open()
        await feed.publish(world)
        await feed.close()
        assert len({stream_name(s) for s in subjects}) == len(subjects)

        nc = await nats.connect(nats_server.url)
        js = nc.jetstream()
        got = {s: await drain(js, s, f"reader{i}") for i, s in enumerate(subjects)}
        await nc.close()
        assert [m["entity"]["id"] for m in got["town.cui"]] == [world[0].id]
        for s in ("town_cui", "TOWN.cui"):
            assert sorted(m["entity"]["id"] for m in got[s]) == sorted(e.id for e in world)

    asyncio.run(run())


def test_stream_names_keep_the_names_of_plain_subjects() -> None:
    """Streams already made for lower-case dotted subjects keep their names."""
    assert stream_name("assay.flood.cui") == "ASSAY_ASSAY_FLOOD_CUI"
    assert stream_name("town-2.secret") == "ASSAY_TOWN-2_SECRET"

"""The feed to a real TAK server (taky) over TCP and to a UDP listener, each at a clearance."""

from __future__ import annotations

import asyncio

from lxml import etree

from assay.domain.marking import MarkingScheme
from assay.feeds.publish import Feed, Subscription
from assay.feeds.sinks import open_sink
from feed_peers import CotClient, Taky, UdpListener, make_entity, schema

SCHEME = MarkingScheme.default()


def _world() -> list:
    # Two entities anyone may see, one CUI, one SECRET seen by a sensor whose name is itself
    # sensitive: it must never reach a CUI subscriber, in any field.
    return [
        make_entity(1),
        make_entity(2),
        make_entity(3, marking="CUI"),
        make_entity(4, marking="SECRET", sensors=("RAVEN-7",)),
    ]


def test_tak_subscriber_gets_only_what_its_clearance_allows_and_a_delete_on_a_rise(
    taky: Taky, cot_client: CotClient, udp_listener: UdpListener
) -> None:
    world = _world()

    async def run() -> None:
        feed = Feed(
            "flood",
            SCHEME,
            [
                Subscription(open_sink(f"tcp://127.0.0.1:{taky.port}"), SCHEME.parse("CUI")),
                Subscription(
                    open_sink(f"udp://127.0.0.1:{udp_listener.port}"), SCHEME.parse("SECRET")
                ),
            ],
        )
        await feed.open()
        stats = await feed.publish(world)
        assert (stats.sent, stats.withheld) == (7, 1)
        # Nothing changed: nothing is sent again.
        again = await feed.publish(world)
        assert (again.sent, again.unchanged) == (0, 7)
        # Entity 3 rests on a new SECRET source now: the CUI subscriber loses it.
        risen = [*world[:2], world[2].model_copy(update={"marking": "SECRET"}), world[3]]
        stats = await feed.publish(risen)
        assert (stats.sent, stats.removed) == (1, 1)
        await feed.close()

    asyncio.run(run())
    events = cot_client.wait_for(4)
    assert len(events) == 4
    uids = [e.uid for e in events[:3]]
    assert sorted(uids) == sorted(f"assay.flood.{e.id}" for e in world[:3])
    delete = events[3]
    assert delete.etype == "t-x-d-d"
    assert delete.detail.as_element.find("link").get("uid") == f"assay.flood.{world[2].id}"
    for raw in cot_client.raw:
        schema().assertValid(etree.fromstring(raw))
        assert b"SECRET" not in raw and b"RAVEN-7" not in raw
    # taky rebuilt each event and kept the detail: the marking survives the router.
    assert [etree.fromstring(r).find("detail/marking").get("text") for r in cot_client.raw[:3]] == [
        "UNCLASSIFIED",
        "UNCLASSIFIED",
        "CUI",
    ]

    grams = udp_listener.receive(5)
    assert len(grams) == 5
    docs = [etree.fromstring(g) for g in grams]
    for d in docs:
        schema().assertValid(d)
    assert {d.get("uid") for d in docs[:4]} == {f"assay.flood.{e.id}" for e in world}
    assert docs[4].get("access") == "SECRET" and docs[4].get("uid").endswith(world[2].id)


def test_a_restarted_feed_refreshes_tak_clients_in_full(taky: Taky, cot_client: CotClient) -> None:
    world = [make_entity(i) for i in range(30)]
    url = f"tcp://127.0.0.1:{taky.port}"

    async def publish(found: list) -> None:
        feed = Feed("flood", SCHEME, [Subscription(open_sink(url), SCHEME.parse("UNCLASSIFIED"))])
        await feed.open()
        await feed.publish(found)
        await feed.close()

    asyncio.run(publish(world[:12]))  # the first run stops after 12 of 30
    assert len(cot_client.wait_for(12)) == 12
    asyncio.run(publish(world))  # a new process knows nothing of what was sent: all 30 again
    events = cot_client.wait_for(42)
    assert len(events) == 42
    assert {e.uid for e in events[12:]} == {f"assay.flood.{e.id}" for e in world}


def test_update_sends_only_the_named_entities_and_removes_one_that_rose(
    taky: Taky, cot_client: CotClient
) -> None:
    world = [make_entity(i) for i in range(5)]

    async def run() -> None:
        sub = Subscription(open_sink(f"tcp://127.0.0.1:{taky.port}"), SCHEME.parse("CUI"))
        feed = Feed("flood", SCHEME, [sub])
        await feed.open()
        assert (await feed.publish(world)).sent == 5
        moved = world[1].model_copy(update={"lat": world[1].lat + 0.001})
        risen = world[2].model_copy(update={"marking": "SECRET"})
        stats = await feed.update([moved, risen])
        assert (stats.sent, stats.removed, stats.unchanged) == (1, 1, 0)
        assert set(sub.sent or {}) == {world[i].id for i in (0, 1, 3, 4)}
        await feed.close()

    asyncio.run(run())
    events = cot_client.wait_for(7)
    assert [e.etype for e in events[5:]] == ["a-u-G-E-V-C", "t-x-d-d"]
    assert events[5].uid.endswith(world[1].id)

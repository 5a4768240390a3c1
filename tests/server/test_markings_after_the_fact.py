"""Markings after the fact: an item raised after a commit or a fused picture took it in, and
work done in a project above the viewer (or above an export) on items the viewer may see, a
scene or video raised without its chips or frames, a running feed told of neither; and an
answer that lies nowhere (attacker pass, December 2026)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from picture_denials import entity
from sqlalchemy import select

from assay.feeds.follow import follow
from assay.feeds.publish import Feed, QueueSink, Subscription
from assay.feeds.views import sse_stream
from assay.fusion import pictures, sitrep
from assay.fusion.sitrep_render import render
from assay.labeling.marks import raise_items
from assay.store.schema import items
from assay.versioning import LabelRecord
from cli_support import item_ids, town_scene
from labeling_world import HIDDEN, Client, World, box
from own_loop import run_async


def test_an_item_raised_after_a_commit_leaves_that_commit_for_viewers_below_it(
    world: World, client: Client
) -> None:
    ws, man, item = world.ws, client("man"), world.items["cui"][0]
    ws.set_labels("flood", [LabelRecord(i, [box(1, 1, 6, 6)]) for i in world.items["cui"]])
    ws.commit("flood", "boxes")
    before = man.get("/api/v1/explore/flood", params={"rev": "HEAD"})  # the commit, indexed
    assert before.status_code == 200 and item in before.text
    raise_items(ws, f"id={item}", "SECRET/SAR")
    for path, params in (
        ("/api/v1/explore/flood", {"rev": "HEAD"}),
        ("/api/v1/explore/flood/diff", {"a": "HEAD", "b": "HEAD"}),
        (f"/api/v1/explore/flood/items/{world.items['public'][0]}", {"rev": "HEAD"}),
    ):
        r = man.get(path, params=params)
        assert r.status_code == 404 and item not in r.text, (path, r.text)
    # Cleared for the new marking: the row says the marking the item has now.
    rows = client("root").get("/api/v1/explore/flood", params={"rev": "HEAD"}).json()["items"]
    assert {r["item_id"]: r["marking"] for r in rows}[item] == "SECRET/FLOOD/SAR"


def test_a_raise_the_commit_has_seen_before_is_read_from_the_audit_events_since(
    world: World, client: Client
) -> None:
    ws, root = world.ws, client("root")
    ws.commit("flood", "items")
    first, second = world.items["public"][:2]
    raise_items(ws, f"id={first}", "CUI/FLOOD")
    page = root.get("/api/v1/explore/flood", params={"rev": "HEAD"}).json()
    assert {r["item_id"]: r["marking"] for r in page["items"]}[first] == "CUI/FLOOD"
    raise_items(ws, f"id={second}", "SECRET")
    page = root.get("/api/v1/explore/flood", params={"rev": "HEAD"}).json()
    marks = {r["item_id"]: r["marking"] for r in page["items"]}
    assert (marks[first], marks[second]) == ("CUI/FLOOD", "SECRET")
    assert page["marking"] == "SECRET/FLOOD"
    filtered = root.get("/api/v1/explore/flood", params={"rev": "HEAD", "marking": "SECRET"})
    assert [r["item_id"] for r in filtered.json()["items"]] == [second]
    assert client("man").get("/api/v1/explore/flood", params={"rev": "HEAD"}).status_code == 404


def _answer_the_hidden_project(client: Client) -> None:
    """root answers every task of the SECRET/SAR project, public images included."""
    root = client("root")
    while (r := root.post(f"/api/v1/projects/{HIDDEN['name']}/next")).status_code == 200:
        regions = [box(1, 1, 6, 6, "vehicle").model_dump()]
        body = {"client_id": str(uuid.uuid4()), "regions": regions}
        done = root.post(f"/api/v1/tasks/{r.json()['task_id']}/submit", json=body)
        assert done.status_code == 200


def test_an_export_with_every_annotation_is_marked_as_the_projects_they_came_from(
    world: World, client: Client, tmp_path: Path
) -> None:
    _answer_the_hidden_project(client)
    for all_annotations, marking in ((False, "CUI/FLOOD"), (True, "SECRET/FLOOD/SAR")):
        out = tmp_path / str(all_annotations)
        world.ws.export("flood", "jsonl", out, media=False, all_annotations=all_annotations)
        assert (out / "MARKING.txt").read_text().splitlines()[0] == marking


def test_the_item_view_leaves_out_annotations_made_in_a_project_above_the_viewer(
    world: World, client: Client
) -> None:
    item = world.items["public"][0]
    _answer_the_hidden_project(client)
    seen = client("root").get(f"/api/v1/explore/flood/items/{item}").json()["annotations"]
    assert [a["project"] for a in seen] == [HIDDEN["name"]]
    r = client("man").get(f"/api/v1/explore/flood/items/{item}")
    assert r.status_code == 200 and r.json()["annotations"] == []
    for secret in HIDDEN.values():
        assert secret not in r.text
    assert "vehicle" not in r.text


def _levee(world: World) -> None:
    """Picture `levee`: two CUI/FLOOD entities, each fused from one of the CUI items."""
    cui = world.items["cui"]
    found = [
        entity("ent-000000000001", "CUI/FLOOD", items=(cui[0],)),
        entity("ent-0002", "CUI/FLOOD", items=(cui[1],)),
    ]
    pictures.save(world.ws, "levee", found, message="levee")


def test_an_entity_rises_with_the_frame_it_was_fused_from(world: World, client: Client) -> None:
    ws, frame = world.ws, world.items["cui"][0]
    _levee(world)
    ana = client("ana")
    assert len(ana.get("/api/v1/pictures/levee/entities").json()["features"]) == 2
    raise_items(ws, f"id={frame}", "SECRET/SAR")
    shown = ana.get("/api/v1/pictures/levee/entities").json()
    assert [f["id"] for f in shown["features"]] == ["ent-0002"]
    assert shown["marking"] == "CUI/FLOOD"
    assert ana.get("/api/v1/pictures/levee/entities/ent-000000000001").status_code == 404
    for path in ("/cot", "/lattice"):
        assert "ent-000000000001" not in ana.get("/api/v1/pictures/levee" + path).text, path
    report = render(sitrep.build(ws, "levee", clearance=ws.scheme.parse("CUI/FLOOD")), "json")
    assert "ent-000000000001" not in report and "ent-0002" in report
    root = client("root").get("/api/v1/pictures/levee/entities").json()
    marks = {f["id"]: f["properties"]["marking"] for f in root["features"]}
    assert marks == {"ent-000000000001": "SECRET/FLOOD/SAR", "ent-0002": "CUI/FLOOD"}
    head = pictures.head(ws, "levee")
    assert head.marking == "CUI/FLOOD"  # the version as saved; as shown, it has risen
    assert pictures.marked_now(ws, head, pictures.entities(ws, head)).marking == "SECRET/FLOOD/SAR"


def test_an_answer_with_a_coordinate_that_is_not_a_number_is_refused(
    world: World, client: Client
) -> None:
    """JSON parsers take `NaN`; such a box lay nowhere, passed every bounds check, and was
    stored (then exported as invalid JSON)."""
    ana = client("ana")
    task = ana.post("/api/v1/projects/survey/next").json()["task_id"]
    body = '{"client_id": "c1", "regions": [{"kind": "box", "control": "label", "label": '
    body += '"building", "box": [NaN, 1, 2, 3]}]}'
    r = ana.post(
        f"/api/v1/tasks/{task}/submit", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == 422 and "(nan, 1) lies outside the 48x32 image" in r.json()["error"]
    assert ana.get("/api/v1/projects/survey/mine").json()["submitted"] == 0


def test_a_scene_or_video_raised_takes_its_chips_and_frames_with_it(
    world: World, client: Client, tmp_path: Path
) -> None:
    """A chip holds its scene's pixels and a frame its video's: raising the source alone left
    them at the old marking, served whole to anyone cleared for that."""
    from assay.ingest.sensors.synth import write_flight

    ws = world.ws
    town_scene(tmp_path / "town.tif")
    write_flight(tmp_path / "f.ts", seconds=2, klv_hz=5)
    ws.ingest([tmp_path / "town.tif", tmp_path / "f.ts"], marking="CUI/FLOOD")
    derived = item_ids(ws, children=True)
    assert len(derived) > 4 and any("#t=" in n for n in derived)
    chip = next(i for n, i in derived.items() if n.startswith("town.tif#"))
    ana = client("ana")
    assert ana.get(f"/api/v1/items/{chip}/blob").status_code == 200
    changes = raise_items(ws, "name=town.tif", "SECRET/SAR")
    changes += raise_items(ws, "name=f.ts", "SECRET/SAR")
    assert {c.item_id for c in changes} >= set(derived.values())
    with ws.db.read() as conn:
        marks = dict(conn.execute(select(items.c.id, items.c.marking)).all())
    assert {marks[i] for i in derived.values()} == {"SECRET/FLOOD/SAR"}
    assert ana.get(f"/api/v1/items/{chip}/blob").status_code == 404
    assert ws.audit_verify().ok


def test_a_running_feed_removes_an_entity_whose_frame_was_raised(world: World) -> None:
    """`assay feed` and the map's live stream republished only on a new version: a raise under
    the current one left the entity with a subscriber below its new marking until the next
    fusion."""
    ws, frame = world.ws, world.items["cui"][0]
    _levee(world)

    async def watch() -> list[list[tuple[str, str]]]:
        sink = QueueSink()
        feed = Feed("levee", ws.scheme, [Subscription(sink, ws.scheme.parse("CUI/FLOOD"))])
        stop = asyncio.Event()
        task = asyncio.create_task(follow(ws, "levee", feed, interval=0.05, stop=stop))
        got = [await asyncio.wait_for(sink.queue.get(), 10)]
        await asyncio.to_thread(raise_items, ws, f"id={frame}", "SECRET/SAR")
        got.append(await asyncio.wait_for(sink.queue.get(), 10))
        stop.set()
        await task
        return [[(u.kind, u.entity_id) for u in batch] for batch in got]

    first, second = run_async(watch)
    assert sorted(first) == [("upsert", "ent-000000000001"), ("upsert", "ent-0002")]
    assert second == [("remove", "ent-000000000001")]

    async def stream() -> list[str]:
        events: list[str] = []  # a SECRET/FLOOD/SAR reader sees both entities, then one
        live = sse_stream(ws, ws.scheme.parse("SECRET/FLOOD/SAR"), "levee", interval=0.05)
        async for event in live:
            events.append(event.split("\n")[1] if event.startswith("id:") else event)
            if events[-1] == "event: version" and events.count("event: version") == 1:
                await asyncio.to_thread(raise_items, ws, f"id={frame}", "TOP SECRET")
            if events.count("event: version") == 2:
                await live.aclose()
                return events
        return events

    assert run_async(lambda: asyncio.wait_for(stream(), 10))[1:] == [
        "event: upsert",
        "event: upsert",
        "event: version",
        "event: remove",
        "event: version",
    ]

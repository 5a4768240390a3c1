"""The map's live stream looks cheaply at every poll (the picture's newest version, whether a
marking moved) and reads the picture's entities only when one of them says something changed:
it read every entity at every poll (10 ms a poll for 1,000 entities, ten polls a second)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from picture_denials import entity
from sqlalchemy import event

from assay.feeds.views import sse_stream
from assay.fusion import pictures
from assay.labeling.marks import raise_items
from labeling_world import World
from own_loop import run_async


def test_a_stream_reads_the_entities_only_after_a_new_version_or_a_marking_moved(
    world: World,
) -> None:
    ws, cui = world.ws, world.items["cui"]
    first = [
        entity("ent-000000000001", "CUI/FLOOD", items=(cui[0],)),
        entity("ent-0002", "CUI/FLOOD", items=(cui[1],)),
    ]
    pictures.save(ws, "levee", first, message="levee")
    # Every full read asks the items' markings now; every look (before the fix too) reads one
    # row of the picture's versions.
    loads: list[str] = []
    looks: list[str] = []

    def heard(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if "FROM items" in statement:
            loads.append(statement)
        if "FROM picture_versions" in statement and "max(" not in statement:
            looks.append(statement)

    event.listen(ws.db.engine, "before_cursor_execute", heard)

    async def watch() -> dict[str, Any]:
        got: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

        async def read() -> None:
            async for text in sse_stream(ws, ws.scheme.parse("CUI/FLOOD"), "levee", interval=0.02):
                lines = dict(line.split(": ", 1) for line in text.strip().split("\n"))
                if "event" in lines:
                    await got.put((lines["event"], json.loads(lines["data"])))

        async def until_version() -> list[tuple[str, dict[str, Any]]]:
            batch = [await got.get()]
            while batch[-1][0] != "version":
                batch.append(await got.get())
            return batch

        async def polls(n: int) -> None:
            at = len(looks)
            while len(looks) < at + n:
                await asyncio.sleep(0.01)

        reader = asyncio.create_task(read())
        try:
            out: dict[str, Any] = {"start": await until_version()}
            quiet = len(loads)
            await polls(5)
            out["quiet_loads"] = len(loads) - quiet
            await asyncio.to_thread(
                pictures.save, ws, "levee", [*first, entity("ent-0003", "")], message="more"
            )
            out["new_version"] = await until_version()
            await polls(3)
            out["version_loads"] = len(loads) - quiet
            await asyncio.to_thread(raise_items, ws, f"id={cui[0]}", "SECRET/SAR")
            out["raised"] = await until_version()
            after = len(loads)
            await polls(3)
            out["after_raise_loads"] = len(loads) - after
            return out
        finally:
            reader.cancel()

    try:
        out = run_async(lambda: asyncio.wait_for(watch(), 20))
    finally:
        event.remove(ws.db.engine, "before_cursor_execute", heard)
    assert [k for k, _ in out["start"]] == ["upsert", "upsert", "version"]
    assert out["quiet_loads"] == 0  # five looks, nothing changed: nothing read
    assert [(k, d.get("id")) for k, d in out["new_version"][:-1]] == [("upsert", "ent-0003")]
    assert out["new_version"][-1][1]["version"] == 2
    assert out["version_loads"] == 1  # the new version read once, then quiet again
    # A frame raised under the same version still takes its entity off this reader's map.
    assert [(k, d.get("id")) for k, d in out["raised"]] == [
        ("remove", "ent-000000000001"),
        ("version", None),
    ]
    assert out["raised"][-1][1]["entities"] == 2
    assert out["after_raise_loads"] == 0

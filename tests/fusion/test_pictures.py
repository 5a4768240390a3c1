"""Pictures: saved like commits, read back, logged and diffed through `assay log` / `assay diff`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from assay.domain.entity import Entity, Provenance, TrackPoint, diff_entities
from assay.errors import Conflict, InvalidInput, NotFound
from assay.feeds.publish import fingerprint, text_fingerprint
from assay.fusion import pictures
from assay.workspace import Workspace

RunCli = Callable[..., Any]  # the `cli` fixture of tests/conftest.py


def entity(eid: str, lon: float, label: str = "vehicle", **kw: object) -> Entity:
    base: dict[str, object] = {
        "id": eid,
        "label": label,
        "lon": lon,
        "lat": 29.76,
        "covariance": (4.0, 0.0, 4.0),
        "first_seen": "2026-07-25T17:20:00Z",
        "last_seen": "2026-07-25T17:20:05Z",
        "confidence": 0.8,
        "status": "confirmed",
        "marking": "UNCLASSIFIED",
        "provenance": Provenance(items=("i1",), models=("model:det@1",)),
    }
    base.update(kw)
    return Entity.model_validate(base)


def test_save_log_load_and_diff(ws: Workspace) -> None:
    first = [entity("a", -95.37), entity("b", -95.371), entity("c", -95.372, "person")]
    p1 = pictures.save(ws, "flood", first, message="first scan")
    second = [
        entity("a", -95.3702),  # ~19 m east of where it was
        entity("b", -95.371, status="lost"),
        entity("c", -95.372, "vehicle", marking="CUI/FLOOD"),
        entity("d", -95.373),
    ]
    p2 = pictures.save(ws, "flood", second, message="second scan")
    assert p1.verify() and p2.verify() and p2.parent == p1.id and p2.seq == 2
    assert p2.marking == "CUI/FLOOD" and p1.marking == "UNCLASSIFIED"
    assert [p.id for p in pictures.log(ws, "flood")] == [p2.id, p1.id]
    assert pictures.load(ws, "flood@1").id == p1.id
    assert pictures.load(ws, "flood@HEAD~1").id == p1.id
    assert pictures.load(ws, f"flood@{p2.id[:8]}").id == p2.id
    assert pictures.entities(ws, pictures.load(ws, "flood")) == sorted(second, key=lambda e: e.id)
    _, _, changes = pictures.diff_pictures(ws, "flood@1", "flood@2")
    assert [(c.kind, c.entity) for c in changes] == [
        ("moved", "a"),
        ("lost", "b"),
        ("reclassified", "c"),
        ("appeared", "d"),
    ]
    assert changes == diff_entities(first, second)


def test_entities_with_their_stored_texts(ws: Workspace) -> None:
    """What `assay feed` reads of a version: each entity with its stored text, whose
    fingerprint is the entity's; without tracks, the same entities with empty tracks."""
    track = tuple(
        TrackPoint(time=f"2026-07-25T17:20:0{k}Z", lon=-95.37 + k * 1e-5, lat=29.76)
        for k in range(5)
    )
    found = [entity("a", -95.37, track=track), entity("b", -95.371, marking="CUI")]
    pic = pictures.save(ws, "flood", found, message="first scan")
    rows = pictures.entities_and_texts(ws, pic)
    assert [e for e, _ in rows] == found == pictures.entities(ws, pic)
    assert [text_fingerprint(t) for _, t in rows] == [fingerprint(e) for e in found]
    bare = pictures.entities_and_texts(ws, pic, tracks=False)
    assert [e for e, _ in bare] == [e.model_copy(update={"track": ()}) for e in found]
    assert [t for _, t in bare] == [t for _, t in rows]


def test_need_to_know_filters_whole_entities(ws: Workspace) -> None:
    found = [entity("a", -95.37), entity("s", -95.37, marking="SECRET")]
    assert [e.id for e in pictures.visible_entities(ws, found, ws.marking("CUI"))] == ["a"]


def test_bad_input(ws: Workspace) -> None:
    with pytest.raises(InvalidInput, match="appears twice"):
        pictures.save(ws, "flood", [entity("a", 1.0), entity("a", 2.0)], message="m")
    with pytest.raises(InvalidInput, match="bad picture name"):
        pictures.save(ws, "no/slash", [], message="m")
    ws.create_dataset("imagery")
    with pytest.raises(Conflict, match="is a dataset"):
        pictures.save(ws, "imagery", [], message="m")
    with pytest.raises(NotFound, match="no picture named"):
        pictures.load(ws, "nothing")
    pictures.save(ws, "flood", [entity("a", 1.0)], message="m")
    with pytest.raises(NotFound, match="versions 1 to 1"):
        pictures.load(ws, "flood@7")
    assert pictures.log(ws, "flood")[0].stats["entities"] == 1


def test_two_saves_at_once_make_two_versions(ws: Workspace) -> None:
    """On PostgreSQL (read committed) both read the same head: the later one failed on the
    (picture, seq) key when the other committed."""
    import threading
    import time

    from sqlalchemy import insert, select

    from assay import audit
    from assay.store.schema import picture_versions

    first = pictures.save(ws, "flood", [entity("a", 1.0)], message="one")
    before = len(list(ws.blobs.iter_shas()))
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["pic"] = pictures.save(ws, "flood", [entity("a", 2.0)], message="three")
        except Exception as exc:  # the test reports it below
            result["error"] = exc

    t = threading.Thread(target=run)
    with ws.db.begin() as other:  # another save of version 2, holding the lock every writer
        audit.lock_trail(other)  # takes
        one = other.execute(select(picture_versions).where(picture_versions.c.id == first.id))
        two = {**one.one()._mapping, "id": "f" * 64, "seq": 2, "parent": first.id}
        other.execute(insert(picture_versions), two)
        t.start()
        deadline = time.monotonic() + 30
        while len(list(ws.blobs.iter_shas())) == before and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # the save is at its transaction now
    t.join(60)
    assert "error" not in result, repr(result.get("error"))
    assert (result["pic"].seq, result["pic"].parent) == (3, "f" * 64)


def test_cli_log_diff_show(ws: Workspace, cli: RunCli) -> None:
    pictures.save(ws, "flood", [entity("a", -95.37)], message="one")
    pictures.save(ws, "flood", [entity("a", -95.3702), entity("d", -95.373)], message="two")
    root = ws.root.parent
    log = cli("log", "flood", "--json", cwd=root).json()
    assert [p["seq"] for p in log] == [2, 1]
    diff = cli("diff", "flood", "1", "2", "--json", cwd=root).json()
    assert [c["kind"] for c in diff["changes"]] == ["moved", "appeared"]
    text = cli("diff", "flood", "1", cwd=root).stdout
    assert "moved" in text and "appeared" in text
    shown = cli("picture", "show", "flood@1", "--json", cwd=root).json()
    assert [e["id"] for e in shown["entities"]] == ["a"]
    cli("picture", "show", "flood@9", cwd=root, code=1)

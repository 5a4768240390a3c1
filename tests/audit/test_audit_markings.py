"""A database writer lowers markings: `verify` checks them against the trail and commits."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from assay import Workspace, audit
from assay.labeling import Workflow
from audit_tamper import query, sql, verify_as_found
from labeling_world import build_world


@pytest.fixture
def marked(ws: Workspace, tmp_path: Path) -> Path:
    """A world (items at three markings, a project) whose dataset `flood` is committed."""
    world = build_world(ws, tmp_path / "data", workflow=Workflow())
    ws.commit("flood", "first survey")
    secret = world.items["secret"][0]
    # What a re-import at a higher marking does (`assay.markings` on the trust-marks branch):
    # the item and its task copies move, and one event records old and new, all at once.
    with ws.db.begin() as conn:
        conn.execute(text("UPDATE items SET marking='TOP SECRET/SAR' WHERE id=:id"), {"id": secret})
        conn.execute(
            text("UPDATE tasks SET marking='TOP SECRET/SAR' WHERE item_id=:id"), {"id": secret}
        )
        audit.append(
            conn,
            ws.actor,
            "item.mark",
            f"item:{secret}",
            {"old": "SECRET/SAR", "new": "TOP SECRET/SAR", "via": "import"},
        )
    ws.close()
    return ws.root.parent


def _one_item(folder: Path, marking: str) -> str:
    ((item,), *_) = query(
        folder, "SELECT id FROM items WHERE marking=:marking ORDER BY id", marking=marking
    )
    return str(item)


def test_markings_as_assay_left_them_verify(marked: Path) -> None:
    result = verify_as_found(marked)
    assert result.ok, result.state


def test_lowering_a_committed_item_is_found(marked: Path) -> None:
    item = _one_item(marked, "CUI/FLOOD")
    sql(marked, "UPDATE items SET marking='UNCLASSIFIED' WHERE id=:item", item=item)
    sql(marked, "UPDATE tasks SET marking='UNCLASSIFIED' WHERE item_id=:item", item=item)
    result = verify_as_found(marked)
    assert not result.ok and result.first_bad is None
    assert any(
        f"item {item[:12]} is marked 'UNCLASSIFIED', below 'CUI/FLOOD' in commit" in p
        for p in result.state
    ), result.state


def test_undoing_a_recorded_raise_is_found(marked: Path) -> None:
    item = _one_item(marked, "TOP SECRET/SAR")
    sql(marked, "UPDATE items SET marking='SECRET/SAR' WHERE id=:item", item=item)
    sql(marked, "UPDATE tasks SET marking='SECRET/SAR' WHERE item_id=:item", item=item)
    result = verify_as_found(marked)
    assert any(
        f"item {item[:12]} is marked 'SECRET/SAR'; the trail says 'TOP SECRET/SAR'" in p
        for p in result.state
    ), result.state


def test_lowering_only_the_task_copy_is_found(marked: Path) -> None:
    item = _one_item(marked, "TOP SECRET/SAR")
    sql(marked, "UPDATE tasks SET marking='UNCLASSIFIED' WHERE item_id=:item", item=item)
    result = verify_as_found(marked)
    assert not result.ok
    assert any(
        f"a task of item {item[:12]} carries marking 'UNCLASSIFIED'" in p for p in result.state
    )


def test_an_edited_commit_header_is_found(marked: Path) -> None:
    sql(marked, "UPDATE commits SET message='nothing to see'")
    result = verify_as_found(marked)
    assert any("no longer matches its id (header edited)" in p for p in result.state)


@pytest.mark.parametrize(
    "tamper",
    [
        "UPDATE items SET marking='UNCLASSIFIED' WHERE marking='SECRET/SAR'",
        "UPDATE items SET marking='CUI' WHERE marking='CUI/FLOOD'",
        "DELETE FROM items WHERE id NOT IN (SELECT item_id FROM tasks)",
    ],
)
def test_uncommitted_items_are_bound_by_the_ingest_sums(
    ws: Workspace, tmp_path: Path, samples, tamper: str
) -> None:  # type: ignore[no-untyped-def]
    """Items ingested and never committed or re-marked: only the ingest events bind them."""
    ws.ingest([samples.text("a.txt", seed=1)], marking="SECRET/SAR")
    ws.ingest([samples.text("b.txt", seed=2), samples.text("c.txt", seed=3)], marking="CUI/FLOOD")
    ws.close()
    folder = ws.root.parent
    assert verify_as_found(folder).ok
    sql(folder, tamper)
    result = verify_as_found(folder)
    assert not result.ok and result.first_bad is None
    assert any("the items' markings differ from what the trail recorded" in p for p in result.state)


def test_an_item_inserted_behind_assays_back_is_found(marked: Path) -> None:
    sql(
        marked,
        "INSERT INTO items (id, media_type, size, name, source, metadata, metadata_hash, "
        "marking, created) VALUES ('ab', 'text/plain', 1, 'x', '', '{}', 'h', 'UNCLASSIFIED', "
        "'2026')",
    )
    result = verify_as_found(marked)
    assert any("an item added or removed" in p for p in result.state)


def test_derived_frames_are_bound_by_their_ingest_event(ws: Workspace, tmp_path: Path) -> None:
    """Drone video frames are items made by ingest too: lowering one is found."""
    from assay.ingest.sensors.synth import write_flight

    write_flight(tmp_path / "flight.ts", seconds=2, klv_hz=5)
    ws.ingest([tmp_path / "flight.ts"], marking="CUI/FLOOD")
    ws.close()
    folder = ws.root.parent
    assert verify_as_found(folder).ok
    sql(
        folder,
        "UPDATE items SET marking='UNCLASSIFIED' WHERE id = "
        "(SELECT id FROM items WHERE parent_id IS NOT NULL LIMIT 1)",
    )
    result = verify_as_found(folder)
    assert any("the items' markings differ from what the trail recorded" in p for p in result.state)

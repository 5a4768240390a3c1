"""The ingest's lookups of a scene met again, and the marking raise's of an item's chips and
tasks, search an index rather than scan the table: SQLite's plans of the statements they run.

Before schema 15 each scanned every item (or task) of the workspace: per scene ingested again,
per marking raised. The indexes come to an older workspace with its migration
(`test_migrations.py`, on SQLite and PostgreSQL).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from assay import Workspace
from cli_support import town_scene

# The lookups by a column that only these indexes lead with: items by their source, tasks by
# their item.
BY_PARENT = re.compile(r"FROM items\s+WHERE items\.parent_id IN")
BY_ITEM = re.compile(r"(UPDATE|FROM) tasks\s+(SET .* )?WHERE tasks\.item_id (=|IN)")


@contextmanager
def _statements(ws: Workspace) -> Iterator[list[tuple[str, Any]]]:
    """The (SQL, parameters) of every statement `ws` runs meanwhile, as its driver gets them."""
    seen: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, sql: str, params: Any, _ctx: Any, many: bool) -> None:
        seen.append((sql, params[0] if many else params))

    event.listen(ws.db.engine, "before_cursor_execute", keep)
    try:
        yield seen
    finally:
        event.remove(ws.db.engine, "before_cursor_execute", keep)


def _plan(ws: Workspace, sql: str, params: Any) -> str:
    with ws.db.read() as conn:
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params).all()
    return "\n".join(str(r[-1]) for r in rows)


def test_a_scene_met_again_finds_its_chips_and_their_tasks_by_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ASSAY_DATABASE_URL", raising=False)  # SQLite's plans, on either pass
    town_scene(tmp_path / "town.tif")
    with Workspace.init(tmp_path / "ws") as ws:
        assert len(ws.ingest([tmp_path / "town.tif"]).new) > 1  # the scene and its chips
        with _statements(ws) as seen:
            found = ws.ingest([tmp_path / "town.tif"], source="sat-b")  # found by its sha256
            raised = ws.ingest([tmp_path / "town.tif"], marking="SECRET")  # read again
        assert len(found.duplicate) == 1 and found.notes  # its chips' metadata was compared
        assert len(raised.raised) > 1  # the scene and its chips

        by_parent = [(q, p) for q, p in seen if BY_PARENT.search(q)]
        by_item = [(q, p) for q, p in seen if BY_ITEM.search(q)]
        # The chips of the scene found again (their metadata), then the items the raise reaches.
        assert len(by_parent) >= 2
        assert {q.split()[0] for q, _p in by_item} == {"UPDATE", "SELECT"}
        for sql, params in by_parent:
            assert "SEARCH items USING INDEX items_parent (parent_id=?)" in _plan(ws, sql, params)
        for sql, params in by_item:
            assert "SEARCH tasks USING INDEX tasks_item (item_id=?)" in _plan(ws, sql, params)

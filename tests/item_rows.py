"""The items table of a workspace as plain dicts (metadata parsed), for the ingest tests; read
through the workspace's own database, SQLite or PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from assay.store.schema import items
from assay.workspace import Workspace


def workspace_items(ws: Workspace) -> list[dict[str, Any]]:
    """Every item of an open workspace, ordered by name (code points, on either database)."""
    with ws.db.read() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(items))]
    for r in rows:
        r["metadata"] = json.loads(r["metadata"])
    return sorted(rows, key=lambda r: str(r["name"]))


def item_rows(root: Path) -> list[dict[str, Any]]:
    """Every item under the workspace at `root`, ordered by name."""
    with Workspace.open(root) as ws:
        return workspace_items(ws)

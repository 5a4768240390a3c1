"""The items table of a workspace as plain dicts (metadata parsed), for the ingest tests."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any


def item_rows(root: Path) -> list[dict[str, Any]]:
    """Every item under the workspace at `root`, ordered by name."""
    con = sqlite3.connect(root / ".assay" / "assay.db")
    con.row_factory = sqlite3.Row
    rows = [dict(r) for r in con.execute("SELECT * FROM items ORDER BY name")]
    con.close()
    for r in rows:
        r["metadata"] = json.loads(r["metadata"])
    return rows

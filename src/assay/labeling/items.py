"""Items as a labeler sees them: metadata, text and bytes, behind need-to-know."""

from __future__ import annotations

from typing import Any

from assay.domain.canonical import read_metadata
from assay.labeling._access import visible_item
from assay.labeling.users import User
from assay.workspace import Workspace

MAX_TEXT = 2_000_000


def item_view(ws: Workspace, row: Any) -> dict[str, Any]:
    """The JSON shape of an item for the API (text items carry their text)."""
    out: dict[str, Any] = {
        "id": row.id,
        "media_type": row.media_type,
        "width": row.width,
        "height": row.height,
        "marking": row.marking,
        "name": row.name,
        "size": row.size,
        "metadata": read_metadata(row.metadata),
        "text": None,
    }
    if row.media_type.startswith("text/") and row.size <= MAX_TEXT:
        out["text"] = item_text(ws, row.id)
    return out


def item_text(ws: Workspace, item_id: str) -> str:
    """A text item's text as the API serves it: span offsets count its characters."""
    return ws.blobs.get_bytes(item_id).decode("utf-8", errors="replace")


def get_item(ws: Workspace, user: User, item_id: str) -> dict[str, Any]:
    with ws.db.read() as conn:
        row = visible_item(conn, ws.scheme, user, item_id)
    return item_view(ws, row)


def item_blob(ws: Workspace, user: User, item_id: str) -> tuple[bytes, str]:
    """The item's bytes and media type; missing and not-cleared look the same (404)."""
    with ws.db.read() as conn:
        row = visible_item(conn, ws.scheme, user, item_id)
    return ws.blobs.get_bytes(row.id), str(row.media_type)

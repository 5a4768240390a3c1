"""Item metadata and bytes, behind need-to-know (not cleared looks like missing: 404)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from assay.labeling.items import get_item, item_blob
from assay.server.deps import CurrentUser, WorkspaceDep

router = APIRouter(tags=["items"])


@router.get("/items/{item_id}")
def item(item_id: str, ws: WorkspaceDep, user: CurrentUser) -> Any:
    return get_item(ws, user, item_id)


@router.get("/items/{item_id}/blob")
def blob(item_id: str, ws: WorkspaceDep, user: CurrentUser) -> Response:
    data, media_type = item_blob(ws, user, item_id)
    return Response(
        data,
        media_type=media_type,
        headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )

"""Item metadata and bytes, behind need-to-know (not cleared looks like missing: 404)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from assay.ingest import IMAGE_TYPES, TEXT_TYPES
from assay.ingest.sensors.options import COG_MEDIA_TYPE, SCENE_TYPES, VIDEO_TYPES
from assay.labeling.items import get_item, item_blob
from assay.server.api_models import ItemView, statuses
from assay.server.deps import CurrentUser, WorkspaceDep

router = APIRouter(tags=["items"])
MEDIA_TYPES = sorted({*IMAGE_TYPES.values(), *TEXT_TYPES.values()})
# What an item's bytes may be answered as: media types assigned by assay's own readers,
# none of which a browser runs. Any other type stored on an item (an import before imports
# checked it) is answered as a download: `text/html` or `text/javascript` from this origin
# would run as a page or a script of the site (`script-src 'self'` admits it).
SERVED_TYPES = frozenset(
    {*MEDIA_TYPES, *VIDEO_TYPES.values(), *SCENE_TYPES.values(), COG_MEDIA_TYPE}
)


@router.get("/items/{item_id}", response_model=ItemView, responses=statuses(404))
def item(item_id: str, ws: WorkspaceDep, user: CurrentUser) -> Any:
    return get_item(ws, user, item_id)


@router.get(
    "/items/{item_id}/blob",
    response_class=Response,
    responses={
        200: {
            "description": "The item's bytes, in its own media type.",
            "content": {
                t: {"schema": {"type": "string", "format": "binary"}}
                for t in [*MEDIA_TYPES, "application/octet-stream"]
            },
        },
        **statuses(404),
    },
)
def blob(item_id: str, ws: WorkspaceDep, user: CurrentUser) -> Response:
    data, media_type = item_blob(ws, user, item_id)
    headers = {"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"}
    if media_type not in SERVED_TYPES:
        media_type = "application/octet-stream"
        headers["Content-Disposition"] = "attachment"
    return Response(data, media_type=media_type, headers=headers)

"""The dataset explorer's API: grid pages, item views, diffs, evaluation runs, thumbnails."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from assay.explore import ExploreQuery, diff_page, explore_page, item_detail, runs_of, thumbnail
from assay.explore.grid import resolve_visible
from assay.server.deps import CurrentUser, WorkspaceDep

router = APIRouter(tags=["explorer"])


@router.get("/explore/{dataset}", response_model=dict[str, Any])
def grid(
    dataset: str, q: Annotated[ExploreQuery, Query()], ws: WorkspaceDep, user: CurrentUser
) -> Any:
    """A filtered page of a dataset revision's items, with labels for overlays."""
    return explore_page(ws, user, dataset, q)


@router.get("/explore/{dataset}/items/{item_id}", response_model=dict[str, Any])
def item(dataset: str, item_id: str, ws: WorkspaceDep, user: CurrentUser, rev: str = "") -> Any:
    """An item with its labels of record at `rev` and every annotation with its provenance."""
    return item_detail(ws, user, dataset, item_id, rev)


@router.get("/explore/{dataset}/diff", response_model=dict[str, Any])
def diff(
    dataset: str,
    ws: WorkspaceDep,
    user: CurrentUser,
    a: str = "",
    b: str = "",
    change: Literal["added", "removed", "changed"] | None = None,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    """Items that differ between revisions `a` and `b` (empty: the working state)."""
    return diff_page(ws, user, dataset, a, b, change=change, offset=offset, limit=limit)


@router.get("/explore/{dataset}/runs", response_model=list[dict[str, Any]] | dict[str, Any])
def runs(dataset: str, ws: WorkspaceDep, user: CurrentUser) -> Any:
    """Recorded detection runs on the dataset, for the evaluation-outcome filter."""
    resolve_visible(ws, user, dataset, "")
    return runs_of(ws, dataset, user)


@router.get(
    "/items/{item_id}/thumb",
    response_class=Response,
    responses={
        200: {
            "description": "JPEG, longer side 256 px.",
            "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
def thumb(item_id: str, ws: WorkspaceDep, user: CurrentUser) -> Response:
    """The item's thumbnail (JPEG, longer side 256 px), made once and kept in the blob store."""
    return Response(
        thumbnail(ws, user, item_id),
        media_type="image/jpeg",
        headers={"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )

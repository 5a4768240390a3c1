"""Fused pictures for the reader's clearance: GeoJSON, Lattice-shaped JSON, CoT, one entity with
its provenance, and the live stream (server-sent events) behind the map."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from assay.feeds import views
from assay.server._stream_slots import StreamSlots
from assay.server.api_models import EntityDetail, EntityFeatures, LatticeEntities, statuses
from assay.server.deps import CurrentUser, WorkspaceDep

router = APIRouter(tags=["pictures"])

REV = Query(None, description="a version: a number, HEAD~N or an id prefix (default: newest)")


def _spec(name: str, rev: str | None) -> str:
    return f"{name}@{rev}" if rev else name


@router.get("/pictures/{name}/entities", response_model=EntityFeatures, responses=statuses(404))
def entities(name: str, ws: WorkspaceDep, user: CurrentUser, rev: str | None = REV) -> Any:
    """The entities the caller may see, as a GeoJSON FeatureCollection."""
    return views.feature_collection(ws, user.clearance, _spec(name, rev))


@router.get(
    "/pictures/{name}/entities/{entity_id}",
    response_model=EntityDetail,
    responses=statuses(404),
)
def entity(
    name: str, entity_id: str, ws: WorkspaceDep, user: CurrentUser, rev: str | None = REV
) -> Any:
    """One entity, with its provenance opened: frames and their boxes, models, commits."""
    return views.entity_detail(ws, user.clearance, _spec(name, rev), entity_id)


@router.get("/pictures/{name}/lattice", response_model=LatticeEntities, responses=statuses(404))
def lattice(name: str, ws: WorkspaceDep, user: CurrentUser, rev: str | None = REV) -> Any:
    """The entities as JSON shaped like Lattice's public entity model."""
    return views.lattice_collection(ws, user.clearance, _spec(name, rev))


@router.get(
    "/pictures/{name}/cot",
    response_class=Response,
    responses={
        200: {
            "description": "Cursor-on-Target events, one per entity, in an <events> element.",
            "content": {"application/xml": {"schema": {"type": "string"}}},
        },
        **statuses(404),
    },
)
def cot(name: str, ws: WorkspaceDep, user: CurrentUser, rev: str | None = REV) -> Response:
    return Response(
        views.cot_document(ws, user.clearance, _spec(name, rev)), media_type="application/xml"
    )


@router.get(
    "/pictures/{name}/stream",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Server-sent events: upsert (a GeoJSON feature), remove ({id}), "
            "version ({version, marking, entities}); the stream ends after `seconds`.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **statuses(404, 429),
    },
)
async def stream(
    name: str,
    request: Request,
    ws: WorkspaceDep,
    user: CurrentUser,
    seconds: float = Query(30.0, gt=0, le=3600, description="how long the stream stays open"),
    interval: float = Query(1.0, ge=0.1, le=60, description="seconds between looks"),
) -> StreamingResponse:
    """The picture live: every entity first, then what changes, as it changes. A user holds
    a few streams at once (the server's `max_streams_per_user`); one more is answered 429."""
    import asyncio

    # A missing or hidden picture answers 404 before the stream starts.
    await asyncio.to_thread(views.visible_picture, ws, user.clearance, name)
    slots: StreamSlots = request.app.state.streams
    events = views.sse_stream(ws, user.clearance, name, interval=interval, seconds=seconds)
    return StreamingResponse(
        slots.hold(user.id, events),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )

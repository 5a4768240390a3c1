"""Video tasks: a video's frame tasks with telemetry, and its tracks saved in one request."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from assay.labeling import video
from assay.server._task_refs import refs, with_ref
from assay.server.api_models import TracksSaved, VideoSummary, VideoTask, statuses
from assay.server.deps import CurrentUser, WorkspaceDep, in_writer

router = APIRouter(tags=["video"])


class TracksBody(BaseModel):
    client_id: str = Field(min_length=1, max_length=100)
    tracks: list[dict[str, Any]] = Field(default_factory=list)


@router.get(
    "/projects/{project}/videos", response_model=list[VideoSummary], responses=statuses(403, 404)
)
def videos(project: str, ws: WorkspaceDep, user: CurrentUser) -> Any:
    """The videos whose frames are tasks of the project (frames the user may see)."""
    return video.list_videos(ws, user, project)


@router.get(
    "/projects/{project}/videos/{video_id}",
    response_model=VideoTask,
    responses=statuses(403, 404),
)
def video_task(
    project: str, video_id: str, request: Request, ws: WorkspaceDep, user: CurrentUser
) -> Any:
    """Frames in playback order with telemetry and footprint, and the tracks to show."""
    found = video.load_video(ws, user, project, video_id)
    r = refs(request)
    found["frames"] = [with_ref(r, f) for f in found["frames"]]
    return found


@router.post(
    "/projects/{project}/videos/{video_id}/tracks",
    response_model=TracksSaved,
    responses=statuses(403, 404, 409),
)
async def save_tracks(
    project: str,
    video_id: str,
    body: TracksBody,
    request: Request,
    ws: WorkspaceDep,
    user: CurrentUser,
) -> Any:
    """Store the tracks as per-frame regions (one annotation per frame task)."""
    tracks = video.tracks_from_json(body.tracks)
    return await in_writer(
        request, lambda: video.save_video(ws, user, project, video_id, body.client_id, tracks)
    )

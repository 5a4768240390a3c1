"""Submitting, skipping and reviewing tasks; every body carries a client-made id."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from assay.domain.labels import Region
from assay.labeling import active
from assay.labeling import review as rev
from assay.labeling.history import amend as amend_answer
from assay.labeling.history import my_answer
from assay.labeling.queue import skip_task
from assay.labeling.submit import check_submission, submit_in
from assay.labeling.users import User
from assay.server._task_refs import refs, speaking_of, with_ref
from assay.server.api_models import Reviewed, Skipped, Submitted, statuses
from assay.server.deps import CurrentUser, WorkspaceDep, current_user, hot_write, in_writer
from assay.workspace import Workspace

router = APIRouter(tags=["tasks"])


class SubmitBody(BaseModel):
    client_id: str = Field(min_length=1, max_length=100)
    regions: list[Region] = Field(default_factory=list)
    lead_time: float | None = Field(default=None, ge=0, le=86_400 * 7)
    model_assisted: bool = False


class SkipBody(BaseModel):
    client_id: str = Field(min_length=1, max_length=100)
    reason: str = ""


class ReviewBody(BaseModel):
    client_id: str = Field(min_length=1, max_length=100)
    decision: Literal["accept", "fix", "reject"]
    annotation_id: str | None = None
    regions: list[Region] | None = None
    comment: str = ""


@router.post("/tasks/{task_id}/submit", response_model=Submitted, responses=statuses(403, 404, 409))
async def submit_(task_id: str, body: SubmitBody, request: Request) -> Response:
    """Store an answer once; a retry with the same client_id returns duplicate=true."""
    # The hot path resolves the caller itself: each FastAPI dependency costs a resolution.
    ws, user = request.app.state.workspace, await current_user(request)
    check_submission(user, body.client_id, body.lead_time)
    tid = refs(request).decode(task_id)
    with speaking_of(task_id, tid):
        result = await hot_write(
            request,
            lambda tx: submit_in(
                tx,
                ws,
                user,
                tid,
                body.client_id,
                body.regions,
                body.lead_time,
                body.model_assisted,
            ),
        )
    if not result.get("duplicate"):  # active-learning projects refit every N labels
        await in_writer(request, lambda: active.after_submit(ws, tid))
    return JSONResponse(result)


@router.post("/tasks/{task_id}/skip", response_model=Skipped, responses=statuses(403, 404, 409))
async def skip(
    task_id: str, body: SkipBody, request: Request, ws: WorkspaceDep, user: CurrentUser
) -> Any:
    tid = refs(request).decode(task_id)
    with speaking_of(task_id, tid):
        return await in_writer(
            request, lambda: skip_task(ws, user, tid, body.client_id, body.reason)
        )


@router.post("/tasks/{task_id}/review", response_model=Reviewed, responses=statuses(403, 404, 409))
async def review(
    task_id: str, body: ReviewBody, request: Request, ws: WorkspaceDep, user: CurrentUser
) -> Any:
    """Accept an annotation, fix and accept it, or reject the task's work with a comment."""
    tid = refs(request).decode(task_id)
    with speaking_of(task_id, tid):
        return await in_writer(request, lambda: _decide(ws, user, tid, body))


def _decide(ws: Workspace, user: User, task_id: int, body: ReviewBody) -> Any:
    return rev.decide(
        ws,
        user,
        task_id,
        body.client_id,
        body.decision,
        annotation_id=body.annotation_id,
        regions=body.regions,
        comment=body.comment,
    )


class AmendBody(BaseModel):
    client_id: str = Field(min_length=1, max_length=100)
    regions: list[Region] = Field(default_factory=list)
    lead_time: float | None = None


@router.get("/tasks/{task_id}/mine", response_model=dict[str, Any], responses=statuses(404))
def mine(task_id: str, request: Request, ws: WorkspaceDep, user: CurrentUser) -> Any:
    """Reopen a task this user submitted: the item and their current answer."""
    r = refs(request)
    tid = r.decode(task_id)
    with speaking_of(task_id, tid):
        return with_ref(r, my_answer(ws, user, tid))


@router.post("/tasks/{task_id}/amend", response_model=dict[str, Any], responses=statuses(404, 409))
async def amend(
    task_id: str, body: AmendBody, request: Request, ws: WorkspaceDep, user: CurrentUser
) -> Any:
    """Replace this user's answer with a new annotation that supersedes it (409 once reviewed)."""
    r = refs(request)
    tid = r.decode(task_id)
    with speaking_of(task_id, tid):
        result = await in_writer(
            request,
            lambda: amend_answer(
                ws, user, tid, body.client_id, body.regions, lead_time=body.lead_time
            ),
        )
    return with_ref(r, result)

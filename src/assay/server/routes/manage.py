"""The data manager's API: task list with filters, one task, bulk actions; project set-up."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from assay.errors import AssayError
from assay.labeling.bulk import MAX_TASKS, Action, bulk_action
from assay.labeling.setup import (
    NewProject,
    NewUser,
    add_user_by,
    create_from_form,
    datasets_for,
    preview_schema,
    users_for,
)
from assay.labeling.tasklist import TaskQuery, list_tasks
from assay.labeling.taskview import task_view
from assay.server._task_refs import refs, speaking_of, with_ref
from assay.server.api_models import statuses
from assay.server.deps import CurrentUser, WorkspaceDep, in_writer

router = APIRouter(tags=["data manager"])


class BulkBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Action
    task_ids: list[str] = Field(min_length=1, max_length=MAX_TASKS, description="task references")
    to_user: str | None = None


class SchemaBody(BaseModel):
    yaml: str = Field(max_length=200_000)


@router.get("/projects/{project}/tasks", response_model=dict[str, Any])
def tasks(
    project: str,
    q: Annotated[TaskQuery, Query()],
    request: Request,
    ws: WorkspaceDep,
    user: CurrentUser,
) -> Any:
    """A page of the project's tasks, filtered and sorted by the server."""
    page = list_tasks(ws, user, project, q)
    r = refs(request)
    page["tasks"] = [{**t, "id": r.encode(int(t["id"]))} for t in page["tasks"]]
    return page


@router.get("/projects/{project}/tasks/{task_id}", response_model=dict[str, Any])
def task(project: str, task_id: str, request: Request, ws: WorkspaceDep, user: CurrentUser) -> Any:
    """One task with its item, every answer and its provenance, assignments and reviews."""
    tid = refs(request).decode(task_id)
    with speaking_of(task_id, tid):
        return with_ref(refs(request), task_view(ws, user, project, tid))


@router.post(
    "/projects/{project}/tasks/bulk", response_model=dict[str, Any], responses=statuses(409)
)
async def bulk(
    project: str, body: BulkBody, request: Request, ws: WorkspaceDep, user: CurrentUser
) -> Any:
    """Reassign, reset to the queue, send to review or mark as gold (audited)."""
    r = refs(request)
    ids = {r.decode(ref): ref for ref in body.task_ids}
    try:
        done = await in_writer(
            request,
            lambda: bulk_action(ws, user, project, body.action, list(ids), to_user=body.to_user),
        )
    except AssayError as exc:
        text = str(exc)
        for tid, ref in ids.items():
            text = re.sub(rf"\btask {tid}\b", f"task {ref}", text)
        exc.args = (text,)
        raise
    return {
        "action": done["action"],
        "applied": [ids[i] for i in done["applied"]],
        "refused": {ids[i]: why for i, why in done["refused"].items()},
    }


@router.post("/projects", response_model=dict[str, Any], responses=statuses(409))
async def create(body: NewProject, request: Request, ws: WorkspaceDep, user: CurrentUser) -> Any:
    """Create a project on a dataset revision (managers)."""
    p = await in_writer(request, lambda: create_from_form(ws, user, body))
    return {"name": p.name, "title": p.title, "dataset": p.dataset}


@router.get("/datasets", response_model=list[dict[str, Any]] | dict[str, Any])
def datasets(ws: WorkspaceDep, user: CurrentUser) -> Any:
    """Datasets the caller is cleared for, with tags and recent commits."""
    return datasets_for(ws, user)


@router.post("/schema/preview", response_model=dict[str, Any])
def schema_preview(body: SchemaBody, user: CurrentUser) -> Any:
    """Check a schema written as YAML; 400 names the field at fault."""
    user.require("manage")
    return preview_schema(body.yaml)


@router.get("/users", response_model=list[dict[str, Any]] | dict[str, Any])
def list_users(ws: WorkspaceDep, user: CurrentUser) -> Any:
    return users_for(ws, user)


@router.post("/users", response_model=dict[str, Any], responses=statuses(409))
async def add_user(body: NewUser, request: Request, ws: WorkspaceDep, user: CurrentUser) -> Any:
    return await in_writer(request, lambda: add_user_by(ws, user, body))

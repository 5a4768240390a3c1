"""Projects, the annotation queue, the review queue and dashboards."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from assay.labeling import review as rev
from assay.labeling._tx import tx_for
from assay.labeling.catalog import (
    dataset_marking_of,
    declared_marking,
    list_projects,
    project_marking,
    visible_project,
)
from assay.labeling.dashboard import dashboard as project_dashboard
from assay.labeling.history import my_history
from assay.labeling.queue import lease_next
from assay.server._task_refs import refs, with_ref
from assay.server.api_models import (
    Dashboard,
    Lease,
    ProjectDetail,
    ProjectSummary,
    ReviewTask,
    statuses,
)
from assay.server.deps import CurrentUser, WorkspaceDep, current_user, hot_write, in_writer

router = APIRouter(tags=["projects"])


@router.post(
    "/projects/{project}/next", response_model=Lease, responses=statuses(204, 403, 404, 409)
)
async def next_(project: str, request: Request) -> Response:
    """Lease the next task for this user (204 when none is left)."""
    # The hot path resolves the caller itself: each FastAPI dependency costs a resolution.
    ws, user = request.app.state.workspace, await current_user(request)
    lease = await hot_write(request, lambda tx: lease_next(tx, ws, user, project, time.time()))
    if lease is None:
        return Response(status_code=204)
    return JSONResponse(with_ref(refs(request), lease.to_dict()))


@router.get("/projects", response_model=list[ProjectSummary])
def projects(ws: WorkspaceDep, user: CurrentUser) -> Any:
    """Projects with the task counts this user is cleared to see."""
    return list_projects(ws, user)


@router.get("/projects/{project}", response_model=ProjectDetail, responses=statuses(404))
def project(project: str, ws: WorkspaceDep, user: CurrentUser) -> Any:
    """A project's title, schema, instructions and workflow (404 as if missing when the
    caller is below its marking)."""
    with ws.db.read() as conn:
        p = visible_project(conn, ws, user, project)
        tx = tx_for(conn)
        of_dataset = dataset_marking_of(tx, p)  # read once for both
        marking = ws.scheme.render(project_marking(tx, ws.scheme, p, None, of_dataset))
        declared = ws.scheme.render(declared_marking(tx, ws.scheme, p, of_dataset))
    d = p.to_dict()
    return {
        "name": d["name"],
        "marking": marking,
        "declared_marking": declared,
        "title": d["title"],
        "dataset": d["dataset"],
        "schema": d["schema"],
        "instructions": d["instructions"],
        "instructions_html": d["instructions_html"],
        "workflow": {
            "overlap": p.workflow.overlap,
            "gold_share": p.workflow.gold_share,
            "review": p.workflow.review,
            "self_review": p.workflow.self_review,
        },
    }


@router.get("/projects/{project}/mine", response_model=dict[str, Any], responses=statuses(403, 404))
def mine(project: str, request: Request, ws: WorkspaceDep, user: CurrentUser) -> Any:
    """This user's progress ("task N of M") and the tasks they submitted, newest first."""
    r = refs(request)
    found = my_history(ws, user, project)
    return {**found, "history": [with_ref(r, t) for t in found["history"]]}


@router.post(
    "/projects/{project}/review/next",
    response_model=ReviewTask,
    responses=statuses(204, 403, 404),
)
async def review_next(project: str, request: Request, ws: WorkspaceDep, user: CurrentUser) -> Any:
    """The next task waiting for review, with all its annotations (204 when none)."""
    found = await in_writer(request, lambda: rev.review_next(ws, user, project))
    if found is None:
        return Response(status_code=204)
    return with_ref(refs(request), found)


@router.get("/projects/{project}/dashboard", response_model=Dashboard, responses=statuses(403, 404))
def dashboard(project: str, ws: WorkspaceDep, user: CurrentUser) -> Any:
    return project_dashboard(ws, user, project)

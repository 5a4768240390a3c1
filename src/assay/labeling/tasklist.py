"""The data manager's task list: server-side filters, sorting and paging over a project's tasks.

Every query runs in SQL against the tasks table and its indexes; only the rows of the page
are enriched (annotators, skip reasons, pre-label confidence). Agreement is the one filter
that needs scoring in Python; its per-task scores are kept per process and recomputed only
for tasks whose answer count changed. `total` counts every task that matched, `gold` the gold
tasks among them: gold tasks are not work, and the page counts them apart, as the dashboard
and the project list do.

Example:
    >>> TaskQuery(status="done", sort="-confidence").limit
    50
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, Integer, and_, case, cast, func, select
from sqlalchemy.engine import Connection

from assay.labeling._access import marking_filter
from assay.labeling._tx import tx_for
from assay.labeling.catalog import open_project
from assay.labeling.prelabels import made_for
from assay.labeling.projects import Project
from assay.labeling.task_agreement import agreeing_below
from assay.labeling.users import User
from assay.store.schema import annotations_table as ann_t
from assay.store.schema import assignments, items, project_markings, tasks, users
from assay.workspace import Workspace

Status = Literal["new", "in_progress", "done", "skipped"]
SORTS = ("id", "confidence", "done", "marking", "review")
Sort = Literal[
    "id", "-id", "confidence", "-confidence", "done", "-done", "marking", "-marking", "review"
]
MAX_LIMIT = 500


class TaskQuery(BaseModel):
    """Filters, sort and page of the data manager; every filter is optional."""

    model_config = ConfigDict(extra="forbid")

    status: Status | None = None
    annotator: str | None = None
    label: str | None = Field(
        default=None, description="a class some answer or review in the project used"
    )
    agreement_below: float | None = Field(default=None, ge=0.0, le=1.0)
    gold: bool | None = None
    review: Literal["none", "pending", "accepted", "rejected"] | None = None
    skip_reason: str | None = Field(default=None, description="text in a skip reason")
    marking: str | None = None
    confidence_below: float | None = Field(default=None, ge=0.0, le=1.0)
    confidence_above: float | None = Field(default=None, ge=0.0, le=1.0)
    sort: Sort = "id"
    offset: int = Field(default=0, ge=0, le=2**62)  # SQLite holds 64-bit integers
    limit: int = Field(default=50, ge=1, le=MAX_LIMIT)


def manageable_project(ws: Workspace, conn: Connection, user: User, name: str) -> Project:
    """The project when `user` may manage tasks in it, else NotFound.

    Need-to-know: a viewer below the project's marking (its tasks', its own declared and its
    dataset's declared marking, `assay.labeling.catalog`) gets what a missing project gets.
    """
    user.require("review")
    return open_project(tx_for(conn), ws, user, name)


def _present(conn: Connection, project_id: int) -> list[str]:
    """The markings among the project's tasks, read now (markings can rise while we serve)."""
    return [
        str(m)
        for m in conn.execute(
            select(project_markings.c.marking).where(project_markings.c.project_id == project_id)
        ).scalars()
    ]


def _visible(ws: Workspace, user: User, markings: list[str]) -> list[str]:
    return [m for m in markings if ws.scheme.allows(user.clearance, ws.scheme.parse(m))]


def _full(p: Project) -> ColumnElement[bool]:
    return tasks.c.done >= func.coalesce(tasks.c.target, p.workflow.overlap)


def _user_id(conn: Connection, name: str) -> int:
    uid = conn.execute(select(users.c.id).where(users.c.name == name)).scalar()
    return int(uid) if uid is not None else -1


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _conditions(
    ws: Workspace, conn: Connection, user: User, p: Project, q: TaskQuery
) -> list[ColumnElement[bool]]:
    present = _present(conn, p.id)
    allowed = _visible(ws, user, present)
    cond: list[ColumnElement[bool]] = [tasks.c.project_id == p.id]
    if len(allowed) < len(present):  # all visible: no filter to pay for
        cond.append(marking_filter(tasks.c.marking, allowed))
    if q.marking is not None:
        cond.append(tasks.c.marking == q.marking)
    if q.gold is not None:
        cond.append(tasks.c.is_gold == int(q.gold))
    if q.review == "none":
        cond.append(tasks.c.review.is_(None))
    elif q.review is not None:
        cond.append(tasks.c.review == q.review)
    full = _full(p)
    if q.status == "new":
        cond += [tasks.c.done == 0, tasks.c.active == 0]
    elif q.status == "in_progress":
        cond += [~full, tasks.c.active > 0]
    elif q.status == "done":
        cond.append(full)
    mine = assignments.c.project_id == p.id
    if q.status == "skipped" or q.skip_reason:
        skipped = and_(mine, assignments.c.state == "skipped")
        if q.skip_reason:
            skipped = and_(skipped, assignments.c.reason.like(_like(q.skip_reason), escape="\\"))
        cond.append(tasks.c.id.in_(select(assignments.c.task_id).where(skipped)))
    if q.annotator:
        held = assignments.c.state.in_(("leased", "submitted", "skipped"))
        uid = _user_id(conn, q.annotator)
        cond.append(
            tasks.c.id.in_(
                select(assignments.c.task_id).where(mine, assignments.c.user_id == uid, held)
            )
        )
    if q.label:
        needle = json.dumps({"label": q.label}, separators=(",", ":"))[1:-1]
        # Any answer or review decision given in this project (tasks are one per item): one
        # pass over the annotations, rather than a lookup per current answer.
        cond.append(
            tasks.c.item_id.in_(
                select(ann_t.c.item_id).where(
                    ann_t.c.project == p.name,
                    ann_t.c.kind.in_(("human", "review")),
                    _position(conn, ann_t.c.payload, needle) > 0,
                )
            )
        )
    if q.confidence_below is not None:
        cond.append(tasks.c.priority <= q.confidence_below)
    if q.confidence_above is not None:
        cond.append(tasks.c.priority >= q.confidence_above)
    return cond


def _position(conn: Connection, haystack: Any, needle: str) -> Any:
    """Where `needle` starts in `haystack` (1-based, 0 when absent), case-sensitive as LIKE
    is not on SQLite: SQLite's instr, PostgreSQL's strpos."""
    find = func.strpos if conn.dialect.name == "postgresql" else func.instr
    return find(haystack, needle)


def _order(q: TaskQuery) -> list[Any]:
    key = q.sort.lstrip("-")
    col = {
        "id": tasks.c.id,
        "confidence": tasks.c.priority,
        "done": tasks.c.done,
        "marking": tasks.c.marking,
        "review": tasks.c.review,
    }[key]
    first = col.desc() if q.sort.startswith("-") else col.asc()
    return [first] if key == "id" else [first, tasks.c.id.asc()]


def list_tasks(ws: Workspace, user: User, project: str, q: TaskQuery) -> dict[str, Any]:
    """One page of `project`'s tasks as `user` may see them, with the total that matched."""
    with ws.db.read() as conn:
        p = manageable_project(ws, conn, user, project)
        cond = _conditions(ws, conn, user, p, q)
        if q.agreement_below is not None:
            ids = agreeing_below(ws, conn, p, cond, _order(q), q.agreement_below)
            total = len(ids)
            gold_rows = conn.execute(select(tasks.c.id).where(*cond, tasks.c.is_gold == 1))
            gold_ids = set(gold_rows.scalars())
            gold = sum(1 for i in ids if i in gold_ids)
            page_ids = ids[q.offset : q.offset + q.limit]
            rows = _task_rows(conn, [tasks.c.id.in_(page_ids)], _order(q), 0, len(page_ids))
        else:
            is_gold = cast(case((tasks.c.is_gold == 1, 1), else_=0), Integer)
            total, gold = conn.execute(
                select(func.count(), func.coalesce(func.sum(is_gold), 0))
                .select_from(tasks)
                .where(*cond)
            ).one()
            rows = _task_rows(conn, cond, _order(q), q.offset, q.limit)
        page = _enrich(ws, conn, p, rows)
        markings = _visible(ws, user, _present(conn, p.id))
    return {
        "project": p.name,
        "marking": ws.scheme.highest_text(markings) if markings else None,
        "total": int(total),
        "gold": int(gold),
        "offset": q.offset,
        "limit": q.limit,
        "tasks": page,
        "facets": {
            "markings": sorted(markings),
            "labels": sorted({lab.name for c in p.schema.controls for lab in c.labels}),
        },
    }


def _task_rows(
    conn: Connection, cond: list[Any], order: list[Any], offset: int, limit: int
) -> list[Any]:
    """The page's rows: ids picked on the tasks table alone, then joined with their items
    (a join before OFFSET would look up the item of every skipped row)."""
    ids = list(
        conn.execute(
            select(tasks.c.id).where(*cond).order_by(*order).offset(offset).limit(limit)
        ).scalars()
    )
    if not ids:
        return []
    full_target = tasks.c.target
    found = {
        r.id: r
        for r in conn.execute(
            select(
                tasks.c.id,
                tasks.c.item_id,
                tasks.c.marking,
                tasks.c.is_gold,
                tasks.c.priority,
                tasks.c.active,
                tasks.c.done,
                full_target,
                tasks.c.review,
                items.c.name,
                items.c.media_type,
            )
            .join(items, items.c.id == tasks.c.item_id)
            .where(tasks.c.id.in_(ids))
        ).all()
    }
    return [found[i] for i in ids]


def _enrich(ws: Workspace, conn: Connection, p: Project, rows: list[Any]) -> list[dict[str, Any]]:
    ids = [r.id for r in rows]
    people: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for a in conn.execute(
        select(assignments.c.task_id, users.c.name, assignments.c.state, assignments.c.reason)
        .join(users, users.c.id == assignments.c.user_id)
        .where(assignments.c.task_id.in_(ids))
        .order_by(assignments.c.id)
    ):
        people[a.task_id].append({"user": a.name, "state": a.state, "reason": a.reason})
    with_model = set(
        conn.execute(
            select(ann_t.c.item_id).where(
                ann_t.c.item_id.in_([r.item_id for r in rows]), made_for(p.name)
            )
        ).scalars()
    )
    overlap = p.workflow.overlap
    out = []
    for r in rows:
        target = r.target if r.target is not None else overlap
        status = "done" if r.done >= target else "in_progress" if r.active > 0 else "new"
        if status == "new" and any(a["state"] == "skipped" for a in people[r.id]):
            status = "skipped"
        out.append(
            {
                "id": r.id,
                "item_id": r.item_id,
                "name": r.name,
                "media_type": r.media_type,
                "marking": r.marking,
                "status": status,
                "done": r.done,
                "target": target,
                "gold": bool(r.is_gold),
                "review": r.review,
                "confidence": round(float(r.priority), 4) if r.item_id in with_model else None,
                "assignments": people[r.id],
            }
        )
    return out


__all__ = ["SORTS", "TaskQuery", "list_tasks", "manageable_project"]

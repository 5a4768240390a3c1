"""Bulk actions of the data manager: reassign, reset to the queue, send to review, mark gold.

Each action runs in one transaction over the tasks named, all of which must be visible to
the actor (one hidden or unknown id refuses the whole request, with the same message as a
missing task), and leaves one audit event. Tasks an action cannot apply to are reported
back by id with the reason, never dropped silently.

Annotations are never touched: a reset marks the task's assignments `reset`, so the
answers stay in the record but no longer count toward the task.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.engine import Connection

from assay import audit
from assay.domain.labels import payload_from_json, payload_to_json
from assay.errors import InvalidInput, NotFound
from assay.labeling._db import write
from assay.labeling.projects import Project
from assay.labeling.queue import open_flag
from assay.labeling.tasklist import manageable_project
from assay.labeling.users import User, get_user
from assay.store.schema import annotations_table as ann_t
from assay.store.schema import assignments, reviews, tasks
from assay.workspace import Workspace

Action = Literal["reassign", "reset", "review", "gold"]
MAX_TASKS = 10_000
# An action's lowest role: sending to review is a reviewer's call, the rest a manager's.
NEEDS = {"reassign": "manage", "reset": "manage", "review": "review", "gold": "manage"}


def bulk_action(
    ws: Workspace,
    user: User,
    project: str,
    action: Action,
    task_ids: list[int],
    *,
    to_user: str | None = None,
) -> dict[str, Any]:
    """Apply `action` to the tasks; returns {"action", "applied": [...], "refused": {id: why}}."""
    user.require("manage" if NEEDS[action] == "manage" else "review")
    if not task_ids:
        raise InvalidInput("task_ids: choose at least one task")
    if len(task_ids) > MAX_TASKS:
        raise InvalidInput(f"task_ids: at most {MAX_TASKS} tasks per request")
    ids = sorted(set(task_ids))
    with write(ws.db) as conn:
        p = manageable_project(ws, conn, user, project)
        rows = _visible_rows(ws, conn, user, p, ids)
        refused: dict[int, str] = {}
        details: dict[str, Any] = {"project": p.name, "tasks": ids}
        if action == "reassign":
            if not to_user:
                raise InvalidInput("to_user: reassign needs the user to give the tasks to")
            target = get_user(ws, conn, to_user)
            refused = _reassign(ws, conn, p, rows, target)
            details["to"] = target.name
        elif action == "reset":
            _reset(conn, ids)
        elif action == "review":
            refused = _to_review(conn, rows)
        else:
            refused = _gold(conn, rows)
        applied = [i for i in ids if i not in refused]
        details["refused"] = {str(k): v for k, v in refused.items()}
        audit.append(conn, user.actor, f"tasks.{action}", f"project:{p.name}", details)
    return {"action": action, "applied": applied, "refused": refused}


def _visible_rows(
    ws: Workspace, conn: Connection, user: User, p: Project, ids: list[int]
) -> dict[int, Any]:
    rows: dict[int, Any] = {}
    for start in range(0, len(ids), 900):
        for r in conn.execute(select(tasks).where(tasks.c.id.in_(ids[start : start + 900]))).all():
            rows[r.id] = r
    for i in ids:
        found = rows.get(i)
        if (
            found is None
            or found.project_id != p.id
            or not ws.scheme.allows(user.clearance, ws.scheme.parse(found.marking))
        ):
            raise NotFound(f"no task {i}")
    return rows


def _reassign(
    ws: Workspace, conn: Connection, p: Project, rows: dict[int, Any], target: User
) -> dict[int, str]:
    """Take live leases back and lease each task to `target` for the project's lease time."""
    now = time.time()
    refused: dict[int, str] = {}
    for task_id, r in rows.items():
        if not ws.scheme.allows(target.clearance, ws.scheme.parse(r.marking)):
            refused[task_id] = f"{target.name} is not cleared for {r.marking}"
            continue
        own = conn.execute(
            select(assignments.c.state).where(
                assignments.c.task_id == task_id, assignments.c.user_id == target.id
            )
        ).scalar()
        if own in ("leased", "submitted"):
            refused[task_id] = f"{target.name} already {own} it"
            continue
        taken = conn.execute(
            assignments.update()
            .where(assignments.c.task_id == task_id, assignments.c.state == "leased")
            .values(state="expired")
        ).rowcount
        values = {"state": "leased", "leased_at": now, "expires": now + p.workflow.lease_seconds}
        if own is None:
            conn.execute(
                assignments.insert().values(
                    task_id=task_id, project_id=p.id, user_id=target.id, **values
                )
            )
        else:
            conn.execute(
                assignments.update()
                .where(assignments.c.task_id == task_id, assignments.c.user_id == target.id)
                .values(**values, finished_at=None, reason=None)
            )
        active = tasks.c.active - taken + 1
        conn.execute(
            tasks.update()
            .where(tasks.c.id == task_id)
            .values(active=active, open=open_flag(p.workflow.overlap, active))
        )
    return refused


def _reset(conn: Connection, ids: list[int]) -> None:
    """Back to the queue as new: leases and answers stop counting, review state is cleared."""
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        conn.execute(
            assignments.update()
            .where(
                assignments.c.task_id.in_(chunk),
                assignments.c.state.in_(("leased", "submitted", "skipped", "rejected")),
            )
            .values(state="reset")
        )
        conn.execute(
            tasks.update()
            .where(tasks.c.id.in_(chunk))
            .values(active=0, done=0, open=1, review=None, review_holder=None, review_expires=None)
        )


def _to_review(conn: Connection, rows: dict[int, Any]) -> dict[int, str]:
    refused: dict[int, str] = {}
    for task_id, r in rows.items():
        if r.done == 0:
            refused[task_id] = "no answer to review yet"
        elif r.review == "pending":
            refused[task_id] = "already waiting for review"
    send = [i for i in rows if i not in refused]
    for start in range(0, len(send), 900):
        conn.execute(
            tasks.update()
            .where(tasks.c.id.in_(send[start : start + 900]))
            .values(review="pending", review_holder=None, review_expires=None)
        )
    return refused


def _gold(conn: Connection, rows: dict[int, Any]) -> dict[int, str]:
    """Gold takes the task's decided labels: the last review's, else its one current answer."""
    refused: dict[int, str] = {}
    for task_id, r in rows.items():
        if r.is_gold:
            refused[task_id] = "already gold"
            continue
        payload = conn.execute(
            select(ann_t.c.payload)
            .join(reviews, reviews.c.annotation_id == ann_t.c.id)
            .where(reviews.c.task_id == task_id, reviews.c.decision != "reject")
            .order_by(reviews.c.id.desc())
            .limit(1)
        ).scalar()
        if payload is None:
            answers = list(
                conn.execute(
                    select(ann_t.c.payload)
                    .join(assignments, assignments.c.annotation_id == ann_t.c.id)
                    .where(assignments.c.task_id == task_id, assignments.c.state == "submitted")
                ).scalars()
            )
            if len(set(answers)) != 1:
                refused[task_id] = (
                    "no answer to take as gold yet"
                    if not answers
                    else f"{len(answers)} answers differ: review it first"
                )
                continue
            payload = answers[0]
        conn.execute(
            tasks.update()
            .where(tasks.c.id == task_id)
            .values(is_gold=1, gold=payload_to_json(payload_from_json(payload)), open=1)
        )
    return refused

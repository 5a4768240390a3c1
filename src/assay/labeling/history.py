"""An annotator's own work in a project: where they are, what they did, and amendments.

`progress` gives "task N of M"; `history` lists the tasks they submitted, newest first;
`my_answer` reopens one; `amend` stores a corrected answer as a NEW human annotation whose
`supersedes` names the one it replaces (annotations are never edited in place). The
assignment then points at the amendment, so every later reader (pull, aggregation, review)
sees it. A task already decided by a reviewer is not amended: the reviewer's decision rests
on the answer they saw.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Integer, and_, case, cast, func, select

from assay import audit
from assay.domain.labels import Region, payload_from_json, payload_to_json
from assay.errors import Conflict, NotFound
from assay.labeling._access import marking_filter, visible_markings
from assay.labeling._db import write
from assay.labeling._tx import tx_for
from assay.labeling.catalog import open_project, summary, visible_project
from assay.labeling.items import item_view
from assay.labeling.queue import previous, remember
from assay.labeling.submit import (
    annotation_id,
    authored,
    check_answer,
    check_submission,
    review_after_amend,
)
from assay.labeling.users import User
from assay.store.schema import annotations_table as ann_t
from assay.store.schema import assignments, items, reviews, tasks
from assay.timeutil import iso_at, now_iso
from assay.workspace import Workspace

HISTORY_LIMIT = 200


def progress(ws: Workspace, user: User, project: str) -> dict[str, Any]:
    """How far `user` is: tasks they submitted and the project's tasks open to them.

    Gold tasks count in both, as in the history: they are served unannounced, and a count
    that left them out would tell the annotator which of their tasks were gold. An answer a
    reviewer rejected was still submitted: it stays counted ("task N of M" never moves back),
    and `rejected` counts those apart."""
    rejected = cast(case((assignments.c.state == "rejected", 1), else_=0), Integer)
    with ws.db.read() as conn:
        p = visible_project(conn, ws, user, project)
        counts = summary(ws, conn, p, user)
        done, turned_down = conn.execute(
            select(func.count(), func.coalesce(func.sum(rejected), 0)).where(
                assignments.c.project_id == p.id,
                assignments.c.user_id == user.id,
                assignments.c.state.in_(("submitted", "rejected")),
            )
        ).one()
    total = counts["task_count"] + counts["gold_count"]
    return {
        "project": p.name,
        "submitted": int(done),
        "rejected": int(turned_down),
        "tasks": total,
    }


def my_history(ws: Workspace, user: User, project: str) -> dict[str, Any]:
    """The tasks `user` submitted in `project`, newest first (at most HISTORY_LIMIT).

    An answer a reviewer rejected stays listed, marked `rejected` with the reviewer's
    comment: the annotator sees what was turned down and why."""
    with ws.db.read() as conn:
        p = visible_project(conn, ws, user, project)
        allowed = visible_markings(tx_for(conn), ws.scheme, user, p.id)
        rows = conn.execute(
            select(
                assignments.c.task_id,
                assignments.c.state,
                assignments.c.finished_at,
                assignments.c.annotation_id,
                items.c.id.label("item_id"),
                items.c.name,
                tasks.c.marking,
                tasks.c.review,
                ann_t.c.supersedes,
            )
            .join(tasks, tasks.c.id == assignments.c.task_id)
            .join(items, items.c.id == tasks.c.item_id)
            .join(ann_t, ann_t.c.id == assignments.c.annotation_id)
            .where(
                assignments.c.project_id == p.id,
                assignments.c.user_id == user.id,
                assignments.c.state.in_(("submitted", "rejected")),
                marking_filter(tasks.c.marking, allowed),
            )
            .order_by(assignments.c.finished_at.desc(), assignments.c.task_id.desc())
            .limit(HISTORY_LIMIT)
        ).all()
        comments = _reject_comments(conn, [r for r in rows if r.state == "rejected"])
    out = [
        {
            "task_id": r.task_id,
            "item_id": r.item_id,
            "name": r.name,
            "marking": r.marking,
            "submitted": r.finished_at,
            "annotation_id": r.annotation_id,
            "amended": r.supersedes is not None,
            "reviewed": r.state == "rejected" or r.review in ("accepted", "rejected"),
            "rejected": r.state == "rejected",
            "review_comment": comments.get(r.task_id),
        }
        for r in rows
    ]
    return {**progress(ws, user, project), "history": out}


def _reject_comments(conn: Any, rejected: list[Any]) -> dict[int, str]:
    """The reviewer's comment on each rejected answer, by task id (none when it was empty).

    A reject names the answer it turns down, or none when it turns down every answer then
    submitted: the first such reject after the answer's submission is the one that hit it."""
    if not rejected:
        return {}
    found = conn.execute(
        select(reviews.c.task_id, reviews.c.target, reviews.c.comment, reviews.c.created)
        .where(
            reviews.c.task_id.in_([r.task_id for r in rejected]),
            reviews.c.decision == "reject",
        )
        .order_by(reviews.c.id)
    ).all()
    out: dict[int, str] = {}
    for r in rejected:
        mine = [v for v in found if v.task_id == r.task_id]
        since = iso_at(r.finished_at)
        hit = next((v for v in mine if v.target == r.annotation_id), None) or next(
            (v for v in mine if v.target is None and v.created >= since), None
        )
        if hit is not None and hit.comment.strip():
            out[r.task_id] = hit.comment
    return out


def _mine(conn: Any, ws: Workspace, user: User, task_id: int) -> Any:
    row = conn.execute(
        select(
            assignments.c.annotation_id,
            tasks.c.project_id,
            tasks.c.item_id,
            tasks.c.marking,
            tasks.c.review,
            ann_t.c.payload,
        )
        .join(tasks, tasks.c.id == assignments.c.task_id)
        .join(ann_t, ann_t.c.id == assignments.c.annotation_id)
        .where(
            and_(
                assignments.c.task_id == task_id,
                assignments.c.user_id == user.id,
                assignments.c.state == "submitted",
            )
        )
    ).first()
    visible = row is not None and row.marking in visible_markings(
        tx_for(conn), ws.scheme, user, row.project_id
    )
    if row is None or not visible:
        # the same answer as for a task that does not exist: nothing learnt about others' work
        raise NotFound(f"no task {task_id}")
    return row


def my_answer(ws: Workspace, user: User, task_id: int) -> dict[str, Any]:
    """Reopen a task `user` submitted: the item and their current answer."""
    user.require("label")
    with ws.db.read() as conn:
        row = _mine(conn, ws, user, task_id)
        item = conn.execute(select(items).where(items.c.id == row.item_id)).one()
    return {
        "task_id": task_id,
        "item": item_view(ws, item),
        "media_url": f"/api/v1/items/{row.item_id}/blob",
        "annotation_id": row.annotation_id,
        "regions": [r.model_dump(exclude_none=True) for r in payload_from_json(row.payload)],
        "reviewed": row.review in ("accepted", "rejected"),
    }


def amend(
    ws: Workspace,
    user: User,
    task_id: int,
    client_id: str,
    regions: list[Region],
    *,
    lead_time: float | None = None,
) -> dict[str, Any]:
    """Replace `user`'s answer to a task they submitted with a new annotation."""
    check_submission(user, client_id, lead_time)
    with write(ws.db) as conn:
        tx = tx_for(conn)
        first = previous(tx, client_id, user, "amend", task_id)
        if first is not None:
            return {**first, "duplicate": True}
        row = _mine(conn, ws, user, task_id)
        p = open_project(tx, ws, user, int(row.project_id))
        if row.review in ("accepted", "rejected"):
            raise Conflict(
                f"task {task_id} was already reviewed ({row.review}); ask a reviewer to change it"
            )
        check_answer(tx, ws, p, row.item_id, regions)
        new_id = annotation_id(user, client_id)
        final = authored(regions, user.actor)
        conn.execute(
            ann_t.insert().values(
                id=new_id,
                item_id=row.item_id,
                project=p.name,
                author=user.actor,
                kind="human",
                payload=payload_to_json(final),
                created=now_iso(),
                lead_time=lead_time,
                supersedes=row.annotation_id,
                source_id=f"client:{client_id}",
            )
        )
        conn.execute(
            assignments.update()
            .where(assignments.c.task_id == task_id, assignments.c.user_id == user.id)
            .values(annotation_id=new_id, finished_at=time.time())
        )
        review_after_amend(tx, p, task_id)
        result = {"task_id": task_id, "annotation_id": new_id, "supersedes": row.annotation_id}
        remember(tx, client_id, user, task_id, "amend", result)
        audit.append(
            conn,
            user.actor,
            "task.amend",
            f"task:{task_id}",
            {"project": p.name, "annotation": new_id, "supersedes": row.annotation_id},
        )
        return result

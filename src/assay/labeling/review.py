"""Review: a reviewer sees every answer to a task and accepts one, fixes one, or rejects.

Each decision is a review annotation (kind "review") that supersedes the annotation
it judged: accept copies its regions, fix carries the reviewer's regions, reject
carries none. Rejected work goes back to the queue for other annotators.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from sqlalchemy import and_, or_, select
from sqlalchemy.engine import Connection

from assay import audit
from assay.domain.labels import Region, payload_for_display, payload_to_json
from assay.errors import Conflict, InvalidInput, PermissionDenied
from assay.labeling._access import marking_filter, visible_markings
from assay.labeling._db import write
from assay.labeling._tx import tx_for
from assay.labeling.catalog import visible_project
from assay.labeling.items import item_view
from assay.labeling.queue import open_flag, previous, remember, task_for_user
from assay.labeling.submit import annotation_id, authored, check_answer, check_client_id
from assay.labeling.users import User
from assay.store.schema import annotations_table as ann_t
from assay.store.schema import assignments, items, reviews, tasks
from assay.timeutil import now_iso
from assay.workspace import Workspace

Decision = Literal["accept", "fix", "reject"]
REVIEW_LEASE = 600.0


def task_annotations(conn: Connection, task_id: int) -> list[dict[str, Any]]:
    """The submitted (not rejected) answers to a task, oldest first."""
    rows = conn.execute(
        select(
            ann_t.c.id,
            ann_t.c.author,
            ann_t.c.payload,
            ann_t.c.created,
            ann_t.c.lead_time,
        )
        .join(assignments, assignments.c.annotation_id == ann_t.c.id)
        .where(assignments.c.task_id == task_id, assignments.c.state == "submitted")
        .order_by(ann_t.c.created)
    ).all()
    return [
        {
            "id": r.id,
            "author": r.author,
            "regions": [x.model_dump(exclude_none=True) for x in payload_for_display(r.payload)],
            "created": r.created,
            "lead_time": r.lead_time,
        }
        for r in rows
    ]


def review_next(ws: Workspace, user: User, project: str) -> dict[str, Any] | None:
    """Hold the next pending review task for `user` for a while and return it."""
    user.require("review")
    now = time.time()
    with write(ws.db) as conn:
        p = visible_project(conn, ws, user, project)
        allowed = visible_markings(tx_for(conn), ws.scheme, user, p.id)
        free = or_(
            tasks.c.review_holder.is_(None),
            tasks.c.review_holder == user.id,
            tasks.c.review_expires < now,
        )
        cond = [
            tasks.c.project_id == p.id,
            tasks.c.review == "pending",
            marking_filter(tasks.c.marking, allowed),
            free,
        ]
        if not p.workflow.self_review:
            cond.append(~_answered_by(user))
        row = conn.execute(
            select(tasks.c.id, tasks.c.item_id)
            .where(*cond)
            .order_by(and_(tasks.c.review_holder == user.id).desc(), tasks.c.id)
            .limit(1)
        ).first()
        if row is None:
            return None
        conn.execute(
            tasks.update()
            .where(tasks.c.id == row.id)
            .values(review_holder=user.id, review_expires=now + REVIEW_LEASE)
        )
        item = conn.execute(select(items).where(items.c.id == row.item_id)).one()
        return {
            "task_id": row.id,
            "item": item_view(ws, item),
            "media_url": f"/api/v1/items/{row.item_id}/blob",
            "annotations": task_annotations(conn, row.id),
        }


def decide(
    ws: Workspace,
    user: User,
    task_id: int,
    client_id: str,
    decision: Decision,
    *,
    annotation_id: str | None = None,
    regions: list[Region] | None = None,
    comment: str = "",
) -> dict[str, Any]:
    """Record a review decision; a retry with the same client id returns the first result."""
    user.require("review")
    check_client_id(client_id)
    with write(ws.db) as conn:
        tx = tx_for(conn)
        first = previous(tx, client_id, user, "review", task_id)
        if first is not None:
            return {**first, "duplicate": True}
        task, p = task_for_user(tx, ws, user, task_id)
        if task.review != "pending":
            raise Conflict(f"task {task_id} is not waiting for review")
        answers = {a["id"]: a for a in task_annotations(conn, task_id)}
        own = any(a["author"] == user.actor for a in answers.values())
        if not p.workflow.self_review and (own or _answered(conn, task_id, user)):
            raise PermissionDenied(
                f"task {task_id} holds your own answer: another reviewer decides on it "
                f"(project {p.name!r} does not allow self-review)"
            )
        if annotation_id is not None and annotation_id not in answers:
            raise InvalidInput(
                f"annotation {annotation_id!r} is not a current answer to the task "
                "(amended, rejected or reset since it was shown)"
            )
        if decision in ("accept",) and annotation_id is None:
            raise InvalidInput("accept needs the annotation_id of the answer accepted")
        if decision == "fix":
            if regions is None:
                raise InvalidInput("fix needs the corrected regions")
            check_answer(tx, ws, p, task.item_id, regions)
        if decision == "reject" and not comment.strip():
            raise InvalidInput("reject needs a comment telling the annotator what was wrong")
        if decision == "accept":
            chosen = [Region.model_validate(r) for r in answers[str(annotation_id)]["regions"]]
        else:
            chosen = regions or []
        final = authored(chosen, user.actor) if decision == "fix" else chosen
        ann = annotation_id_for_review(user, client_id)
        conn.execute(
            ann_t.insert().values(
                id=ann,
                item_id=task.item_id,
                project=p.name,
                author=user.actor,
                kind="review",
                payload=payload_to_json(final),
                created=now_iso(),
                lead_time=None,
                supersedes=annotation_id,
                source_id=f"review:{decision}",
            )
        )
        conn.execute(
            reviews.insert().values(
                task_id=task_id,
                reviewer_id=user.id,
                decision=decision,
                target=annotation_id,
                annotation_id=ann,
                comment=comment[:5000],
                created=now_iso(),
            )
        )
        if decision == "reject":
            _return_to_queue(conn, task_id, p.workflow.overlap, annotation_id)
        else:
            conn.execute(
                tasks.update()
                .where(tasks.c.id == task_id)
                .values(review="accepted", review_holder=None, review_expires=None)
            )
        result = {"annotation_id": ann, "decision": decision, "duplicate": False}
        remember(tx, client_id, user, task_id, "review", result)
        audit.append(
            conn,
            user.actor,
            f"review.{decision}",
            f"task:{task_id}",
            {"project": p.name, "target": annotation_id, "annotation": ann, "comment": comment},
        )
        return result


def _answered_by(user: User) -> Any:
    """SQL: the task holds a submitted answer of `user`."""
    return (
        select(assignments.c.id)
        .where(
            assignments.c.task_id == tasks.c.id,
            assignments.c.user_id == user.id,
            assignments.c.state == "submitted",
        )
        .exists()
    )


def _answered(conn: Connection, task_id: int, user: User) -> bool:
    held = conn.execute(
        select(assignments.c.id).where(
            assignments.c.task_id == task_id,
            assignments.c.user_id == user.id,
            assignments.c.state == "submitted",
        )
    ).first()
    return held is not None


def annotation_id_for_review(user: User, client_id: str) -> str:
    return annotation_id(user, "review\x00" + client_id)


def _return_to_queue(conn: Connection, task_id: int, overlap: int, target: str | None) -> None:
    cond = [assignments.c.task_id == task_id, assignments.c.state == "submitted"]
    if target is not None:
        cond.append(assignments.c.annotation_id == target)
    n = conn.execute(assignments.update().where(*cond).values(state="rejected")).rowcount
    conn.execute(
        tasks.update()
        .where(tasks.c.id == task_id)
        .values(
            active=tasks.c.active - n,
            done=tasks.c.done - n,
            open=open_flag(overlap, tasks.c.active - n),
            review=None,
            review_holder=None,
            review_expires=None,
        )
    )

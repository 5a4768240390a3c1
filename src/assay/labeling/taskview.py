"""One task as the data manager opens it: the item, every answer with its provenance,
the assignments (who, state, skip reason), review decisions and gold labels."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from assay.domain.labels import payload_from_json
from assay.errors import NotFound
from assay.labeling.items import item_view
from assay.labeling.prelabels import made_for
from assay.labeling.task_agreement import agreement_of
from assay.labeling.tasklist import manageable_project
from assay.labeling.users import User
from assay.store.schema import annotations_table as ann_t
from assay.store.schema import assignments, items, reviews, tasks, users
from assay.workspace import Workspace


def _regions(payload: str | None) -> list[dict[str, Any]]:
    return [r.model_dump(exclude_none=True) for r in payload_from_json(payload or "[]")]


def task_view(ws: Workspace, user: User, project: str, task_id: int) -> dict[str, Any]:
    """The task with everything recorded about it; hidden and missing look the same (404)."""
    with ws.db.read() as conn:
        p = manageable_project(ws, conn, user, project)
        t = conn.execute(
            select(tasks).where(tasks.c.id == task_id, tasks.c.project_id == p.id)
        ).first()
        if t is None or not ws.scheme.allows(user.clearance, ws.scheme.parse(t.marking)):
            raise NotFound(f"no task {task_id}")
        item = conn.execute(select(items).where(items.c.id == t.item_id)).one()
        held = conn.execute(
            select(
                users.c.name,
                assignments.c.state,
                assignments.c.leased_at,
                assignments.c.finished_at,
                assignments.c.annotation_id,
                assignments.c.lead_time,
                assignments.c.reason,
                assignments.c.gold_score,
            )
            .join(users, users.c.id == assignments.c.user_id)
            .where(assignments.c.task_id == task_id)
            .order_by(assignments.c.id)
        ).all()
        anns = conn.execute(
            select(ann_t)
            .where(ann_t.c.item_id == t.item_id)
            .where((ann_t.c.project == p.name) | made_for(p.name))
            .order_by(ann_t.c.created, ann_t.c.id)
        ).all()
        decided = conn.execute(
            select(reviews, users.c.name.label("reviewer"))
            .join(users, users.c.id == reviews.c.reviewer_id)
            .where(reviews.c.task_id == task_id)
            .order_by(reviews.c.id)
        ).all()
    state_of = {a.annotation_id: a.state for a in held if a.annotation_id}
    return {
        "task_id": t.id,
        "project": p.name,
        "item": item_view(ws, item),
        "media_url": f"/api/v1/items/{t.item_id}/blob",
        "marking": t.marking,
        "done": t.done,
        "review": t.review,
        "gold": _regions(t.gold) if t.is_gold else None,
        "agreement": agreement_of(ws, t.id),
        "assignments": [
            {
                "user": a.name,
                "state": a.state,
                "leased_at": a.leased_at,
                "finished_at": a.finished_at,
                "annotation_id": a.annotation_id,
                "lead_time": a.lead_time,
                "reason": a.reason,
                "gold_score": a.gold_score,
            }
            for a in held
        ],
        "annotations": [
            {
                "id": a.id,
                "author": a.author,
                "kind": a.kind,
                "created": a.created,
                "lead_time": a.lead_time,
                "supersedes": a.supersedes,
                "source": a.source_id,
                "state": state_of.get(a.id),
                "regions": _regions(a.payload),
            }
            for a in anns
        ],
        "reviews": [
            {
                "reviewer": r.reviewer,
                "decision": r.decision,
                "target": r.target,
                "annotation_id": r.annotation_id,
                "comment": r.comment,
                "created": r.created,
            }
            for r in decided
        ],
    }

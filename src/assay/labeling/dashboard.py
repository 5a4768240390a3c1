"""Project dashboards: progress, throughput, per-annotator work, gold accuracy, agreement.

Every count covers only the tasks the viewer is cleared to see. Gold tasks are not work:
`tasks`, `done`, `in_progress` and `skipped` count the other tasks (as `assay project create`,
the project list and the data manager do), `gold_tasks` counts the gold ones apart, and an
annotator's `submitted` counts every answer, `gold_seen` those to gold tasks. `marking` is the
project's (see `assay.labeling.catalog.project_marking`), for the page's banner.
An annotator's `submitted` and `last_hour` (and the project's `throughput_per_hour`) count
the submissions made, rejected ones included (a review outcome does not undo the work);
`rejected` counts those a reviewer rejected.
`prelabels` says per model version how many pre-labels annotators accepted unchanged,
edited or deleted (see `assay.labeling.prelabel_stats`).
Agreement is the mean pairwise score (see `assay.labeling.gold`) over the most
recent tasks with two or more current answers.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from sqlalchemy import Integer, case, cast, func, select

from assay.domain.labels import payload_from_json
from assay.labeling import gold as scoring
from assay.labeling._access import marking_filter, visible_markings
from assay.labeling._tx import tx_for
from assay.labeling.catalog import project_marking, summary, visible_project
from assay.labeling.prelabel_stats import prelabel_outcomes
from assay.labeling.users import User
from assay.store.schema import (
    annotations_table as ann_t,
)
from assay.store.schema import (
    annotator_stats,
    assignments,
    tasks,
    users,
)
from assay.workspace import Workspace

AGREEMENT_TASKS = 2000


def dashboard(ws: Workspace, user: User | None, project: str) -> dict[str, Any]:
    """The dashboard of `project` as `user` may see it (`None`: everything, for the CLI)."""
    if user is not None:
        user.require("manage")
    now = time.time()
    with ws.db.read() as conn:
        p = visible_project(conn, ws, user, project)
        visible = (
            marking_filter(tasks.c.marking, visible_markings(tx_for(conn), ws.scheme, user, p.id))
            if user is not None
            else tasks.c.id.is_not(None)
        )
        counts = summary(ws, conn, p, user)
        marking = ws.scheme.render(project_marking(tx_for(conn), ws.scheme, p))
        submitted = assignments.c.state == "submitted"
        # A submission happened even when a reviewer later rejects it: the counts of work done
        # never move backwards; rejections are counted apart.
        made = assignments.c.state.in_(("submitted", "rejected"))
        rejected = cast(case((assignments.c.state == "rejected", 1), else_=0), Integer)
        per_user = conn.execute(
            select(
                users.c.name,
                func.count().label("submitted"),
                func.sum(rejected).label("rejected"),
                func.avg(assignments.c.lead_time).label("mean_seconds"),
                func.sum(cast(case((tasks.c.is_gold == 1, 1), else_=0), Integer)).label("gold"),
                func.avg(assignments.c.gold_score).label("gold_accuracy"),
                func.sum(
                    cast(case((assignments.c.finished_at > now - 3600, 1), else_=0), Integer)
                ).label("last_hour"),
                func.coalesce(func.max(annotator_stats.c.paused), 0).label("paused"),
            )
            .select_from(assignments)
            .join(tasks, tasks.c.id == assignments.c.task_id)
            .join(users, users.c.id == assignments.c.user_id)
            .outerjoin(
                annotator_stats,
                (annotator_stats.c.project_id == p.id)
                & (annotator_stats.c.user_id == assignments.c.user_id),
            )
            .where(assignments.c.project_id == p.id, made, visible)
            .group_by(users.c.name)
            .order_by(users.c.name)
        ).all()
        paused_only = (
            conn.execute(
                select(users.c.name)
                .join(annotator_stats, annotator_stats.c.user_id == users.c.id)
                .where(annotator_stats.c.project_id == p.id, annotator_stats.c.paused == 1)
            )
            .scalars()
            .all()
        )
        review: dict[str, int] = dict(
            conn.execute(
                select(tasks.c.review, func.count())
                .where(tasks.c.project_id == p.id, tasks.c.review.is_not(None), visible)
                .group_by(tasks.c.review)
            ).all()
        )
        skipped = conn.execute(
            select(func.count())
            .select_from(assignments)
            .join(tasks, tasks.c.id == assignments.c.task_id)
            .where(
                assignments.c.project_id == p.id,
                assignments.c.state == "skipped",
                tasks.c.is_gold == 0,
                visible,
            )
        ).scalar_one()
        answers: dict[int, list[str]] = defaultdict(list)
        recent = (
            select(tasks.c.id)
            .where(tasks.c.project_id == p.id, tasks.c.done >= 2, tasks.c.is_gold == 0, visible)
            .order_by(tasks.c.id.desc())
            .limit(AGREEMENT_TASKS)
        )
        for task_id, payload in conn.execute(
            select(assignments.c.task_id, ann_t.c.payload)
            .join(ann_t, ann_t.c.id == assignments.c.annotation_id)
            .where(assignments.c.task_id.in_(recent), submitted)
        ):
            answers[task_id].append(payload)
        prelabels = prelabel_outcomes(conn, p.id, p.name, visible)
    pair_scores = [
        s
        for s in (
            scoring.mean_pairwise(p.schema, [payload_from_json(x) for x in group])
            for group in answers.values()
        )
        if s is not None
    ]
    annotators = [
        {
            "name": r.name,
            "submitted": int(r.submitted),
            "rejected": int(r.rejected or 0),
            "mean_seconds": round(float(r.mean_seconds), 2) if r.mean_seconds is not None else None,
            "gold_seen": int(r.gold or 0),
            "gold_accuracy": round(float(r.gold_accuracy), 4)
            if r.gold_accuracy is not None
            else None,
            "last_hour": int(r.last_hour or 0),
            "paused": bool(r.paused),
        }
        for r in per_user
    ]
    listed = {a["name"] for a in annotators}
    annotators += [
        {
            "name": n,
            "submitted": 0,
            "rejected": 0,
            "mean_seconds": None,
            "gold_seen": 0,
            "gold_accuracy": None,
            "last_hour": 0,
            "paused": True,
        }
        for n in paused_only
        if n not in listed
    ]
    return {
        "project": p.name,
        "marking": marking,
        "tasks": counts["task_count"],
        "gold_tasks": counts["gold_count"],
        "done": counts["done_count"],
        "in_progress": counts["in_progress"],
        "skipped": int(skipped),
        "throughput_per_hour": sum(a["last_hour"] for a in annotators),
        "annotators": annotators,
        "paused": sorted(a["name"] for a in annotators if a["paused"]),
        "agreement": round(sum(pair_scores) / len(pair_scores), 4) if pair_scores else None,
        "agreement_tasks": len(pair_scores),
        # review counts only where the workflow has review (None: no review step at all)
        "review": {k: int(v) for k, v in review.items()} if p.workflow.review != "none" else None,
        "review_policy": p.workflow.review,
        "gold_min_accuracy": p.workflow.gold_min_accuracy,
        "prelabels": prelabels,
    }

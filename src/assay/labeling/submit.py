"""Submitting an annotation for a leased task: stored once per client id, in one transaction.

The same transaction appends the annotation, closes the assignment, counts the task,
scores gold (pausing an annotator whose gold accuracy falls below the project's
threshold), queues the task for review where the workflow asks, and audits.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from assay.domain.labels import (
    BOUNDS_TOLERANCE_PX,
    Region,
    off_image,
    payload_from_json,
    payload_to_json,
)
from assay.errors import Conflict, InvalidInput, NotFound
from assay.labeling import active, adaptive
from assay.labeling import gold as gold_scoring
from assay.labeling._tx import Tx, write_tx
from assay.labeling.items import item_text
from assay.labeling.prelabels import keep_record_authors, record_regions
from assay.labeling.projects import Project
from assay.labeling.queue import TASK_ROW, TaskRow, previous, remember, stats_row, task_for_user
from assay.labeling.users import User
from assay.timeutil import now_iso
from assay.workspace import Workspace

_ITEM = "SELECT media_type, width, height FROM items WHERE id = :i"


def check_answer(tx: Tx, ws: Workspace, p: Project, item_id: str, regions: list[Region]) -> None:
    """Every region fits the schema and lies on the item's image (a span within its text),
    and every required control is answered (the controls that apply to the item's media
    type), else `InvalidInput` naming what is wrong."""
    p.schema.check_regions(regions)
    item = tx.one(_ITEM, {"i": item_id})
    if item is not None and item[1] and item[2]:
        check_on_image(regions, int(item[1]), int(item[2]))
    if item is not None and str(item[0]).startswith("text/") and any(r.span for r in regions):
        check_in_text(regions, len(item_text(ws, item_id)))
    if p.schema.has_required:
        p.schema.check_complete(regions, item[0] if item else None)


def check_on_image(regions: list[Region], width: int, height: int) -> None:
    """Every box and point within the image, with the tolerance an import allows: a shape off
    the image would be a label of record that no format carries back in."""
    for i, r in enumerate(regions):
        corners = list(r.points or ())
        if r.box is not None:
            x, y, w, h = r.box
            corners += [(x, y), (x + w, y + h)]
        for x, y in corners:
            if off_image(x, y, width, height):
                raise InvalidInput(
                    f"regions[{i}] ({r.label}): ({x:g}, {y:g}) lies outside the "
                    f"{width}x{height} image (tolerance {BOUNDS_TOLERANCE_PX:g} px)"
                )


def check_in_text(regions: list[Region], length: int) -> None:
    """Every span within the text's characters (offsets as the API serves the text)."""
    for i, r in enumerate(regions):
        if r.span is not None and r.span[1] > length:
            start, end = r.span
            raise InvalidInput(
                f"regions[{i}] ({r.label}): span [{start}, {end}) reaches past the end of the "
                f"{length}-character text"
            )


def annotation_id(user: User, client_id: str) -> str:
    return hashlib.sha256(f"{user.id}\x00{client_id}".encode()).hexdigest()[:32]


def authored(regions: list[Region], author: str) -> list[Region]:
    """Regions with the server's author and stable ids (the client's author is never trusted)."""
    return [
        r.model_copy(update={"author": author, "id": r.id or f"r{i + 1}"})
        for i, r in enumerate(regions)
    ]


def check_client_id(client_id: str) -> None:
    if not client_id or len(client_id) > 100:
        raise InvalidInput("client_id must be a non-empty string of at most 100 characters")


def check_submission(user: User, client_id: str, lead_time: float | None) -> None:
    """What can be checked before a transaction: role, client id, lead time."""
    user.require("label")
    check_client_id(client_id)
    if lead_time is not None and (lead_time < 0 or lead_time > 86_400 * 7):
        raise InvalidInput(f"lead_time must be between 0 and a week, got {lead_time}")


def submit(
    ws: Workspace,
    user: User,
    task_id: int,
    client_id: str,
    regions: list[Region],
    *,
    lead_time: float | None = None,
    model_assisted: bool = False,
) -> dict[str, Any]:
    """Store `user`'s answer to a task they hold; a retry returns the first result."""
    check_submission(user, client_id, lead_time)
    with write_tx(ws.db) as tx:
        result = submit_in(tx, ws, user, task_id, client_id, regions, lead_time, model_assisted)
    if not result.get("duplicate"):
        active.after_submit(ws, task_id)  # refits an active-learning project every N labels
    return result


def submit_in(
    tx: Tx,
    ws: Workspace,
    user: User,
    task_id: int,
    client_id: str,
    regions: list[Region],
    lead_time: float | None,
    model_assisted: bool,
) -> dict[str, Any]:
    """`submit` inside the caller's write transaction (after `check_submission`)."""
    first = previous(tx, client_id, user, "submit", task_id)
    if first is not None:
        return {**first, "duplicate": True}
    task, p = task_for_user(tx, ws, user, task_id)
    check_answer(tx, ws, p, task.item_id, regions)
    _take_assignment(tx, task, p, user)
    final = authored(regions, user.actor)
    if p.workflow.from_labels:
        final = keep_record_authors(final, record_regions(tx, p, task.item_id))
    ann = annotation_id(user, client_id)
    row = {
        "id": ann,
        "item": task.item_id,
        "project": p.name,
        "author": user.actor,
        "payload": payload_to_json(final),
        "created": now_iso(),
        "lead": lead_time,
        "source": f"client:{client_id}",
    }
    tx.run(_ANNOTATION, row)
    gold_score = _update_stats(tx, p, user, task, final, lead_time)
    done = {
        "t": task_id,
        "u": user.id,
        "now": time.time(),
        "ann": ann,
        "lead": lead_time,
        "ma": int(model_assisted),
        "gs": gold_score,
    }
    tx.run(_DONE_ASSIGNMENT, done)
    if p.workflow.adaptive is not None and not task.is_gold:
        task = adaptive.after_submit(tx, p, task)
    tx.run(_DONE_TASK, {"t": task_id, "review": _review_state(tx, p, task, task.done + 1)})
    result = {"annotation_id": ann, "duplicate": False}
    remember(tx, client_id, user, task_id, "submit", result)
    details: dict[str, Any] = {"project": p.name, "annotation": ann, "regions": len(final)}
    if gold_score is not None:
        details["gold_score"] = round(gold_score, 4)
    tx.audit(user.actor, "task.submit", f"task:{task_id}", details)
    return result


_ANNOTATION = (
    "INSERT INTO annotations (id, item_id, project, author, kind, payload, created, lead_time, "
    "supersedes, source_id) VALUES (:id, :item, :project, :author, 'human', :payload, :created, "
    ":lead, NULL, :source)"
)
_DONE_ASSIGNMENT = (
    "UPDATE assignments SET state = 'submitted', finished_at = :now, annotation_id = :ann, "
    "lead_time = :lead, model_assisted = :ma, gold_score = :gs "
    "WHERE task_id = :t AND user_id = :u"
)
_DONE_TASK = "UPDATE tasks SET done = done + 1, review = :review WHERE id = :t"
_ASSIGNMENT = "SELECT state FROM assignments WHERE task_id = :t AND user_id = :u"
_REOPEN = (
    "UPDATE tasks SET active = active + 1, "
    "open = CASE WHEN is_gold = 1 OR active + 1 < COALESCE(target, :k) THEN 1 ELSE 0 END "
    "WHERE id = :t"
)
_COUNT = (
    "UPDATE annotator_stats SET submitted = submitted + 1, seconds = seconds + :s "
    "WHERE project_id = :p AND user_id = :u"
)
_GOLD = (
    "UPDATE annotator_stats SET gold_seen = :seen, gold_score = :total, paused = :paused "
    "WHERE project_id = :p AND user_id = :u"
)
_GOLD_SET = "SELECT gold FROM tasks WHERE project_id = :p AND is_gold = 1 AND gold IS NOT NULL"
_ANSWERS = (
    "SELECT n.payload FROM annotations n JOIN assignments a ON a.annotation_id = n.id "
    "WHERE a.task_id = :t AND a.state = 'submitted'"
)


def _take_assignment(tx: Tx, task: TaskRow, p: Project, user: User) -> None:
    a = tx.one(_ASSIGNMENT, {"t": task.id, "u": user.id})
    state = a[0] if a is not None else None
    if state is None or state in ("skipped", "rejected"):
        raise NotFound(f"task {task.id} is not leased to {user.name}; get one with next")
    if state == "submitted":
        raise Conflict(f"{user.name} already submitted task {task.id}")
    if state == "expired":
        # The lease ran out; the answer still counts if the task has room for it.
        room = task.is_gold == 1 or task.active < (task.target or p.workflow.overlap)
        if not room:
            raise Conflict(f"the lease on task {task.id} expired and the task went to others")
        tx.run(_REOPEN, {"t": task.id, "k": p.workflow.overlap})


def _review_state(tx: Tx, p: Project, task: TaskRow, done: int) -> str | None:
    policy = p.workflow.review
    if policy == "none" or task.is_gold or done < (task.target or p.workflow.overlap):
        return task.review
    if policy == "all":
        return "pending"
    if policy.startswith("sample:"):
        share = float(policy.split(":", 1)[1])
        h = int(hashlib.sha256(f"{p.id}:{task.id}".encode()).hexdigest()[:8], 16)
        return "pending" if h / 0xFFFFFFFF < share else task.review
    # disagreements: compare all submitted answers once the task is complete.
    answers = [payload_from_json(r[0]) for r in tx.all(_ANSWERS, {"t": task.id})]
    agree = gold_scoring.mean_pairwise(p.schema, answers)
    return "pending" if agree is not None and agree < 1.0 else task.review


_TO_REVIEW = "UPDATE tasks SET review = 'pending' WHERE id = :t AND review IS NULL"


def review_after_amend(tx: Tx, p: Project, task_id: int) -> None:
    """Queue a task for review when an amendment makes its answers call for it, as a
    submission would (never out of the queue: a reviewer may be deciding on it)."""
    task = TaskRow(*tx.one(TASK_ROW, {"t": task_id}))
    if task.review is None and _review_state(tx, p, task, task.done) == "pending":
        tx.run(_TO_REVIEW, {"t": task_id})


def _update_stats(
    tx: Tx, p: Project, user: User, task: TaskRow, regions: list[Region], lead: float | None
) -> float | None:
    """Count the submission; for gold, score it and pause the annotator below threshold."""
    count = {"s": lead or 0.0, "p": p.id, "u": user.id}
    if tx.run(_COUNT, count) == 0:
        stats_row(tx, p.id, user.id)
        tx.run(_COUNT, count)
    if not (task.is_gold and task.gold):
        return None
    gold = payload_from_json(task.gold)
    gold_set = (payload_from_json(g) for (g,) in tx.all(_GOLD_SET, {"p": p.id}))
    only = gold_scoring.gold_controls(gold, gold_set)
    result = gold_scoring.score(p.schema, gold, regions, only)
    stats = stats_row(tx, p.id, user.id)
    seen, total = stats.gold_seen + 1, stats.gold_score + result
    wf = p.workflow
    paused = int(seen >= wf.gold_after and total / seen < wf.gold_min_accuracy)
    params = {"seen": seen, "total": total, "paused": paused, "p": p.id, "u": user.id}
    tx.run(_GOLD, params)
    return result

"""The task queue: lease the next task to an annotator, expire leases, record skips.

A task is claimed by one conditional UPDATE (`active < overlap`, the user holds no
assignment for it), so at most `overlap` distinct annotators ever hold or have
done a non-gold task, whatever the concurrency. Gold tasks are open to everyone.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, case, select, text
from sqlalchemy.engine import Connection

from assay import audit
from assay.domain.labels import canonical_json, payload_from_json
from assay.errors import NotFound, PermissionDenied
from assay.labeling._access import present_markings, visible_markings
from assay.labeling._audit import append as fast_audit
from assay.labeling._db import write
from assay.labeling.items import item_view
from assay.labeling.projects import Project, cached_project
from assay.labeling.users import User
from assay.store.schema import (
    assignments,
    tasks,
)
from assay.timeutil import now_iso
from assay.workspace import Workspace

# States in which an assignment keeps the task away from the same user.
HOLDING = ("leased", "submitted", "skipped", "rejected")


@dataclass(frozen=True)
class Lease:
    task_id: int
    item: dict[str, Any]
    prelabels: list[dict[str, Any]]
    lease_expires: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "item": self.item,
            "media_url": f"/api/v1/items/{self.item['id']}/blob",
            "prelabels": self.prelabels,
            "lease_expires": self.lease_expires,
        }


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def open_flag(overlap: int, active: Any) -> Any:
    """SQL for a task's `open` column once `active` is known (gold tasks stay open)."""
    return case((tasks.c.is_gold == 1, 1), (active < overlap, 1), else_=0)


_EXPIRED = text(
    "SELECT a.id, a.task_id, t.project_id FROM assignments a JOIN tasks t ON t.id = a.task_id "
    "WHERE a.state = 'leased' AND a.expires < :now"
)
_EXPIRE = text("UPDATE assignments SET state = 'expired' WHERE id = :id AND state = 'leased'")
_RELEASE = text(
    "UPDATE tasks SET active = active - 1, "
    "open = CASE WHEN is_gold = 1 OR active - 1 < :k THEN 1 ELSE 0 END WHERE id = :id"
)
_STATS = text(
    "SELECT served, gold_served, gold_seen, gold_score, paused FROM annotator_stats "
    "WHERE project_id = :p AND user_id = :u"
)
_STATS_NEW = text(
    "INSERT INTO annotator_stats (project_id, user_id, served, gold_served, submitted, seconds, "
    "gold_seen, gold_score, paused) VALUES (:p, :u, 0, 0, 0, 0, 0, 0, 0)"
)
_HELD = text(
    "SELECT a.task_id, a.expires, t.marking FROM assignments a JOIN tasks t ON t.id = a.task_id "
    "WHERE a.project_id = :p AND a.user_id = :u AND a.state = 'leased'"
)
_CLAIM = (
    "UPDATE tasks SET active = active + 1, "
    "open = CASE WHEN is_gold = 1 OR active + 1 < :k THEN 1 ELSE 0 END "
    "WHERE id = (SELECT t.id FROM tasks t WHERE t.project_id = :p AND t.open = 1 "
    "AND t.is_gold = :g {filter} AND NOT EXISTS (SELECT 1 FROM assignments a "
    "WHERE a.task_id = t.id AND a.user_id = :u "
    "AND a.state IN ('leased', 'submitted', 'skipped', 'rejected')) "
    "ORDER BY t.priority, t.id LIMIT 1) "
    "AND (is_gold = 1 OR active < :k) RETURNING id"
)
_CLAIM_ALL = text(_CLAIM.format(filter=""))
_CLAIM_SOME = text(_CLAIM.format(filter="AND t.marking IN :allowed")).bindparams(
    bindparam("allowed", expanding=True)
)
_LEASE = text(
    "INSERT INTO assignments (task_id, project_id, user_id, state, leased_at, expires) "
    "VALUES (:t, :p, :u, 'leased', :now, :exp) ON CONFLICT (task_id, user_id) DO UPDATE "
    "SET state = 'leased', leased_at = excluded.leased_at, expires = excluded.expires "
    "WHERE assignments.state = 'expired'"
)
_SERVED = text(
    "UPDATE annotator_stats SET served = served + 1, gold_served = gold_served + :g "
    "WHERE project_id = :p AND user_id = :u"
)
_ITEM = text("SELECT * FROM items WHERE id = (SELECT item_id FROM tasks WHERE id = :t)")
_PRELABEL = text(
    "SELECT payload FROM annotations WHERE item_id = :i AND kind = 'model' "
    "ORDER BY created DESC LIMIT 1"
)
_TASK = text(
    "SELECT id, project_id, item_id, marking, is_gold, gold, active, done, review "
    "FROM tasks WHERE id = :t"
)
_PREVIOUS = text("SELECT user_id, action, result FROM submissions WHERE client_id = :c")
_REMEMBER = text(
    "INSERT INTO submissions (client_id, user_id, task_id, action, result, created) "
    "VALUES (:c, :u, :t, :a, :r, :now)"
)
_last_expiry: dict[str, float] = {}
EXPIRY_EVERY = 1.0  # seconds between scans for stale leases, per process


def expire_leases(conn: Connection, now: float) -> int:
    """Return the tasks of leases that ran out to the queue (at most once a second)."""
    url = str(conn.engine.url)
    last = _last_expiry.get(url)
    if last is not None and 0 <= now - last < EXPIRY_EVERY:
        return 0
    _last_expiry[url] = now
    stale = conn.execute(_EXPIRED, {"now": now}).all()
    for a_id, task_id, project_id in stale:
        if conn.execute(_EXPIRE, {"id": a_id}).rowcount:
            overlap = cached_project(conn, int(project_id)).workflow.overlap
            conn.execute(_RELEASE, {"id": task_id, "k": overlap})
    return len(stale)


def stats_row(conn: Connection, project_id: int, user_id: int) -> Any:
    row = conn.execute(_STATS, {"p": project_id, "u": user_id}).first()
    if row is None:
        conn.execute(_STATS_NEW, {"p": project_id, "u": user_id})
        row = conn.execute(_STATS, {"p": project_id, "u": user_id}).one()
    return row


def next_task(ws: Workspace, user: User, project: str, *, now: float | None = None) -> Lease | None:
    """Lease a task `user` has not done, or None when nothing is left for them."""
    user.require("label")
    now = time.time() if now is None else now
    with write(ws.db) as conn:
        p = cached_project(conn, project)
        present = present_markings(conn, p.id)
        allowed = visible_markings(conn, ws.scheme, user, p.id)
        expire_leases(conn, now)
        stats = stats_row(conn, p.id, user.id)
        if stats.paused:
            raise PermissionDenied(
                f"{user.name} is paused in project {p.name!r}: gold accuracy is below "
                f"{p.workflow.gold_min_accuracy:.0%}; ask a manager to review"
            )
        ok = set(allowed)
        for held in conn.execute(_HELD, {"p": p.id, "u": user.id}):
            if held.marking in ok:
                return _lease_view(ws, conn, held.task_id, held.expires)
        wf = p.workflow
        want_gold = wf.gold_share > 0 and stats.gold_served < wf.gold_share * (stats.served + 1)
        claimed = None
        gold = False
        for gold in (True, False) if want_gold else (False,):
            claimed = _claim(conn, p, user, allowed, len(allowed) == len(present), gold)
            if claimed is not None:
                break
        if claimed is None:
            return None
        expires = now + wf.lease_seconds
        params = {"t": claimed, "p": p.id, "u": user.id, "now": now, "exp": expires}
        conn.execute(_LEASE, params)
        conn.execute(_SERVED, {"g": int(gold), "p": p.id, "u": user.id})
        fast_audit(conn, user.actor, "task.lease", f"task:{claimed}", {"project": p.name})
        return _lease_view(ws, conn, claimed, expires)


def _claim(
    conn: Connection, p: Project, user: User, allowed: list[str], all_ok: bool, gold: bool
) -> int | None:
    if not allowed:
        return None
    params: dict[str, Any] = {"k": p.workflow.overlap, "p": p.id, "g": int(gold), "u": user.id}
    if all_ok:
        row = conn.execute(_CLAIM_ALL, params).first()
    else:
        row = conn.execute(_CLAIM_SOME, {**params, "allowed": allowed}).first()
    return int(row[0]) if row is not None else None


def _lease_view(ws: Workspace, conn: Connection, task_id: int, expires: float) -> Lease:
    row = conn.execute(_ITEM, {"t": task_id}).one()
    pre = conn.execute(_PRELABEL, {"i": row.id}).scalar()
    prelabels = [r.model_dump(exclude_none=True) for r in payload_from_json(pre)] if pre else []
    return Lease(task_id, item_view(ws, row), prelabels, iso(expires))


def task_for_user(conn: Connection, ws: Workspace, user: User, task_id: int) -> tuple[Any, Project]:
    """The task row and project, or NotFound when missing or above the user's need-to-know."""
    row = conn.execute(_TASK, {"t": task_id}).first()
    if row is None or not ws.scheme.allows(user.clearance, ws.scheme.parse(row.marking)):
        raise NotFound(f"no task {task_id}")
    return row, cached_project(conn, int(row.project_id))


def previous(conn: Connection, client_id: str, user: User, action: str) -> dict[str, Any] | None:
    """The stored result of a retried request with the same client id, if any."""
    row = conn.execute(_PREVIOUS, {"c": client_id}).first()
    if row is None:
        return None
    if row.user_id != user.id or row.action != action:
        raise PermissionDenied(f"client_id {client_id!r} belongs to another request")
    return json.loads(row.result)  # type: ignore[no-any-return]


def remember(
    conn: Connection, client_id: str, user: User, task_id: int, action: str, result: dict[str, Any]
) -> None:
    conn.execute(
        _REMEMBER,
        {
            "c": client_id,
            "u": user.id,
            "t": task_id,
            "a": action,
            "r": canonical_json(result),
            "now": now_iso(),
        },
    )


def skip_task(
    ws: Workspace, user: User, task_id: int, client_id: str, reason: str
) -> dict[str, Any]:
    """Give a leased task back with a reason; the same user is not served it again."""
    user.require("label")
    with write(ws.db) as conn:
        first = previous(conn, client_id, user, "skip")
        if first is not None:
            return first
        _task, p = task_for_user(conn, ws, user, task_id)
        held = conn.execute(
            select(assignments.c.id, assignments.c.state).where(
                assignments.c.task_id == task_id,
                assignments.c.user_id == user.id,
                assignments.c.state.in_(("leased", "expired")),
            )
        ).first()
        if held is None:
            raise NotFound(f"task {task_id} is not leased to {user.name}")
        conn.execute(
            assignments.update()
            .where(assignments.c.id == held.id)
            .values(state="skipped", finished_at=time.time(), reason=reason[:2000])
        )
        if held.state == "leased":  # an expired lease already gave its place back
            conn.execute(
                tasks.update()
                .where(tasks.c.id == task_id)
                .values(
                    active=tasks.c.active - 1,
                    open=open_flag(p.workflow.overlap, tasks.c.active - 1),
                )
            )
        result = {"skipped": True}
        remember(conn, client_id, user, task_id, "skip", result)
        audit.append(conn, user.actor, "task.skip", f"task:{task_id}", {"reason": reason[:200]})
        return result

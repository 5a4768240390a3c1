"""The task queue: lease the next task to an annotator, expire leases, record skips.

A task is claimed by one conditional UPDATE (`active < overlap`, the user holds no
assignment for it), so at most `overlap` distinct annotators ever hold or have
done a non-gold task, whatever the concurrency. Gold tasks are open to everyone.

`lease_next` and the helpers take a `Tx` (plain SQL, prepared on SQLite) so the server
can run many of them in one group-committed transaction; `next_task` is the same in a
transaction of its own.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import case

from assay.domain.labels import canonical_json
from assay.errors import Conflict, NotFound, PermissionDenied
from assay.labeling._access import visible
from assay.labeling._tx import Tx, in_list, write_tx
from assay.labeling.catalog import open_project, open_with_markings
from assay.labeling.items import item_view
from assay.labeling.prelabels import prelabels_for
from assay.labeling.projects import Project
from assay.labeling.users import User
from assay.store.schema import tasks
from assay.timeutil import now_iso
from assay.workspace import Workspace

# States in which an assignment keeps the task away from the same user.
HOLDING = ("leased", "submitted", "skipped", "rejected")
EXPIRY_EVERY = 1.0  # seconds between scans for stale leases, per process


@dataclass(frozen=True)
class Lease:
    task_id: int
    item: dict[str, Any]
    prelabels: list[dict[str, Any]]
    lease_expires: str
    prelabel_source: str | None = None  # "record" (labels of record) | "model" | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "item": self.item,
            "media_url": f"/api/v1/items/{self.item['id']}/blob",
            "prelabels": self.prelabels,
            "prelabel_source": self.prelabel_source,
            "lease_expires": self.lease_expires,
        }


class TaskRow(NamedTuple):
    id: int
    project_id: int
    item_id: str
    marking: str
    is_gold: int
    gold: str | None
    active: int
    done: int
    review: str | None
    target: int | None


class Stats(NamedTuple):
    served: int
    gold_served: int
    gold_seen: int
    gold_score: float
    paused: int


class ItemRow(NamedTuple):
    id: str
    media_type: str
    width: int | None
    height: int | None
    marking: str
    name: str | None
    size: int
    metadata: str | None


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def open_flag(overlap: int, active: Any) -> Any:
    """SQL for a task's `open` column once `active` is known (gold tasks stay open)."""
    return case((tasks.c.is_gold == 1, 1), (active < overlap, 1), else_=0)


_EXPIRED = (
    "SELECT a.id, a.task_id, t.project_id FROM assignments a JOIN tasks t ON t.id = a.task_id "
    "WHERE a.state = 'leased' AND a.expires < :now"
)
_EXPIRE = "UPDATE assignments SET state = 'expired' WHERE id = :id AND state = 'leased'"
RELEASE = (
    "UPDATE tasks SET active = active - 1, "
    "open = CASE WHEN is_gold = 1 OR active - 1 < COALESCE(target, :k) THEN 1 ELSE 0 END "
    "WHERE id = :id"
)
_STATS = (
    "SELECT served, gold_served, gold_seen, gold_score, paused FROM annotator_stats "
    "WHERE project_id = :p AND user_id = :u"
)
_STATS_NEW = (
    "INSERT INTO annotator_stats (project_id, user_id, served, gold_served, submitted, seconds, "
    "gold_seen, gold_score, paused) VALUES (:p, :u, 0, 0, 0, 0, 0, 0, 0) "
    "ON CONFLICT (project_id, user_id) DO NOTHING"
)
_HELD = (
    "SELECT a.task_id, a.expires, t.marking FROM assignments a JOIN tasks t ON t.id = a.task_id "
    "WHERE a.project_id = :p AND a.user_id = :u AND a.state = 'leased'"
)
_OPEN_FOR_USER = (
    "SELECT t.id FROM tasks t WHERE t.project_id = :p AND t.open = 1 "
    "AND t.is_gold = :g {filter} AND NOT EXISTS (SELECT 1 FROM assignments a "
    "WHERE a.task_id = t.id AND a.user_id = :u "
    "AND a.state IN ('leased', 'submitted', 'skipped', 'rejected')) "
    "ORDER BY t.priority, t.id LIMIT 1{lock}"
)
_CLAIM = (
    "UPDATE tasks SET active = active + 1, "
    "open = CASE WHEN is_gold = 1 OR active + 1 < COALESCE(target, :k) THEN 1 ELSE 0 END "
    f"WHERE id = ({_OPEN_FOR_USER}) "
    "AND (is_gold = 1 OR active < COALESCE(target, :k)) RETURNING id"
)
_LEASE = (
    "INSERT INTO assignments (task_id, project_id, user_id, state, leased_at, expires) "
    "VALUES (:t, :p, :u, 'leased', :now, :exp) ON CONFLICT (task_id, user_id) DO UPDATE "
    "SET state = 'leased', leased_at = excluded.leased_at, expires = excluded.expires "
    "WHERE assignments.state = 'expired'"
)
_SERVED = (
    "UPDATE annotator_stats SET served = served + 1, gold_served = gold_served + :g "
    "WHERE project_id = :p AND user_id = :u"
)
_ITEM = (
    "SELECT id, media_type, width, height, marking, name, size, metadata FROM items "
    "WHERE id = (SELECT item_id FROM tasks WHERE id = :t)"
)
TASK_ROW = (
    "SELECT id, project_id, item_id, marking, is_gold, gold, active, done, review, target "
    "FROM tasks WHERE id = :t"
)
_PREVIOUS = "SELECT action, result, task_id FROM submissions WHERE user_id = :u AND client_id = :c"
_REMEMBER = (
    "INSERT INTO submissions (client_id, user_id, task_id, action, result, created) "
    "VALUES (:c, :u, :t, :a, :r, :now)"
)
_last_expiry: dict[str, float] = {}
_CLAIM_TRIES = 50


def expire_leases(tx: Tx, ws: Workspace, now: float) -> int:
    """Return the tasks of leases that ran out to the queue (at most once a second)."""
    last = _last_expiry.get(tx.key)
    if last is not None and 0 <= now - last < EXPIRY_EVERY:
        return 0
    _last_expiry[tx.key] = now
    stale = tx.all(_EXPIRED, {"now": now})
    for a_id, task_id, project_id in stale:
        if tx.run(_EXPIRE, {"id": a_id}):
            overlap = open_project(tx, ws, None, int(project_id)).workflow.overlap
            tx.run(RELEASE, {"id": task_id, "k": overlap})
    return len(stale)


def stats_row(tx: Tx, project_id: int, user_id: int) -> Stats:
    row = tx.one(_STATS, {"p": project_id, "u": user_id})
    if row is None:
        tx.run(_STATS_NEW, {"p": project_id, "u": user_id})
        row = tx.one(_STATS, {"p": project_id, "u": user_id})
    return Stats(*row)


def next_task(ws: Workspace, user: User, project: str, *, now: float | None = None) -> Lease | None:
    """Lease a task `user` has not done, or None when nothing is left for them."""
    with write_tx(ws.db) as tx:
        return lease_next(tx, ws, user, project, time.time() if now is None else now)


def lease_next(tx: Tx, ws: Workspace, user: User, project: str, now: float) -> Lease | None:
    """`next_task` inside the caller's write transaction."""
    user.require("label")
    p, present = open_with_markings(tx, ws, user, project)
    allowed = frozenset(visible(ws.scheme, user, present))
    expire_leases(tx, ws, now)
    stats = stats_row(tx, p.id, user.id)
    if stats.paused:
        raise PermissionDenied(
            f"{user.name} is paused in project {p.name!r}: gold accuracy is below "
            f"{p.workflow.gold_min_accuracy:.0%}; ask a manager to review"
        )
    for task_id, expires, marking in tx.all(_HELD, {"p": p.id, "u": user.id}):
        if marking in allowed:
            return _lease_view(ws, tx, p, task_id, expires)
    wf = p.workflow
    # About `gold_share` of what each annotator is served is gold, at a phase of their own: a
    # share counted from 0 served gold first to everyone, which told the first task was gold.
    phase = _gold_phase(p, user) if wf.gold_share > 0 else 0.0
    want_gold = stats.gold_served < math.floor(wf.gold_share * (stats.served + 1) + phase)
    # Gold is mixed into real work, never served on its own once the work has run out.
    want_gold = want_gold and _claim(tx, p, user, allowed, False, dry=True) is not None
    claimed = None
    gold = False
    for gold in (True, False) if want_gold else (False,):
        claimed = _claim(tx, p, user, allowed, gold)
        if claimed is not None:
            break
    if claimed is None:
        return None
    expires = now + wf.lease_seconds
    tx.run(_LEASE, {"t": claimed, "p": p.id, "u": user.id, "now": now, "exp": expires})
    tx.run(_SERVED, {"g": int(gold), "p": p.id, "u": user.id})
    tx.audit(user.actor, "task.lease", f"task:{claimed}", {"project": p.name})
    return _lease_view(ws, tx, p, claimed, expires)


def _gold_phase(p: Project, user: User) -> float:
    """A number in [0, 1) fixed per project and annotator: where in each run of 1/share tasks
    their gold falls. Drawn from the two ids alone, so a campaign replays the same (a workspace
    key would change the counts of the README's walk-through from one workspace to the next)."""
    digest = hashlib.blake2b(f"gold:{p.id}:{user.id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _claim(
    tx: Tx, p: Project, user: User, allowed: frozenset[str], gold: bool, *, dry: bool = False
) -> int | None:
    """Claim the next open task (or with `dry`, only find it)."""
    if not allowed:
        return None
    params: dict[str, Any] = {"k": p.workflow.overlap, "p": p.id, "g": int(gold), "u": user.id}
    # Always filtered: markings rise while the server runs, so no set is ever "all of them".
    marks, extra = in_list("m", sorted(allowed))
    find = _OPEN_FOR_USER.format(filter=f"AND t.marking IN {marks}", lock="")
    if dry:
        row = tx.one(find, {**params, **extra})
        return int(row[0]) if row is not None else None
    if tx.dialect == "sqlite":  # one writer at a time: the task found is still open
        row = tx.one(
            _CLAIM.format(filter=f"AND t.marking IN {marks}", lock=""), {**params, **extra}
        )
        return int(row[0]) if row is not None else None
    # Under READ COMMITTED concurrent claimers would all pick the same first task, and all but
    # one would find it full on the re-check: each locks the task it picks and passes over
    # those others are claiming. A task whose lock is held for another reason (a submit
    # counting it done) is passed over too, so while a task is still open, try again.
    claim = _CLAIM.format(filter=f"AND t.marking IN {marks}", lock=" FOR UPDATE OF t SKIP LOCKED")
    for attempt in range(_CLAIM_TRIES):
        row = tx.one(claim, {**params, **extra})
        if row is not None:
            return int(row[0])
        if tx.one(find, {**params, **extra}) is None:
            return None
        time.sleep(0.001 * (attempt + 1))
    return None


def _lease_view(ws: Workspace, tx: Tx, p: Project, task_id: int, expires: float) -> Lease:
    row = ItemRow(*tx.one(_ITEM, {"t": task_id}))
    pre = prelabels_for(tx, p, row.id)
    return Lease(task_id, item_view(ws, row), pre.to_list(), iso(expires), pre.source)


def task_for_user(tx: Tx, ws: Workspace, user: User, task_id: int) -> tuple[TaskRow, Project]:
    """The task row and project, or NotFound when missing or above the user's need-to-know."""
    found = tx.one(TASK_ROW, {"t": task_id})
    row = TaskRow(*found) if found is not None else None
    if row is None or not ws.scheme.allows(user.clearance, ws.scheme.parse(row.marking)):
        raise NotFound(f"no task {task_id}")
    try:
        p, _present = open_with_markings(tx, ws, user, int(row.project_id))
    except NotFound:  # a project above the user: its tasks are as unknown as it is
        raise NotFound(f"no task {task_id}") from None
    return row, p


def previous(
    tx: Tx, client_id: str, user: User, action: str, task_id: int | None = None
) -> dict[str, Any] | None:
    """The stored result of a retried request with the same client id, if any.

    A client id is its user's idempotency key: another user's request with the same id is a
    request of its own. A retry is the same user's same action on the same task (`task_id`,
    where the request names one): the user's client id of another task's answer is refused,
    never taken as a retry (its answer would be dropped unseen). Concurrent retries of one
    request queue here, so the later ones see the first's result (under READ COMMITTED each
    statement sees what committed before it) instead of racing it.
    """
    tx.serialize(f"client:{user.id}:{client_id}")
    row = tx.one(_PREVIOUS, {"u": user.id, "c": client_id})
    if row is None:
        return None
    if row[0] != action or (task_id is not None and int(row[2]) != task_id):
        raise Conflict(
            f"client_id {client_id!r} was already used for another task or action; a retry "
            "repeats its request exactly, and each new answer needs a client_id of its own "
            "(e.g. a UUID)"
        )
    return json.loads(row[1])  # type: ignore[no-any-return]


def remember(
    tx: Tx, client_id: str, user: User, task_id: int, action: str, result: dict[str, Any]
) -> None:
    params = {
        "c": client_id,
        "u": user.id,
        "t": task_id,
        "a": action,
        "r": canonical_json(result),
        "now": now_iso(),
    }
    tx.run(_REMEMBER, params)


_HOLDER = (
    "SELECT id, state FROM assignments WHERE task_id = :t AND user_id = :u "
    "AND state IN ('leased', 'expired')"
)
_SKIPPED = (
    "UPDATE assignments SET state = 'skipped', finished_at = :now, reason = :r WHERE id = :id"
)


def skip_task(
    ws: Workspace, user: User, task_id: int, client_id: str, reason: str
) -> dict[str, Any]:
    """Give a leased task back with a reason; the same user is not served it again."""
    user.require("label")
    with write_tx(ws.db) as tx:
        first = previous(tx, client_id, user, "skip", task_id)
        if first is not None:
            return first
        _task, p = task_for_user(tx, ws, user, task_id)
        held = tx.one(_HOLDER, {"t": task_id, "u": user.id})
        if held is None:
            raise NotFound(f"task {task_id} is not leased to {user.name}")
        tx.run(_SKIPPED, {"now": time.time(), "r": reason[:2000], "id": held[0]})
        if held[1] == "leased":  # an expired lease already gave its place back
            tx.run(RELEASE, {"id": task_id, "k": p.workflow.overlap})
        result = {"skipped": True}
        remember(tx, client_id, user, task_id, "skip", result)
        tx.audit(user.actor, "task.skip", f"task:{task_id}", {"reason": reason[:200]})
        return result

"""What a user may learn of projects: each project's marking, and only the projects they
are cleared for.

A project's marking is the highest of its tasks' markings, its declared marking and its
dataset's declared marking. A user below it gets exactly what a missing project gives
(the same `NotFound`, the same message), so names, titles, instructions, counts and ids
of projects above them never reach them. Every check reads the markings in the caller's
transaction: a marking raised a moment ago counts.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, and_, case, cast, func, select
from sqlalchemy.engine import Connection

from assay.domain.marking import Marking, MarkingScheme
from assay.errors import NotFound
from assay.labeling._access import marking_filter, present_markings, visible_markings
from assay.labeling._tx import Tx, tx_for
from assay.labeling.projects import PROJECT_COLUMNS, Project, row_to_project
from assay.labeling.users import User
from assay.store.schema import tasks
from assay.workspace import Workspace

_BY_NAME = f"SELECT {PROJECT_COLUMNS} FROM projects WHERE name = :k"
_BY_ID = f"SELECT {PROJECT_COLUMNS} FROM projects WHERE id = :k"
_ALL = f"SELECT {PROJECT_COLUMNS} FROM projects ORDER BY name"
_DATASET = "SELECT marking FROM datasets WHERE name = :n"


def missing(name: str | int) -> NotFound:
    """The one answer for a project that does not exist or that the user may not know of."""
    return NotFound(f"no project named {str(name)!r}; see `assay project list`")


def project_marking(tx: Tx, scheme: MarkingScheme, p: Project) -> Marking:
    """The project's marking as stored now."""
    ds = tx.one(_DATASET, {"n": p.dataset})
    texts = [*present_markings(tx, p.id), p.marking, str(ds[0]) if ds else ""]
    return scheme.highest(scheme.parse(t) for t in texts if t)


def may_know(tx: Tx, scheme: MarkingScheme, user: User | None, p: Project) -> bool:
    """Whether `user` may learn that `p` exists (`None`: the local CLI, which may)."""
    return user is None or scheme.allows(user.clearance, project_marking(tx, scheme, p))


def open_project(tx: Tx, ws: Workspace, user: User | None, key: str | int) -> Project:
    """The project named (or numbered) `key`, or `missing` when absent or above `user`."""
    row = tx.one(_BY_ID if isinstance(key, int) else _BY_NAME, {"k": key})
    if row is None:
        raise missing(key)
    p = row_to_project(row)
    if not may_know(tx, ws.scheme, user, p):
        raise missing(key)
    return p


def visible_project(conn: Connection, ws: Workspace, user: User | None, name: str) -> Project:
    """`open_project` on a SQLAlchemy connection."""
    return open_project(tx_for(conn), ws, user, name)


def list_projects(ws: Workspace, user: User | None) -> list[dict[str, Any]]:
    """The projects `user` may know of (all when `user` is None), with their counts."""
    out = []
    with ws.db.read() as conn:
        tx = tx_for(conn)
        for row in tx.all(_ALL, {}):
            p = row_to_project(row)
            marking = project_marking(tx, ws.scheme, p)
            if user is not None and not ws.scheme.allows(user.clearance, marking):
                continue
            out.append(
                {
                    **summary(ws, conn, p, user),
                    "title": p.title,
                    "dataset": p.dataset,
                    "marking": ws.scheme.render(marking),
                }
            )
    return out


def summary(ws: Workspace, conn: Connection, p: Project, user: User | None) -> dict[str, Any]:
    """Counts of a project's non-gold tasks visible to `user`."""
    cond = [tasks.c.project_id == p.id, tasks.c.is_gold == 0]
    if user is not None:
        allowed = visible_markings(tx_for(conn), ws.scheme, user, p.id)
        cond.append(marking_filter(tasks.c.marking, allowed))
    full = tasks.c.done >= func.coalesce(tasks.c.target, p.workflow.overlap)
    row = conn.execute(
        select(
            func.count(),
            func.coalesce(func.sum(cast(case((full, 1), else_=0), Integer)), 0),
            func.coalesce(
                func.sum(cast(case((and_(~full, tasks.c.active > 0), 1), else_=0), Integer)), 0
            ),
        ).where(*cond)
    ).one()
    return {
        "name": p.name,
        "task_count": int(row[0]),
        "done_count": int(row[1]),
        "in_progress": int(row[2]),
    }

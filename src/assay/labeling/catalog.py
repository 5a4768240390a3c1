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

# A project row and its dataset's declared marking (the tenth column), in one read.
_SELECT = (
    "SELECT "
    + ", ".join(f"p.{c}" for c in PROJECT_COLUMNS.split(", "))
    + ", d.marking AS dataset_marking FROM projects p LEFT JOIN datasets d ON d.name = p.dataset"
)
_BY_NAME = f"{_SELECT} WHERE p.name = :k"
_BY_ID = f"{_SELECT} WHERE p.id = :k"
_ALL = f"{_SELECT} ORDER BY p.name"
_DATASET = "SELECT marking FROM datasets WHERE name = :n"


def _split(row: Any) -> tuple[Project, str]:
    values = tuple(row)
    return row_to_project(values[:-1]), str(values[-1] or "")


def missing(name: str | int) -> NotFound:
    """The one answer for a project that does not exist or that the user may not know of."""
    return NotFound(f"no project named {str(name)!r}; see `assay project list`")


def project_marking(
    tx: Tx,
    scheme: MarkingScheme,
    p: Project,
    present: list[str] | None = None,
    dataset_marking: str | None = None,
) -> Marking:
    """The project's marking as stored now: the highest of its tasks' (`present`, if already
    read) and its declared one (`declared_marking`)."""
    marks = present_markings(tx, p.id) if present is None else present
    declared = declared_marking(tx, scheme, p, dataset_marking)
    return scheme.highest([declared, *(scheme.parse(t) for t in marks if t)])


def declared_marking(
    tx: Tx, scheme: MarkingScheme, p: Project, dataset_marking: str | None = None
) -> Marking:
    """The marking of what the project itself says (title, instructions, schema): its declared
    marking and its dataset's (`dataset_marking`, if already read). A page showing one of its
    tasks is marked at least this high, however low the task's item."""
    if dataset_marking is None:
        dataset_marking = dataset_marking_of(tx, p)
    return scheme.highest(scheme.parse(t) for t in (p.marking, dataset_marking) if t)


def dataset_marking_of(tx: Tx, p: Project) -> str:
    """The marking declared on the project's dataset ("" when none)."""
    ds = tx.one(_DATASET, {"n": p.dataset})
    return str(ds[0]) if ds else ""


def open_project(tx: Tx, ws: Workspace, user: User | None, key: str | int) -> Project:
    """The project named (or numbered) `key`, or `missing` when absent or above `user`."""
    return open_with_markings(tx, ws, user, key)[0]


def open_with_markings(
    tx: Tx, ws: Workspace, user: User | None, key: str | int
) -> tuple[Project, list[str]]:
    """`open_project`, and the markings of the project's tasks read on the way."""
    row = tx.one(_BY_ID if isinstance(key, int) else _BY_NAME, {"k": key})
    if row is None:
        present_markings(tx, 0)  # the read a hidden project costs, so both take as long
        raise missing(key)
    p, dataset_marking = _split(row)
    present = present_markings(tx, p.id)
    if user is not None and not ws.scheme.allows(
        user.clearance, project_marking(tx, ws.scheme, p, present, dataset_marking)
    ):
        raise missing(key)
    return p, present


def visible_project(conn: Connection, ws: Workspace, user: User | None, name: str) -> Project:
    """`open_project` on a SQLAlchemy connection."""
    return open_project(tx_for(conn), ws, user, name)


def known_projects(conn: Connection, ws: Workspace, user: User, names: set[str]) -> set[str]:
    """Those of `names` that are projects `user` may know of (a name no project has is left
    out too: whatever once bore it cannot be shown to be below the user)."""
    known = set()
    tx = tx_for(conn)
    for name in sorted(names):
        try:
            open_project(tx, ws, user, name)
        except NotFound:
            continue
        known.add(name)
    return known


def list_projects(ws: Workspace, user: User | None) -> list[dict[str, Any]]:
    """The projects `user` may know of (all when `user` is None), with their counts."""
    out = []
    with ws.db.read() as conn:
        tx = tx_for(conn)
        for row in tx.all(_ALL, {}):
            p, dataset_marking = _split(row)
            marking = project_marking(tx, ws.scheme, p, None, dataset_marking)
            if user is not None and not ws.scheme.allows(user.clearance, marking):
                continue
            out.append(
                {
                    **summary(ws, conn, p, user),
                    "title": p.title,
                    "dataset": p.dataset,
                    "marking": ws.scheme.render(marking),
                    "review": p.workflow.review,
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
    cond[1] = tasks.c.is_gold == 1
    n_gold = conn.execute(select(func.count()).where(*cond)).scalar_one()
    return {
        "name": p.name,
        "task_count": int(row[0]),
        "gold_count": int(n_gold),
        "done_count": int(row[1]),
        "in_progress": int(row[2]),
    }

"""Need-to-know as SQL: the markings a user may see become a `marking IN (...)` filter."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import ColumnElement, false, select
from sqlalchemy.engine import Connection

from assay.domain.marking import MarkingScheme
from assay.errors import NotFound
from assay.labeling.users import User
from assay.store.schema import items, project_markings
from assay.workspace import Workspace

_PRESENT: dict[tuple[str, int], list[str]] = {}  # fixed when the project is created
_ALLOWED: dict[tuple[str, int, str], tuple[frozenset[str], bool]] = {}
_LOCK = threading.Lock()


def present_markings(conn: Connection, project_id: int) -> list[str]:
    key = (str(conn.engine.url), project_id)
    with _LOCK:
        hit = _PRESENT.get(key)
    if hit is None:
        hit = list(
            conn.execute(
                select(project_markings.c.marking).where(
                    project_markings.c.project_id == project_id
                )
            ).scalars()
        )
        with _LOCK:
            _PRESENT[key] = hit
    return hit


def visible_markings(
    conn: Connection, scheme: MarkingScheme, user: User, project_id: int
) -> list[str]:
    """The markings present in a project that `user` is cleared for."""
    return visible(scheme, user, present_markings(conn, project_id))


def allowed_markings(ws: Workspace, user: User, project_id: int) -> tuple[frozenset[str], bool]:
    """The project's markings `user` may see, and whether that is all of them.

    Kept per clearance: a project's markings are fixed when it is created.
    """
    key = (ws.db.url, project_id, user.clearance_text)
    hit = _ALLOWED.get(key)
    if hit is None:
        with ws.db.read() as conn:
            present = present_markings(conn, project_id)
        allowed = visible(ws.scheme, user, present)
        hit = (frozenset(allowed), len(allowed) == len(present))
        with _LOCK:
            _ALLOWED[key] = hit
    return hit


def may_see(ws: Workspace, user: User, project_id: int, marking: str) -> bool:
    """Whether `user` is cleared for `marking` (a marking of that project's tasks)."""
    allowed, _ = allowed_markings(ws, user, project_id)
    return marking in allowed or ws.scheme.allows(user.clearance, ws.scheme.parse(marking))


def visible(scheme: MarkingScheme, user: User, markings: list[str]) -> list[str]:
    return [m for m in markings if scheme.allows(user.clearance, scheme.parse(m))]


def marking_filter(column: Any, allowed: list[str]) -> ColumnElement[bool]:
    """`column IN allowed`, or a false condition when nothing is allowed."""
    if not allowed:
        return false()
    return column.in_(allowed)  # type: ignore[no-any-return]


def visible_item(conn: Connection, scheme: MarkingScheme, user: User, item_id: str) -> Any:
    """The item row, or `NotFound` when it is missing or above the user's need-to-know.

    Both cases give the same message, so a denial leaks nothing about existence.
    """
    row = conn.execute(select(items).where(items.c.id == item_id)).first()
    if row is None or not scheme.allows(user.clearance, scheme.parse(row.marking)):
        raise NotFound(f"no item {item_id[:16]!r}")
    return row

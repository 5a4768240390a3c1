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

_PRESENT: dict[tuple[str, int], list[str]] = {}  # fixed when the project is created
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
    present = present_markings(conn, project_id)
    return [m for m in present if scheme.allows(user.clearance, scheme.parse(m))]


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

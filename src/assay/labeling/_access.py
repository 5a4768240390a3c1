"""Need-to-know as SQL: the markings a user may see become a `marking IN (...)` filter.

Nothing here is cached: markings rise while a server runs (`assay.markings`), so every
decision reads the markings in the transaction that acts on it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, false, select
from sqlalchemy.engine import Connection

from assay.domain.marking import MarkingScheme
from assay.errors import NotFound
from assay.labeling._tx import Tx
from assay.labeling.users import User
from assay.store.schema import items

_PRESENT = "SELECT marking FROM project_markings WHERE project_id = :p"


def present_markings(tx: Tx, project_id: int) -> list[str]:
    """The markings of a project's tasks, as stored now."""
    return [str(r[0]) for r in tx.all(_PRESENT, {"p": project_id})]


def visible_markings(tx: Tx, scheme: MarkingScheme, user: User, project_id: int) -> list[str]:
    """The markings present in a project that `user` is cleared for."""
    return visible(scheme, user, present_markings(tx, project_id))


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

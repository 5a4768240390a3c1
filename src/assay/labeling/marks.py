"""`assay item mark`: raise the marking of chosen items, or lower it as an admin.

Raising is open to whoever may write the workspace: it can only protect more. Lowering
(`downgrade_items`) names an admin, who proves it with their password, and a reason; the
audit trail keeps both with the old and the new marking of every item.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Connection

from assay import versioning
from assay.errors import InvalidInput, NotFound, PermissionDenied
from assay.labeling._db import write
from assay.labeling.users import check_password
from assay.markings import MarkChange, downgrade, raise_markings
from assay.store.schema import items
from assay.workspace import Workspace


def raise_items(ws: Workspace, query: str, marking: str) -> list[MarkChange]:
    """Raise the items matching `query` (item query language) to at least `marking`.

    Returns the items whose marking changed, with old and new; the others already held it.
    """
    wanted = ws.scheme.render(ws.scheme.parse(marking))
    with write(ws.db) as conn:
        ids = _matching(conn, query)
        return raise_markings(conn, ws.scheme, ws.actor, dict.fromkeys(ids, wanted), via="mark")


def downgrade_items(
    ws: Workspace, query: str, marking: str, *, admin: str, password: str, reason: str
) -> list[MarkChange]:
    """Set the items matching `query` to exactly `marking`, lower too: an admin's act."""
    if not reason.strip():
        raise InvalidInput("--downgrade needs --reason TEXT saying why the marking may go down")
    wanted = ws.scheme.render(ws.scheme.parse(marking))
    user = check_password(ws, admin, password)
    if user is None:
        raise PermissionDenied(f"wrong user name or password for {admin!r}")
    user.require("admin")
    with write(ws.db) as conn:
        ids = _matching(conn, query)
        return downgrade(conn, ws.scheme, user.actor, ids, wanted, reason=reason)


def _matching(conn: Connection, query: str) -> list[str]:
    cond = versioning.compile_query(query, conn.dialect.name)
    ids = [str(r[0]) for r in conn.execute(select(items.c.id).where(cond)).all()]
    if not ids:
        raise NotFound(f"no item matches {query!r}")
    return ids

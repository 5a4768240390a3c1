"""Raise (or, as an admin, lower) item markings and keep every copy of them in step."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.engine import Connection

from assay import audit
from assay.domain.marking import MarkingScheme
from assay.errors import InvalidInput
from assay.store._sql import select_in
from assay.store.schema import audit as audit_table
from assay.store.schema import datasets, items, project_markings, projects, tasks

# The audit actions that move an item's marking (`raise_markings`, `downgrade`).
MOVES = ("item.mark", "item.downgrade")


@dataclass(frozen=True)
class MarkChange:
    """One item whose marking moved: from `old` to `new`."""

    item_id: str
    old: str
    new: str

    def to_dict(self) -> dict[str, str]:
        return {"item": self.item_id, "old": self.old, "new": self.new}


def raise_markings(
    conn: Connection,
    scheme: MarkingScheme,
    actor: str,
    wanted: Mapping[str, str],
    *,
    via: str,
) -> list[MarkChange]:
    """Give each item of `wanted` the higher of its marking and the wanted one.

    "Higher" is the scheme's combination: the higher level and the union of compartments,
    so `SECRET` met with `CUI/FLOOD` becomes `SECRET/FLOOD`. Items not in the database are
    left alone (the caller inserts those with their marking). Call inside the transaction
    that brings the new marking in; `via` names that path in the audit event.
    """
    if not wanted:
        return []
    current = select_in(conn, [items.c.id, items.c.marking], items.c.id, list(wanted))
    changes = []
    for item_id, old in current:
        new = scheme.render(scheme.highest([scheme.parse(old), scheme.parse(wanted[item_id])]))
        if new != old:
            changes.append(MarkChange(item_id, old, new))
    changes = _with_derived(conn, scheme, changes)
    _apply(conn, actor, changes, "item.mark", {"via": via})
    return changes


def _with_derived(
    conn: Connection, scheme: MarkingScheme, changes: list[MarkChange]
) -> list[MarkChange]:
    """`changes` and the items made from a raised item (a scene's chips, a video's frames,
    and theirs in turn), each raised to at least its source's new marking: they hold its
    pixels, so they are what it is."""
    found = {c.item_id: c for c in changes}
    sources = {c.item_id: c.new for c in changes}
    while sources:
        rows = select_in(
            conn, [items.c.id, items.c.marking, items.c.parent_id], items.c.parent_id, list(sources)
        )
        raised: dict[str, str] = {}
        for item_id, marking, parent in rows:
            was = found[item_id].old if item_id in found else marking
            now = found[item_id].new if item_id in found else marking
            new = scheme.render(scheme.highest([scheme.parse(now), scheme.parse(sources[parent])]))
            if new != now:
                found[item_id] = MarkChange(item_id, was, new)
                raised[item_id] = new
        sources = raised
    return list(found.values())


def carry_project_marking(
    conn: Connection,
    scheme: MarkingScheme,
    actor: str,
    project: str,
    item_ids: list[str],
    *,
    via: str,
) -> list[MarkChange]:
    """Raise `item_ids` to the marking declared for `project` (or for its dataset).

    Labels made in a project declared higher than its items (its instructions, schema or
    purpose say more) carry that marking to the items they label.
    """
    row = conn.execute(
        select(projects.c.marking, datasets.c.marking)
        .select_from(projects.outerjoin(datasets, datasets.c.name == projects.c.dataset))
        .where(projects.c.name == project)
    ).first()
    declared = [m for m in (row or ()) if m]
    if not declared or not item_ids:
        return []
    wanted = scheme.render(scheme.highest(scheme.parse(m) for m in declared))
    return raise_markings(conn, scheme, actor, dict.fromkeys(item_ids, wanted), via=via)


def downgrade(
    conn: Connection,
    scheme: MarkingScheme,
    actor: str,
    item_ids: list[str],
    marking: str,
    *,
    reason: str,
) -> list[MarkChange]:
    """Set `item_ids` to exactly `marking`, lower or not; the caller has checked the admin.

    Needs a reason, which the audit event keeps with the old and new marking of every item.
    """
    if not reason.strip():
        raise InvalidInput("a downgrade needs --reason TEXT saying why the marking may go down")
    new = scheme.render(scheme.parse(marking))
    current = select_in(conn, [items.c.id, items.c.marking], items.c.id, item_ids)
    changes = [MarkChange(i, old, new) for i, old in current if old != new]
    _apply(conn, actor, changes, "item.downgrade", {"reason": reason.strip()})
    return changes


def _apply(
    conn: Connection, actor: str, changes: list[MarkChange], action: str, details: dict[str, str]
) -> None:
    if not changes:
        return
    params = [{"b_id": c.item_id, "b_m": c.new} for c in changes]
    conn.execute(
        items.update().where(items.c.id == bindparam("b_id")).values(marking=bindparam("b_m")),
        params,
    )
    conn.execute(
        tasks.update().where(tasks.c.item_id == bindparam("b_id")).values(marking=bindparam("b_m")),
        params,
    )
    ids = [c.item_id for c in changes]
    touched = {r[0] for r in select_in(conn, [tasks.c.project_id], tasks.c.item_id, ids)}
    for project_id in sorted(touched):
        _refresh_project(conn, project_id)
    for c in changes:
        audit.append(
            conn, actor, action, f"item:{c.item_id}", {"old": c.old, "new": c.new, **details}
        )


def _refresh_project(conn: Connection, project_id: int) -> None:
    """The project's set of markings present, recomputed from its tasks."""
    conn.execute(delete(project_markings).where(project_markings.c.project_id == project_id))
    present = conn.execute(
        select(tasks.c.marking).where(tasks.c.project_id == project_id).distinct()
    ).scalars()
    rows = [{"project_id": project_id, "marking": m} for m in present]
    if rows:
        conn.execute(project_markings.insert(), rows)


def moved_since(conn: Connection, since: int) -> tuple[int, set[str]]:
    """The newest audit event's number, and the items whose marking moved after event `since`
    (every move is one of `MOVES`): a reader that keeps derived markings asks from the number
    it was given last. Only that number is read at a first look (`since` 0: the reader reads
    the markings themselves) and when no event is newer."""
    head = int(conn.execute(select(func.max(audit_table.c.seq))).scalar() or 0)
    if not since or head <= since:
        return head, set()
    targets = conn.execute(
        select(audit_table.c.target).where(
            audit_table.c.seq > since, audit_table.c.seq <= head, audit_table.c.action.in_(MOVES)
        )
    ).scalars()
    return head, {t.removeprefix("item:") for t in targets}

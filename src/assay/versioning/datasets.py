"""Datasets: create, list, and manage which items are members of the working state."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, case, func, literal, not_, select
from sqlalchemy.engine import Connection

from assay.domain.labels import payload_hash
from assay.errors import Conflict, InvalidInput, NotFound
from assay.store.schema import commits, datasets, items, working
from assay.timeutil import now_iso
from assay.versioning._query import compile_query

EMPTY_HASH = payload_hash([])


@dataclass(frozen=True)
class DatasetInfo:
    id: int
    name: str
    created: str
    head: str | None
    items: int
    commits: int

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "created": self.created,
            "head": self.head,
            "items": self.items,
            "commits": self.commits,
        }


def _check_name(name: str) -> None:
    if not name or "@" in name or "/" in name or name.strip() != name:
        raise InvalidInput(
            f"bad dataset name {name!r}: use letters, digits, '-', '_' or '.', without '@' or '/'"
        )


def create(conn: Connection, name: str) -> int:
    _check_name(name)
    if conn.execute(select(datasets.c.id).where(datasets.c.name == name)).first():
        raise Conflict(f"dataset {name!r} already exists")
    result = conn.execute(datasets.insert().values(name=name, created=now_iso(), head=None))
    pk = result.inserted_primary_key
    assert pk is not None  # an INSERT always has one
    return int(pk[0])


def dataset_id(conn: Connection, name: str) -> int:
    row = conn.execute(select(datasets.c.id).where(datasets.c.name == name)).first()
    if row is None:
        raise NotFound(f"no dataset named {name!r}; see `assay dataset list`")
    return int(row[0])


def head_of(conn: Connection, ds: int) -> str | None:
    return conn.execute(select(datasets.c.head).where(datasets.c.id == ds)).scalar()


def list_all(conn: Connection) -> list[DatasetInfo]:
    members = (
        select(working.c.dataset_id, func.count().label("n"))
        .where(working.c.state != 2)
        .group_by(working.c.dataset_id)
        .subquery()
    )
    history = (
        select(commits.c.dataset_id, func.count().label("n"))
        .group_by(commits.c.dataset_id)
        .subquery()
    )
    q = (
        select(
            datasets,
            func.coalesce(members.c.n, 0).label("n_items"),
            func.coalesce(history.c.n, 0).label("n_commits"),
        )
        .outerjoin(members, members.c.dataset_id == datasets.c.id)
        .outerjoin(history, history.c.dataset_id == datasets.c.id)
        .order_by(datasets.c.name)
    )
    return [
        DatasetInfo(r.id, r.name, r.created, r.head, r.n_items, r.n_commits)
        for r in conn.execute(q)
    ]


def add_items(conn: Connection, ds: int, *, query: str | None = None) -> int:
    """Add items (all, or those matching `query`) to the working state; returns how many."""
    cond = compile_query(query, conn.dialect.name) if query else literal(True)
    member = select(working.c.item_id).where(working.c.dataset_id == ds)
    # Members marked removed come back with their labels.
    restored = conn.execute(
        working.update()
        .where(
            working.c.dataset_id == ds,
            working.c.state == 2,
            working.c.item_id.in_(select(items.c.id).where(cond)),
        )
        .values(state=case((working.c.base_hash == working.c.label_hash, 0), else_=1))
    ).rowcount
    src = select(
        literal(ds),
        items.c.id,
        literal("[]"),
        literal(EMPTY_HASH),
        literal(0),
        literal("[]"),
        literal("[]"),
        literal(None),
        literal(1),
    ).where(and_(cond, not_(items.c.id.in_(member))))
    added = conn.execute(
        working.insert().from_select(
            [
                "dataset_id",
                "item_id",
                "labels",
                "label_hash",
                "n_regions",
                "annotation_ids",
                "authors",
                "base_hash",
                "state",
            ],
            src,
        )
    ).rowcount
    return int(added) + int(restored)


def add_item_ids(conn: Connection, ds: int, ids: list[str]) -> None:
    """Make the given items members (a no-op for those already in)."""
    from assay.store._sql import insert_ignore

    rows = [
        {
            "dataset_id": ds,
            "item_id": i,
            "labels": "[]",
            "label_hash": EMPTY_HASH,
            "n_regions": 0,
            "annotation_ids": "[]",
            "authors": "[]",
            "base_hash": None,
            "state": 1,
        }
        for i in ids
    ]
    insert_ignore(conn, working, rows)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        conn.execute(
            working.update()
            .where(working.c.dataset_id == ds, working.c.state == 2, working.c.item_id.in_(chunk))
            .values(state=case((working.c.base_hash == working.c.label_hash, 0), else_=1))
        )


def remove_items(conn: Connection, ds: int, *, query: str | None = None) -> int:
    cond = compile_query(query, conn.dialect.name) if query else literal(True)
    chosen = select(items.c.id).where(cond)
    dropped = conn.execute(
        working.delete().where(
            working.c.dataset_id == ds, working.c.base_hash.is_(None), working.c.item_id.in_(chosen)
        )
    ).rowcount
    marked = conn.execute(
        working.update()
        .where(
            working.c.dataset_id == ds,
            working.c.base_hash.is_not(None),
            working.c.state != 2,
            working.c.item_id.in_(chosen),
        )
        .values(state=2)
    ).rowcount
    return int(dropped) + int(marked)

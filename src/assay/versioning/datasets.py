"""Datasets: create, list, and manage which items are members of the working state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import and_, func, literal, not_, select
from sqlalchemy.engine import Connection

from assay.domain.labels import payload_hash
from assay.domain.marking import MarkingScheme
from assay.errors import Conflict, InvalidInput, NotFound
from assay.store import BlobStore
from assay.store._sql import insert_ignore, insert_named, insert_rows, select_in
from assay.store.schema import NAME_MAX, commits, datasets, items, working, working_changes
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
    marking: str = ""  # the highest of its working items' markings and its declared one

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "created": self.created,
            "head": self.head,
            "items": self.items,
            "commits": self.commits,
            "marking": self.marking,
        }


def _check_name(name: str) -> None:
    if not name or "@" in name or "/" in name or name.strip() != name:
        raise InvalidInput(
            f"bad dataset name {name!r}: use letters, digits, '-', '_' or '.', without '@' or '/'"
        )
    if len(name) > NAME_MAX:  # PostgreSQL's column holds no more (SQLite's had no limit)
        raise InvalidInput(f"bad dataset name {name[:40]!r}...: at most {NAME_MAX} characters")


def create(conn: Connection, name: str, marking: str = "") -> int:
    """Make an empty dataset; `marking` (rendered) declares it higher than its items."""
    _check_name(name)
    taken = f"dataset {name!r} already exists"
    if conn.execute(select(datasets.c.id).where(datasets.c.name == name)).first():
        raise Conflict(taken)
    row = {"name": name, "created": now_iso(), "head": None, "marking": marking}
    result = insert_named(conn, datasets.insert().values(**row), taken)
    pk = result.inserted_primary_key
    assert pk is not None  # an INSERT always has one
    return int(pk[0])


def dataset_id(conn: Connection, name: str) -> int:
    row = conn.execute(select(datasets.c.id).where(datasets.c.name == name)).first()
    if row is None:
        raise NotFound(f"no dataset named {name!r}; see `assay dataset list`")
    return int(row[0])


def lock_dataset(conn: Connection, ds: int) -> None:
    """Hold the dataset's row until the transaction ends (PostgreSQL; SQLite's writers are
    already one at a time under `BEGIN IMMEDIATE`, and its dialect renders no lock clause).

    A commit locks it before it reads HEAD and the next sequence number, so concurrent
    commits queue instead of building on the same parent; writers of the working state lock
    it too, so no change lands between a commit's read of the change log and its clearing
    of that log. One lock mode for both: a transaction that writes labels and then commits
    never has to upgrade a shared lock (two such upgrades deadlock).
    """
    conn.execute(select(datasets.c.id).where(datasets.c.id == ds).with_for_update())


def head_of(conn: Connection, ds: int) -> str | None:
    return conn.execute(select(datasets.c.head).where(datasets.c.id == ds)).scalar()


def list_all(conn: Connection, scheme: MarkingScheme | None = None) -> list[DatasetInfo]:
    """Every dataset with its size, history length and (given a scheme) its marking."""
    members = (
        select(working.c.dataset_id, func.count().label("n"))
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
    out = [
        DatasetInfo(r.id, r.name, r.created, r.head, r.n_items, r.n_commits, r.marking)
        for r in conn.execute(q)
    ]
    if scheme is None:
        return out
    present: dict[int, list[str]] = {}
    rows = conn.execute(
        select(working.c.dataset_id, items.c.marking)
        .join(items, items.c.id == working.c.item_id)
        .distinct()
    )
    for ds, marking in rows:
        present.setdefault(int(ds), []).append(str(marking))
    return [
        replace(d, marking=scheme.highest_text([*present.get(d.id, []), d.marking or ""]))
        for d in out
    ]


def _insert_ignore_select(conn: Connection, table: Any, cols: list[str], src: Any) -> int:
    stmt: Any
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt = pg_insert(table).from_select(cols, src).on_conflict_do_nothing()
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(table).from_select(cols, src).on_conflict_do_nothing()
    return int(conn.execute(stmt).rowcount)


def mark_changed(conn: Connection, ds: int, ids: Sequence[str]) -> None:
    """Record, before they change, that these members change: keeps their committed labels.

    An item already recorded keeps its first record, which is the committed one. Before a
    dataset's first commit there is nothing to keep: every member is new, and no log is kept.
    """
    if head_of(conn, ds) is None:
        return
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        src = select(
            working.c.dataset_id, working.c.item_id, working.c.label_hash, working.c.labels
        ).where(working.c.dataset_id == ds, working.c.item_id.in_(chunk))
        _insert_ignore_select(
            conn, working_changes, ["dataset_id", "item_id", "base_hash", "base_labels"], src
        )


def add_items(conn: Connection, ds: int, *, query: str | None = None) -> int:
    """Add items (all, or those matching `query`) to the working state; returns how many."""
    lock_dataset(conn, ds)
    cond = compile_query(query, conn.dialect.name) if query else literal(True)
    member = select(working.c.item_id).where(working.c.dataset_id == ds)
    chosen = and_(cond, not_(items.c.id.in_(member)))
    if head_of(conn, ds) is not None:
        _insert_ignore_select(
            conn,
            working_changes,
            ["dataset_id", "item_id"],
            select(literal(ds), items.c.id).where(chosen),
        )
    src = select(
        literal(ds),
        items.c.id,
        literal("[]"),
        literal(EMPTY_HASH),
        literal(0),
        literal(""),
        literal(""),
    ).where(chosen)
    cols = [
        "dataset_id",
        "item_id",
        "labels",
        "label_hash",
        "n_regions",
        "annotation_ids",
        "authors",
    ]
    before = _members(conn, ds)
    conn.execute(working.insert().from_select(cols, src))
    return _members(conn, ds) - before


def _has_members(conn: Connection, ds: int) -> bool:
    q = select(working.c.item_id).where(working.c.dataset_id == ds).limit(1)
    return conn.execute(q).first() is not None


def _members(conn: Connection, ds: int) -> int:
    # INSERT ... SELECT row counts are not reported alike by every driver; count instead.
    q = select(func.count()).select_from(working).where(working.c.dataset_id == ds)
    return int(conn.execute(q).scalar_one())


def members_among(conn: Connection, ds: int, ids: Sequence[str]) -> set[str]:
    """Which of `ids` are members of the dataset's working state."""
    rows = select_in(conn, [working.c.item_id], working.c.item_id, ids, working.c.dataset_id == ds)
    return {r[0] for r in rows}


def add_item_ids(
    conn: Connection,
    ds: int,
    ids: list[str],
    labels: Mapping[str, Mapping[str, object]] | None = None,
) -> list[str]:
    """Make the given items members (a no-op for those already in); returns the new members.

    A new member gets its label columns from `labels` when there
    (`assay.versioning.labels.label_columns`), else no labels: one write where `set_labels`
    would update the row just inserted.
    """
    lock_dataset(conn, ds)
    # A dataset without members (a new one) has none among `ids`: no lookup of each.
    present = members_among(conn, ds, ids) if _has_members(conn, ds) else set()
    new = [i for i in dict.fromkeys(ids) if i not in present]
    given = labels or {}
    # In key order: the table is clustered on it, and sorted inserts of rows carrying their
    # labels touch each B-tree page once instead of splitting pages at random.
    rows = [{"dataset_id": ds, "item_id": i, **given.get(i, _NO_LABELS)} for i in sorted(new)]
    if rows:
        insert_rows(conn, working, rows)
        if head_of(conn, ds) is not None:
            rows_ = [{"dataset_id": ds, "item_id": i} for i in new]
            insert_ignore(conn, working_changes, rows_)
    return new


_NO_LABELS: Mapping[str, object] = {
    "labels": "[]",
    "label_hash": EMPTY_HASH,
    "n_regions": 0,
    "annotation_ids": "",
    "authors": "",
}


def count_matching(conn: Connection, query: str | None = None) -> int:
    """How many items of the workspace match `query` (all of them without one)."""
    cond = compile_query(query, conn.dialect.name) if query else literal(True)
    return int(conn.execute(select(func.count()).select_from(items).where(cond)).scalar() or 0)


def remove_items(conn: Connection, ds: int, *, query: str | None = None) -> int:
    """Drop matching members from the working state (their committed rows stay in history)."""
    lock_dataset(conn, ds)
    cond = compile_query(query, conn.dialect.name) if query else literal(True)
    matching = working.c.item_id.in_(select(items.c.id).where(cond))
    src = select(
        working.c.dataset_id, working.c.item_id, working.c.label_hash, working.c.labels
    ).where(working.c.dataset_id == ds, matching)
    if head_of(conn, ds) is not None:
        _insert_ignore_select(
            conn, working_changes, ["dataset_id", "item_id", "base_hash", "base_labels"], src
        )
    return int(conn.execute(working.delete().where(working.c.dataset_id == ds, matching)).rowcount)


def restore_committed(conn: Connection, blobs: BlobStore, ds: int) -> int:
    """Give items that were removed since the last commit and added back their committed labels.

    Reads only the change log, and the HEAD manifest only when there is such an item.
    """
    from assay.versioning import _manifest
    from assay.versioning.labels import join_ids

    rows = conn.execute(
        select(working.c.item_id)
        .join(
            working_changes,
            and_(
                working_changes.c.dataset_id == working.c.dataset_id,
                working_changes.c.item_id == working.c.item_id,
            ),
        )
        .where(
            working.c.dataset_id == ds,
            working_changes.c.base_hash.is_not(None),
            working.c.label_hash == EMPTY_HASH,
            working_changes.c.base_hash != EMPTY_HASH,
        )
    ).all()
    head = head_of(conn, ds)
    if not rows or head is None:
        return 0
    manifest = conn.execute(select(commits.c.manifest).where(commits.c.id == head)).scalar_one()
    table = _manifest.take_items(_manifest.read(blobs, manifest), [r[0] for r in rows])
    for rec in table.to_pylist():
        conn.execute(
            working.update()
            .where(working.c.dataset_id == ds, working.c.item_id == rec["item_id"])
            .values(
                labels=rec["labels"],
                label_hash=rec["label_hash"],
                n_regions=rec["n_regions"],
                annotation_ids=join_ids(rec["annotation_ids"]),
                authors=join_ids(rec["authors"]),
            )
        )
    return int(table.num_rows)

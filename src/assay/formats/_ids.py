"""Where a dataset's stable ids live: its label map, its image numbers, its format metadata."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Connection

from assay.domain.canonical import canonical_json
from assay.domain.labelmap import LabelClass, LabelMap
from assay.store._sql import insert_rows, select_in
from assay.store.schema import dataset_meta, item_numbers, label_classes


def load_label_map(conn: Connection, ds: int) -> LabelMap:
    rows = conn.execute(
        select(label_classes.c.name, label_classes.c.class_id, label_classes.c.attributes)
        .where(label_classes.c.dataset_id == ds)
        .order_by(label_classes.c.position)
    ).all()
    return LabelMap(tuple(LabelClass(r[0], int(r[1]), json.loads(r[2])) for r in rows))


def save_label_map(conn: Connection, ds: int, new: LabelMap, old: LabelMap) -> None:
    """Store `new`, which extends `old` (the stored map): classes are only ever appended or
    gain attributes, so the rows of `old` keep their ids and positions."""
    if new == old:
        return
    conn.execute(delete(label_classes).where(label_classes.c.dataset_id == ds))
    conn.execute(
        label_classes.insert(),
        [
            {
                "dataset_id": ds,
                "name": c.name,
                "position": k,
                "class_id": c.id,
                "attributes": canonical_json(dict(c.attributes)),
            }
            for k, c in enumerate(new.classes)
        ],
    )


_CHUNK = 50_000  # ids read per statement batch


def _stored_numbers(conn: Connection, ds: int, ids: Sequence[str]) -> dict[str, int]:
    # Chunk by chunk into one dict: a million ids never become a million row objects at once.
    out: dict[str, int] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = select_in(
            conn,
            [item_numbers.c.item_id, item_numbers.c.number],
            item_numbers.c.item_id,
            list(ids[start : start + _CHUNK]),
            item_numbers.c.dataset_id == ds,
        )
        out.update((r[0], int(r[1])) for r in rows)
    return out


def numbers_of(conn: Connection, ds: int, ids: Sequence[str]) -> dict[str, int] | None:
    """The stored image numbers of `ids`, or None when some item has none yet."""
    have = _stored_numbers(conn, ds, ids)
    return have if len(have) == len(set(ids)) else None


def assign_numbers(
    conn: Connection, ds: int, ids: Sequence[str], wanted: Mapping[str, int] | None = None
) -> dict[str, int]:
    """The image number of each item in `ids`, giving new ones to items without one: the number
    in `wanted` (the id the source file gave) when no other item of the dataset holds it, else
    the next after the highest. Existing numbers never change."""
    top_row = conn.execute(
        select(func.max(item_numbers.c.number)).where(item_numbers.c.dataset_id == ds)
    ).scalar()
    # A dataset without numbers (its first import) has none to look up: neither an item's
    # nor a number taken.
    numbered = top_row is not None
    have = _stored_numbers(conn, ds, ids) if numbered else {}
    missing = [i for i in dict.fromkeys(ids) if i not in have]
    if not missing:
        return have
    top = int(top_row or 0)
    new: dict[str, int] = {}
    if wanted:
        asked = {i: wanted[i] for i in missing if i in wanted}
        taken = set()
        if numbered:
            taken = {
                int(r[0])
                for r in select_in(
                    conn,
                    [item_numbers.c.number],
                    item_numbers.c.number,
                    sorted(set(asked.values())),
                    item_numbers.c.dataset_id == ds,
                )
            }
        for i, n in asked.items():
            if n > 0 and n not in taken:
                new[i] = n
                taken.add(n)
        top = max([top, *new.values()])
    for i in missing:
        if i not in new:
            top += 1
            new[i] = top
    insert_rows(
        conn,
        item_numbers,
        [{"dataset_id": ds, "item_id": i, "number": n} for i, n in sorted(new.items())],
    )
    have.update(new)
    return have


def load_meta(conn: Connection, ds: int) -> dict[str, Any]:
    rows = conn.execute(
        select(dataset_meta.c.key, dataset_meta.c.value).where(dataset_meta.c.dataset_id == ds)
    ).all()
    return {r[0]: json.loads(r[1]) for r in rows}


def save_meta(conn: Connection, ds: int, values: Mapping[str, Any]) -> None:
    """Set the given keys (the latest import of a format wins); other keys stay."""
    for key, value in values.items():
        conn.execute(
            delete(dataset_meta).where(dataset_meta.c.dataset_id == ds, dataset_meta.c.key == key)
        )
        conn.execute(
            dataset_meta.insert().values(dataset_id=ds, key=key, value=canonical_json(value))
        )

"""Setting labels of record in a dataset's working state."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import bindparam
from sqlalchemy.engine import Connection

from assay.domain.labels import Region, payload_hash, payload_to_json
from assay.errors import InvalidInput
from assay.store.schema import ID_SEP, working
from assay.versioning.datasets import lock_dataset, mark_changed, members_among


@dataclass
class LabelRecord:
    """The labels of record for one item and where they came from."""

    item_id: str
    regions: list[Region]
    annotation_ids: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    # `payload_to_json(regions)` and `payload_hash(regions)` when the caller has them already.
    payload: str | None = None
    label_hash: str | None = None
    n_regions: int | None = None  # len(regions) when `regions` was left empty with a payload


def join_ids(values: Iterable[str]) -> str:
    return ID_SEP.join(sorted(set(values)))


def split_ids(text: str) -> list[str]:
    return text.split(ID_SEP) if text else []


def label_columns(r: LabelRecord) -> dict[str, object]:
    """The working row's label columns that `set_labels` writes for `r`."""
    return {
        "labels": r.payload if r.payload is not None else payload_to_json(r.regions),
        "label_hash": r.label_hash if r.label_hash is not None else payload_hash(r.regions),
        "n_regions": r.n_regions if r.n_regions is not None else len(r.regions),
        "annotation_ids": join_ids(r.annotation_ids),
        "authors": join_ids(r.authors),
    }


_SQLITE_UPDATE = (
    f'UPDATE "{working.name}" SET labels = ?, label_hash = ?, n_regions = ?, '
    "annotation_ids = ?, authors = ? WHERE dataset_id = ? AND item_id = ?"
)
_UPDATE_ORDER = ("b_labels", "b_hash", "b_n", "b_ann", "b_authors", "b_ds", "b_item")


def set_labels(conn: Connection, ds: int, records: Iterable[LabelRecord]) -> int:
    """Replace the labels of record of member items and mark them changed."""
    lock_dataset(conn, ds)
    rows = []
    for r in records:
        c = label_columns(r)
        rows.append(
            {
                "b_ds": ds,
                "b_item": r.item_id,
                "b_labels": c["labels"],
                "b_hash": c["label_hash"],
                "b_n": c["n_regions"],
                "b_ann": c["annotation_ids"],
                "b_authors": c["authors"],
            }
        )
    if not rows:
        return 0
    mark_changed(conn, ds, [str(r["b_item"]) for r in rows])
    if conn.dialect.name == "sqlite":
        # Plain values straight to the driver's executemany: SQLAlchemy's per-row parameter
        # handling costs more than SQLite's own update on a bulk import's rows.
        updated = conn.exec_driver_sql(
            _SQLITE_UPDATE, [tuple(r[k] for k in _UPDATE_ORDER) for r in rows]
        ).rowcount
    else:
        stmt = (
            working.update()
            .where(working.c.dataset_id == bindparam("b_ds"))
            .where(working.c.item_id == bindparam("b_item"))
            .values(
                labels=bindparam("b_labels"),
                label_hash=bindparam("b_hash"),
                n_regions=bindparam("b_n"),
                annotation_ids=bindparam("b_ann"),
                authors=bindparam("b_authors"),
            )
        )
        updated = conn.execute(stmt, rows).rowcount
    if updated != len(rows):
        missing = _non_members(conn, ds, [str(r["b_item"]) for r in rows])
        raise InvalidInput(
            f"{len(missing)} item(s) are not members of the dataset's working state "
            f"(first: {missing[0][:12] if missing else '?'}); add them first"
        )
    return len(rows)


def _non_members(conn: Connection, ds: int, ids: list[str]) -> list[str]:
    found = members_among(conn, ds, ids)
    return [i for i in ids if i not in found]

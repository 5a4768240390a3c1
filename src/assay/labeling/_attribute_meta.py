"""A dataset's declared shape attributes, kept in its `dataset_meta` (see
`assay.domain.attributes.META_KEY`): a CVAT import writes them, a pull adds the project's, a
new project over the dataset takes them into its schema, a CVAT export writes them out."""

from __future__ import annotations

import json

from sqlalchemy import delete, select
from sqlalchemy.engine import Connection

from assay.domain.attributes import META_KEY, AttributeDef, defs_from_json, defs_to_json
from assay.domain.labels import canonical_json
from assay.store.schema import dataset_meta

__all__ = ["declare", "declared"]


def declared(conn: Connection, dataset_id: int) -> dict[str, list[AttributeDef]]:
    """Label -> the attribute definitions the dataset declares (none: empty)."""
    text = conn.execute(
        select(dataset_meta.c.value).where(
            dataset_meta.c.dataset_id == dataset_id, dataset_meta.c.key == META_KEY
        )
    ).scalar()
    return defs_from_json(json.loads(text)) if text else {}


def declare(conn: Connection, dataset_id: int, defs: dict[str, list[AttributeDef]]) -> None:
    """Add `defs` to the dataset's declarations: a label's attribute of the same name is
    replaced, the others stay."""
    if not any(defs.values()):
        return
    merged = declared(conn, dataset_id)
    for label, new in defs.items():
        names = {d.name for d in new}
        merged[label] = [d for d in merged.get(label, []) if d.name not in names] + list(new)
    where = (dataset_meta.c.dataset_id == dataset_id) & (dataset_meta.c.key == META_KEY)
    conn.execute(delete(dataset_meta).where(where))
    value = canonical_json(defs_to_json(merged))
    conn.execute(dataset_meta.insert().values(dataset_id=dataset_id, key=META_KEY, value=value))

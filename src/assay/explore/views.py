"""The explorer's item view (every annotation and its provenance) and its revision diff."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pyarrow.compute as pc
from sqlalchemy import select

from assay import versioning
from assay.domain.labels import payload_from_json
from assay.errors import InvalidInput
from assay.explore.grid import resolve_visible
from assay.labeling import get_item
from assay.labeling.catalog import known_projects
from assay.labeling.users import User
from assay.store._sql import select_in
from assay.store.schema import annotations_table as ann_t
from assay.store.schema import items
from assay.workspace import Workspace

MAX_DIFF_PAGE = 200


def _regions(payload: str | None) -> list[dict[str, Any]]:
    return [r.model_dump(exclude_none=True) for r in payload_from_json(payload or "[]")]


def item_detail(
    ws: Workspace, user: User, dataset: str, item_id: str, rev: str = ""
) -> dict[str, Any]:
    """An item of a revision: its labels of record, where they came from, every annotation."""
    r, _idx, _marking = resolve_visible(ws, user, dataset, rev)
    item = get_item(ws, user, item_id)
    with ws.db.read() as conn:
        rows = versioning.revision_rows(
            conn, ws.blobs, r, ["item_id", "labels", "annotation_ids", "authors"]
        )
        mine = rows.filter(pc.equal(rows["item_id"], item_id)).to_pylist()
        anns = conn.execute(
            select(ann_t).where(ann_t.c.item_id == item_id).order_by(ann_t.c.created, ann_t.c.id)
        ).all()
        # An annotation made in a project above the viewer (the item is visible, the project
        # may not be: a SECRET project over UNCLASSIFIED images) is left out, name and all.
        known = known_projects(conn, ws, user, {a.project for a in anns if a.project})
        anns = [a for a in anns if a.project is None or a.project in known]
    of_record = set(mine[0]["annotation_ids"] or []) if mine else set()
    return {
        "dataset": dataset,
        "revision": r.label,
        "item": item,
        "media_url": f"/api/v1/items/{item_id}/blob",
        "in_revision": bool(mine),
        "labels": _regions(mine[0]["labels"]) if mine else [],
        "label_sources": {
            "annotation_ids": mine[0]["annotation_ids"] if mine else [],
            "authors": mine[0]["authors"] if mine else [],
        },
        "annotations": [
            {
                "id": a.id,
                "author": a.author,
                "kind": a.kind,
                "project": a.project,
                "created": a.created,
                "lead_time": a.lead_time,
                "supersedes": a.supersedes,
                "source": a.source_id,
                "of_record": a.id in of_record,
                "regions": _regions(a.payload),
            }
            for a in anns
        ],
    }


def diff_page(
    ws: Workspace,
    user: User,
    dataset: str,
    a: str,
    b: str,
    *,
    change: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> dict[str, Any]:
    """Items that differ between revisions `a` and `b`, with both sides' labels and the
    region-level changes (added, removed, relabeled, moved, ...) of each; `marking` is the
    highest of the two revisions' (every item listed is in one of them)."""
    if not 1 <= limit <= MAX_DIFF_PAGE:
        raise InvalidInput(f"limit: between 1 and {MAX_DIFF_PAGE}")
    if change not in (None, "", "added", "removed", "changed"):
        raise InvalidInput("change: one of added, removed, changed")
    ra, _a, marking_a = resolve_visible(ws, user, dataset, a)
    rb, _b, marking_b = resolve_visible(ws, user, dataset, b)
    with ws.db.read() as conn:
        d = versioning.diff(conn, ws.blobs, dataset, a or "WORKING", b or "WORKING")
        kinds = (
            [(i, "added") for i in d.items_added]
            + [(i, "removed") for i in d.items_removed]
            + [(i, "changed") for i in d.items_changed]
        )
        marks = dict(
            (x.id, x.marking)
            for x in select_in(
                conn, [items.c.id, items.c.marking], items.c.id, [i for i, _ in kinds]
            )
        )
        seen = [
            (i, k)
            for i, k in sorted(kinds)
            if i in marks and ws.scheme.allows(user.clearance, ws.scheme.parse(marks[i]))
        ]
        listed = [(i, k) for i, k in seen if not change or k == change]
        page = listed[offset : offset + limit]
        ids = [i for i, _ in page]
        before = versioning.labels_for(conn, ws.blobs, ra, ids)
        after = versioning.labels_for(conn, ws.blobs, rb, ids)
        attrs = versioning.item_attributes(conn, ids)
    by_item: dict[str, list[dict[str, Any]]] = defaultdict(list)
    visible = {i for i, _ in seen}
    for c in d.changes:
        if c.item in visible:
            by_item[c.item].append(c.to_dict())
    counts: dict[str, int] = defaultdict(int)
    for i in visible:
        for entry in by_item.get(i, []):
            counts[entry["change"]] += 1
    for _i, k in seen:
        counts[f"items_{k}"] += 1
    return {
        "dataset": dataset,
        "before": ra.label,
        "after": rb.label,
        "marking": ws.scheme.highest_text(m for m in (marking_a, marking_b) if m),
        "total": len(listed),
        "offset": offset,
        "limit": limit,
        "summary": dict(counts),
        "items": [
            {
                "item_id": i,
                "change": k,
                "name": attrs.get(i, ("",))[0],
                "width": attrs.get(i, ("", None))[1],
                "height": attrs.get(i, ("", None, None))[2],
                "thumb_url": f"/api/v1/items/{i}/thumb",
                "before": [r.model_dump(exclude_none=True) for r in before.get(i, [])],
                "after": [r.model_dump(exclude_none=True) for r in after.get(i, [])],
                "changes": by_item.get(i, []),
            }
            for i, k in page
        ],
    }

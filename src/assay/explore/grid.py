"""The explorer's grid: a filtered page of a dataset revision, answered from its index.

Every filter is a vectorised Arrow/numpy operation over the index (no per-item Python);
need-to-know is one more mask, and a viewer below the revision's marking (the highest of its
items') is told the dataset does not exist.

Example:
    >>> ExploreQuery(label="building", iou=0.5).limit
    100
"""

from __future__ import annotations

import json
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from assay.errors import InvalidInput, NotFound
from assay.explore._build import META
from assay.explore._index import Index, index_for
from assay.explore._marks_now import markings_now
from assay.labeling.users import User
from assay.store.schema import datasets
from assay.versioning import Revision
from assay.workspace import Workspace

MAX_LIMIT = 500


class ExploreQuery(BaseModel):
    """Filters and page of the explorer grid; every filter is optional."""

    model_config = ConfigDict(extra="forbid")

    rev: str = Field(default="", description="tag, commit id, HEAD~N; empty: the working state")
    label: str | None = None
    annotator: str | None = None
    field: str | None = Field(default=None, description="a metadata field")
    value: str | None = Field(default=None, description="the value `field` must have")
    marking: str | None = None
    min_area: float | None = Field(default=None, ge=0, description="a region at least this big")
    max_area: float | None = Field(default=None, ge=0, description="a region at most this big")
    suspects: bool = False
    run: str | None = Field(default=None, description="an evaluation run id")
    outcome: Literal["tp", "fp", "fn"] | None = None
    iou: float = Field(default=0.5, gt=0, le=1)
    offset: int = Field(default=0, ge=0, le=2**62)  # SQLite holds 64-bit integers
    limit: int = Field(default=100, ge=1, le=MAX_LIMIT)


def resolve_visible(
    ws: Workspace, user: User, dataset: str, rev: str
) -> tuple[Revision, Index, str]:
    """The revision, its index and its marking (its items' and the dataset's declared one),
    or NotFound, as for a missing dataset, when the viewer is below that marking."""
    user.require("review")
    spec = f"{dataset}@{rev}" if rev.strip() and rev.upper() != "WORKING" else dataset
    try:
        with ws.db.read() as conn:
            from assay.versioning import resolve

            r = resolve(conn, spec)
    except NotFound:
        raise NotFound(f"no dataset named {dataset!r} (or no revision {rev!r})") from None
    index = markings_now(ws, r, index_for(ws, r))
    with ws.db.read() as conn:
        declared = conn.execute(
            select(datasets.c.marking).where(datasets.c.id == r.dataset_id)
        ).scalar()
    marks = [*index.markings, *([declared] if declared else [])]
    highest = ws.scheme.highest_text(marks)
    if marks and not ws.scheme.allows(user.clearance, ws.scheme.parse(highest)):
        raise NotFound(f"no dataset named {dataset!r} (or no revision {rev!r})")
    return r, index, highest


def _mask(ws: Workspace, user: User, dataset: str, idx: Index, q: ExploreQuery) -> Any:
    t = idx.table
    allowed = {m for m in idx.markings if ws.scheme.allows(user.clearance, ws.scheme.parse(m))}
    if len(allowed) == len(idx.markings):
        mask = np.ones(t.num_rows, dtype=bool)
    else:
        mask = idx.rows_with("marking", allowed)
    if q.marking:
        mask &= idx.rows_with("marking", {q.marking})
    if q.label:
        mask &= idx.rows_with("classes", {q.label})
    if q.annotator:
        who = q.annotator if ":" in q.annotator else f"user:{q.annotator}"
        mask &= idx.rows_with("authors", {who})
    if q.field:
        col = META + q.field
        if col not in t.column_names:
            raise InvalidInput(
                f"field: no metadata field {q.field!r} (fields: {', '.join(idx.fields) or 'none'})"
            )
        if q.value is None:
            mask &= np.asarray(pc.is_valid(t[col]), bool)
        else:
            mask &= idx.rows_with(col, {q.value})
    if q.min_area is not None or q.max_area is not None:
        mask &= idx.rows_in_range("areas", q.min_area, q.max_area)
    if q.suspects:
        from assay.explore.suspects import suspects

        found, _note = suspects(ws, dataset)
        mask &= _ids_in(t, found)
    if q.outcome is not None or q.run:
        if not q.run:
            raise InvalidInput("outcome: choose an evaluation run (run=...) first")
        from assay.explore.outcomes import outcomes

        counts = outcomes(ws, dataset, q.run, q.iou, user)
        pos = {"tp": 0, "fp": 1, "fn": 2}[q.outcome or "tp"]
        picked = {i for i, c in counts.items() if c[pos] > 0} if q.outcome else set(counts)
        mask &= _ids_in(t, picked)
    return mask


def _ids_in(t: pa.Table, ids: set[str] | frozenset[str]) -> Any:
    return np.asarray(pc.is_in(t["item_id"], value_set=pa.array(sorted(ids), pa.string())), bool)


def geometric(labels: str | None) -> list[dict[str, Any]]:
    """The regions worth drawing over a thumbnail (boxes, polygons, points) and the choices."""
    out = []
    for r in json.loads(labels or "[]"):
        if r.get("kind") in ("box", "polygon", "point", "choice"):
            out.append(
                {k: r[k] for k in ("kind", "label", "box", "points", "author", "id") if k in r}
            )
    return out


def explore_page(ws: Workspace, user: User, dataset: str, q: ExploreQuery) -> dict[str, Any]:
    """One page of the revision's items that pass the filters, with labels for overlays."""
    rev, idx, marking = resolve_visible(ws, user, dataset, q.rev)
    mask = _mask(ws, user, dataset, idx, q)
    rows = np.flatnonzero(mask)
    page = rows[q.offset : q.offset + q.limit].tolist()
    t = idx.table.take(pa.array(page, pa.int64())) if page else idx.table.slice(0, 0)
    labels = idx.labels(page) if page else []
    items = []
    for r, lab in zip(
        t.select(
            ["item_id", "name", "media_type", "width", "height", "marking", "n_regions", "authors"]
        ).to_pylist(),
        labels,
        strict=True,
    ):
        image = str(r["media_type"] or "").startswith("image/")
        items.append(
            {
                **r,
                "regions": geometric(lab),
                "thumb_url": f"/api/v1/items/{r['item_id']}/thumb" if image else None,
            }
        )
    out: dict[str, Any] = {
        "dataset": dataset,
        "revision": rev.label,
        "commit": rev.commit.id if rev.commit else None,
        "marking": marking or None,
        "total": len(rows),
        "offset": q.offset,
        "limit": q.limit,
        "items": items,
        "facets": {
            "classes": idx.classes,
            "annotators": idx.authors,
            "markings": [
                m for m in idx.markings if ws.scheme.allows(user.clearance, ws.scheme.parse(m))
            ],
            "fields": idx.fields,
        },
    }
    if q.suspects:
        from assay.explore.suspects import suspects

        out["suspects_note"] = suspects(ws, dataset)[1]
    return out

"""Writing an aggregation as aggregate annotations and labels of record, in one transaction."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from assay import audit
from assay.domain.labels import (
    Region,
    payload_from_json_trusted,
    payload_to_json,
)
from assay.markings import carry_project_marking
from assay.store._sql import insert_ignore
from assay.store.schema import annotations_table as ann_t
from assay.store.schema import working
from assay.timeutil import now_iso
from assay.versioning.datasets import add_item_ids, dataset_id
from assay.versioning.labels import LabelRecord, set_labels, split_ids

if TYPE_CHECKING:
    from assay.quality._into import ProjectAggregation
    from assay.workspace import Workspace

_CHUNK = 500


def aggregate_annotation_id(
    method: str, project: str, item: str, sources: Iterable[str], payload: str
) -> str:
    """Content-made id: the same inputs and consensus give the same aggregate annotation."""
    body = "\x1f".join([method, project, item, *sorted(sources), payload])
    return hashlib.sha256(body.encode()).hexdigest()[:32]


def write_records(
    ws: Workspace, agg: ProjectAggregation, dataset: str, controls: Sequence[str], actor: str
) -> tuple[int, int]:
    """Store `agg` into `dataset`; returns (labels of record set, items added to it)."""
    replaced = set(controls)
    ids = list(agg.plans)
    created = now_iso()
    with ws.db.begin() as conn:
        ds = dataset_id(conn, dataset)
        current = _working_rows(conn, ds, ids)
        add_item_ids(conn, ds, ids)
        annotations: list[dict[str, Any]] = []
        records: list[LabelRecord] = []
        for item, plan in agg.plans.items():
            regions = plan.regions
            payload = payload_to_json(regions)
            ann = aggregate_annotation_id(
                agg.method, agg.project, item, plan.annotation_ids, payload
            )
            annotations.append(
                {
                    "id": ann,
                    "item_id": item,
                    "project": agg.project,
                    "author": agg.author,
                    "kind": "aggregate",
                    "payload": payload,
                    "created": created,
                    "lead_time": None,
                    "supersedes": None,
                    "source_id": f"aggregate:{agg.method}:{','.join(sorted(replaced))}"[:200],
                }
            )
            kept: list[Region] = []
            sources, authors = {ann, *plan.annotation_ids}, {agg.author, *plan.workers}
            old = current.get(item)
            if old is not None:
                kept = [r for r in payload_from_json_trusted(old[0]) if r.control not in replaced]
                if kept:  # the kept regions keep their provenance
                    sources.update(split_ids(old[1]))
                    authors.update(split_ids(old[2]))
            records.append(LabelRecord(item, kept + regions, sorted(sources), sorted(authors)))
        insert_ignore(conn, ann_t, annotations)
        n = set_labels(conn, ds, records)
        carry_project_marking(conn, ws.scheme, actor, agg.project, ids, via="aggregate")
        added = len(ids) - len(current)
        audit.append(
            conn,
            actor,
            "dataset.aggregate",
            f"dataset:{dataset}",
            {
                "project": agg.project,
                "method": agg.method,
                "controls": sorted(replaced),
                "items": n,
                "added": added,
            },
        )
    return n, added


def _working_rows(conn: Any, ds: int, ids: list[str]) -> dict[str, tuple[str, str, str]]:
    """Current labels, annotation ids and authors of those of `ids` that are members."""
    out: dict[str, tuple[str, str, str]] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = conn.execute(
            select(
                working.c.item_id, working.c.labels, working.c.annotation_ids, working.c.authors
            ).where(working.c.dataset_id == ds, working.c.item_id.in_(ids[start : start + _CHUNK]))
        ).all()
        out.update({r[0]: (r[1], r[2], r[3]) for r in rows})
    return out

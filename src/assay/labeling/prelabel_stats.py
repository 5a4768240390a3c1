"""What annotators did with model pre-labels: accepted unchanged, edited or deleted.

For every submitted answer whose item had a model pre-label when it was answered (the
latest ``kind="model"`` annotation created before the answer), each pre-label region is
matched one-to-one to the answer's regions:

* **accepted**: the answer holds the same label (same control, label and geometry);
* **edited**: the answer holds the region under the same id (the UI keeps a corrected
  pre-label's id), or, for answers without those ids, a box of the same control overlapping
  it with IoU >= 0.5, or another answer to the same whole-item control;
* **deleted**: nothing in the answer corresponds to it.

Regions the annotator drew that match no pre-label are counted as **added**. Figures are
kept per model version (the pre-label's author ``model:NAME@VERSION``).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.engine import Connection

from assay.domain.labels import Region, box_iou, payload_from_json
from assay.labeling.prelabels import made_for
from assay.store._sql import select_in
from assay.store.schema import annotations_table as ann_t
from assay.store.schema import assignments, tasks

EDIT_IOU = 0.5
_OUTCOMES = ("accepted", "edited", "deleted", "added")


def _same(a: Region, b: Region) -> bool:
    return a.content_key() == b.content_key()


def _related(pre: Region, r: Region) -> bool:
    if pre.control != r.control or pre.kind != r.kind:
        return False
    if pre.id and pre.id == r.id:
        return True
    if pre.box is not None and r.box is not None:
        return box_iou(pre.box, r.box) >= EDIT_IOU
    return pre.kind in ("choice", "text", "rating", "ranking")


def compare(pre: list[Region], answer: list[Region]) -> dict[str, int]:
    """Counts of accepted / edited / deleted pre-label regions and added answer regions."""
    left = list(answer)
    out = dict.fromkeys(_OUTCOMES, 0)
    pending = []
    for p in pre:
        hit = next((r for r in left if _same(p, r)), None)
        if hit is not None:
            left.remove(hit)
            out["accepted"] += 1
        else:
            pending.append(p)
    for p in pending:
        hit = next((r for r in left if _related(p, r)), None)
        if hit is not None:
            left.remove(hit)
            out["edited"] += 1
        else:
            out["deleted"] += 1
    out["added"] = len(left)
    return out


def prelabel_outcomes(
    conn: Connection, project_id: int, project: str, visible: ColumnElement[bool]
) -> list[dict[str, Any]]:
    """Per model version: the tasks whose pre-labels are its (``prelabelled``, from the moment
    `assay prelabel` ran), the answers that started from its pre-labels (those made for
    `project` or imported with no project, as its tasks showed them) and what became of them."""
    showing = _prelabelled(conn, project_id, project, visible)
    answers = conn.execute(
        select(tasks.c.item_id, ann_t.c.payload, ann_t.c.created)
        .select_from(assignments)
        .join(tasks, tasks.c.id == assignments.c.task_id)
        .join(ann_t, ann_t.c.id == assignments.c.annotation_id)
        .where(
            assignments.c.project_id == project_id,
            assignments.c.state == "submitted",
            tasks.c.is_gold == 0,
            visible,
        )
    ).all()
    pre: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for item_id, author, payload, created in select_in(
        conn,
        [ann_t.c.item_id, ann_t.c.author, ann_t.c.payload, ann_t.c.created],
        ann_t.c.item_id,
        sorted({a.item_id for a in answers}),
        made_for(project),
    ):
        pre[item_id].append((created, author, payload))
    totals: dict[str, dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(("prelabelled", "tasks", "unchanged", "regions", *_OUTCOMES), 0)
    )
    for author, n in showing.items():
        totals[author.removeprefix("model:")]["prelabelled"] = n
    for item_id, payload, created in answers:
        shown = [x for x in pre.get(item_id, []) if x[0] <= created]
        if not shown:
            continue
        _, author, pre_payload = max(shown)
        regions = payload_from_json(pre_payload)
        counts = compare(regions, payload_from_json(payload))
        t = totals[author.removeprefix("model:")]
        t["tasks"] += 1
        t["regions"] += len(regions)
        t["unchanged"] += int(counts["accepted"] == len(regions) and counts["added"] == 0)
        for k in _OUTCOMES:
            t[k] += counts[k]
    return [
        {
            "model": model,
            **t,
            "accepted_share": round(t["accepted"] / t["regions"], 4) if t["regions"] else None,
        }
        for model, t in sorted(totals.items())
    ]


def _prelabelled(
    conn: Connection, project_id: int, project: str, visible: ColumnElement[bool]
) -> dict[str, int]:
    """Per model author: the project's tasks (gold left out) whose pre-labels are its, i.e.
    whose item's newest model answer the task may show (`made_for`) is that model's."""
    items = select(tasks.c.item_id).where(
        tasks.c.project_id == project_id, tasks.c.is_gold == 0, visible
    )
    newest: dict[str, tuple[str, str]] = {}
    for item_id, author, created in conn.execute(
        select(ann_t.c.item_id, ann_t.c.author, ann_t.c.created).where(
            made_for(project), ann_t.c.item_id.in_(items)
        )
    ):
        if item_id not in newest or (created, author) > newest[item_id]:
            newest[item_id] = (created, author)
    out: dict[str, int] = defaultdict(int)
    for _, author in newest.values():
        out[author] += 1
    return out

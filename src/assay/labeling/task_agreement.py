"""Agreement of a task's answers for the data manager: the mean pairwise score of
`assay.labeling.gold`, kept per process and recomputed only for tasks whose answer count
changed (answers only ever grow; a reset task drops out of the candidates)."""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from assay.domain.labels import payload_from_json
from assay.labeling import gold as scoring
from assay.labeling.projects import Project
from assay.store.schema import annotations_table as ann_t
from assay.store.schema import assignments, tasks
from assay.workspace import Workspace

# (database url, task id) -> (answers scored, agreement); answers only ever grow.
_AGREEMENT: dict[tuple[str, int], tuple[int, float | None]] = {}
_AGREEMENT_LOCK = threading.Lock()


def agreeing_below(
    ws: Workspace, conn: Connection, p: Project, cond: list[Any], order: list[Any], below: float
) -> list[int]:
    """Ids (in `order`) of tasks matching `cond` whose two or more answers agree below `below`."""
    candidates = conn.execute(
        select(tasks.c.id, tasks.c.done).where(*cond, tasks.c.done >= 2).order_by(*order)
    ).all()
    url = ws.db.url
    with _AGREEMENT_LOCK:
        stale = [t for t, d in candidates if _AGREEMENT.get((url, t), (-1, None))[0] != d]
    if stale:
        answers: dict[int, list[str]] = defaultdict(list)
        for chunk in range(0, len(stale), 900):
            for task_id, payload in conn.execute(
                select(assignments.c.task_id, ann_t.c.payload)
                .join(ann_t, ann_t.c.id == assignments.c.annotation_id)
                .where(
                    assignments.c.task_id.in_(stale[chunk : chunk + 900]),
                    assignments.c.state == "submitted",
                )
            ):
                answers[task_id].append(payload)
        scored = {
            t: (
                len(group),
                scoring.mean_pairwise(p.schema, [payload_from_json(x) for x in group]),
            )
            for t, group in answers.items()
        }
        with _AGREEMENT_LOCK:
            for t in stale:
                _AGREEMENT[(url, t)] = scored.get(t, (0, None))
    with _AGREEMENT_LOCK:
        scores = {t: _AGREEMENT.get((url, t), (0, None))[1] for t, _d in candidates}
    return [t for t, _d in candidates if (s := scores[t]) is not None and s < below]


def agreement_of(ws: Workspace, task_id: int) -> float | None:
    """The last agreement score computed for a task, if any (for the task view)."""
    with _AGREEMENT_LOCK:
        return _AGREEMENT.get((ws.db.url, task_id), (0, None))[1]

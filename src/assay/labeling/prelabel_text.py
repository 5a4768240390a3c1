"""Pre-labeling text items with transformers models: classifiers, taggers, prompted LMs.

The same contract as image pre-labeling (`assay.labeling.prelabel`): one ``kind="model"``
annotation per item authored ``model:NAME@VERSION``, least confident first, every task not
labelled counted with its reason, one audit event. A classifier or a prompted language model
answers a ``choices`` control; a token classifier answers a ``spans`` control with character
offsets. Markings as for images: the user must be cleared for the model, and items marked
below the model are skipped and counted, so every pre-label carries the higher of the item's
and the model's marking (the item's).
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from typing import Any

from sqlalchemy import select

from assay import audit
from assay.domain.labels import Region, payload_to_json
from assay.domain.schema import Control, LabelSchema
from assay.errors import InvalidInput, PermissionDenied
from assay.labeling._db import write
from assay.labeling.catalog import visible_project
from assay.labeling.prelabel import (
    PrelabelReport,
    _least_confident_first,
    _open_tasks,
    author_of,
)
from assay.labeling.users import User
from assay.models._text import TextAnswer, TextLabeler
from assay.store._sql import select_in
from assay.store.schema import annotations_table as ann_t
from assay.store.schema import items
from assay.timeutil import now_iso
from assay.workspace import Workspace

TEXT_BATCH = 16


def _control(schema: LabelSchema, want: str, classes: list[str], name: str | None) -> Control:
    options = [
        c
        for c in schema.controls
        if c.type == want and (name is None or c.name == name) and not getattr(c, "multiple", False)
    ]
    if not options:
        found = [c.name for c in schema.controls if c.type == want]
        named = f" named {name!r}" if name else ""
        raise InvalidInput(
            f"the project's schema has no {want} control{named} for this model "
            f"({want} controls: {', '.join(found) or 'none'})"
        )
    best = max(options, key=lambda c: len({lab.name for lab in c.labels} & set(classes)))
    if classes and not {lab.name for lab in best.labels} & set(classes):
        raise InvalidInput(
            f"the model's labels ({', '.join(classes)}) share none with control {best.name!r} "
            f"({', '.join(lab.name for lab in best.labels)})"
        )
    return best


def _regions(answers: list[TextAnswer], ctl: Control, kind: str) -> list[Region]:
    out: list[Region] = []
    for a in answers:
        if kind == "spans":
            out.append(
                Region(
                    id=f"p{len(out) + 1}",
                    kind="span",
                    control=ctl.name,
                    label=a.label,
                    span=a.span,
                    score=a.score,
                )
            )
        else:
            out.append(
                Region(id="p1", kind="choice", control=ctl.name, label=a.label, score=a.score)
            )
    return out


def prelabel_text(
    ws: Workspace,
    project: str,
    labeler: TextLabeler,
    ref: str,
    marking: str,
    *,
    task: str,
    user: User | None = None,
    control: str | None = None,
    batch_size: int = TEXT_BATCH,
    redo: bool = False,
    labels_for: Any = None,
) -> PrelabelReport:
    """Pre-label `project`'s open text tasks with `labeler` (model `ref`, marked `marking`).

    `labels_for`, when given, is called with the chosen control's label names before the run
    (a prompted language model learns the labels it may answer this way).
    """
    if batch_size < 1:
        raise InvalidInput(f"--batch-size must be at least 1, got {batch_size}")
    started = time.perf_counter()
    if user is not None:
        user.require("manage")
    scheme = ws.scheme
    mark = scheme.parse(marking)
    if user is not None and not scheme.allows(user.clearance, mark):
        raise PermissionDenied(
            f"user {user.name!r} ({user.clearance_text}) is not cleared for model {ref} "
            f"(marked {marking})"
        )
    with ws.db.read() as conn:
        p = visible_project(conn, ws, user, project)
    ctl = _control(p.schema, labeler.control_type, list(labeler.classes), control)
    if labels_for is not None:
        labels_for([lab.name for lab in ctl.labels])
    labels = {lab.name for lab in ctl.labels}
    report = PrelabelReport(p.name, ref, marking, task, ctl.name)
    author = author_of(ref)
    open_rows = _open_tasks(ws, p.id, p.workflow.overlap)
    report.open_tasks = len(open_rows)
    with ws.db.read() as conn:
        done_before = set(
            conn.execute(
                select(ann_t.c.item_id).where(ann_t.c.kind == "model", ann_t.c.author == author)
            ).scalars()
        )
        media = dict(
            select_in(
                conn, [items.c.id, items.c.media_type], items.c.id, [r.item_id for r in open_rows]
            )
        )
    todo: list[str] = []
    for row in open_rows:
        marked = scheme.parse(row.marking)
        if user is not None and not scheme.allows(user.clearance, marked):
            report.not_visible += 1
        elif not scheme.allows(marked, mark):
            report.below_model_marking += 1
        elif not str(media.get(row.item_id, "")).startswith("text/"):
            report.not_text += 1
        elif row.item_id in done_before and not redo:
            report.already += 1
        else:
            todo.append(row.item_id)
    todo = list(dict.fromkeys(todo))
    unmapped: Counter[str] = Counter()
    results: list[tuple[str, list[Region]]] = []
    for s in range(0, len(todo), batch_size):
        chunk = todo[s : s + batch_size]
        texts = [ws.blobs.get_bytes(i).decode("utf-8", errors="replace") for i in chunk]
        for item_id, answers in zip(chunk, labeler.label(texts), strict=True):
            kept = [a for a in answers if a.label in labels]
            unmapped.update(a.label for a in answers if a.label not in labels)
            if not answers:
                unmapped["(no label in the answer)"] += 1
            if kept:
                results.append((item_id, _regions(kept, ctl, labeler.control_type)))
        report.batches += 1
    report.unmapped = dict(sorted(unmapped.items()))
    created = now_iso()
    rows = [
        {
            "id": hashlib.sha256(f"{author}\x00{item_id}\x00{created}".encode()).hexdigest()[:32],
            "item_id": item_id,
            "project": p.name,
            "author": author,
            "kind": "model",
            "payload": payload_to_json(regions),
            "created": created,
            "lead_time": None,
            "supersedes": None,
            "source_id": f"prelabel:{ref}",
        }
        for item_id, regions in results
    ]
    with write(ws.db) as conn:
        if rows:
            conn.execute(ann_t.insert(), rows)
            _least_confident_first(conn, p.id, results)
        report.labelled = len(rows)
        report.regions = sum(len(r) for _, r in results)
        report.seconds = round(time.perf_counter() - started, 3)
        actor = user.actor if user is not None else ws.actor
        details = {k: v for k, v in report.to_dict().items() if k != "seconds"}
        audit.append(conn, actor, "project.prelabel", f"project:{p.name}", details)
    return report

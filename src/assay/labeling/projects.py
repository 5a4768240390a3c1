"""Labeling projects: a schema, a dataset's items as tasks, and a workflow."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import bindparam, func, literal, select
from sqlalchemy.engine import Connection

from assay import audit, versioning
from assay.domain.labels import canonical_json, payload_from_json, payload_to_json
from assay.domain.schema import LabelSchema
from assay.errors import Conflict, InvalidInput, NotFound
from assay.labeling import _attribute_meta
from assay.labeling._db import write
from assay.labeling.instructions import render_instructions
from assay.labeling.prelabels import made_for
from assay.store._sql import insert_named
from assay.store.schema import (
    NAME_MAX,
    items,
    project_markings,
    projects,
    tasks,
    working,
)
from assay.store.schema import (
    annotations_table as ann_t,
)
from assay.timeutil import now_iso
from assay.workspace import Workspace

_REVIEW = re.compile(r"^(none|all|disagreements|sample:(0(\.\d+)?|1(\.0+)?))$")


class Workflow(BaseModel):
    """How tasks are served: overlap, gold, review, leases."""

    model_config = ConfigDict(extra="forbid")

    overlap: int = Field(default=1, ge=1, le=50)
    gold: str | None = None  # DATASET@REV the gold labels come from
    gold_share: float = Field(default=0.0, ge=0.0, le=1.0)
    gold_min_accuracy: float = Field(default=0.7, ge=0.0, le=1.0)
    gold_after: int = Field(default=5, ge=1)
    review: str = "none"  # none | all | disagreements | sample:FRACTION
    lease_seconds: float = Field(default=900.0, gt=0)
    # Serve each item's label of record (of the project's dataset) as editable pre-annotations.
    from_labels: bool = False
    # Adaptive overlap: ask for another label (up to `overlap`) only while the leading answer
    # of the first choices control has a posterior below `adaptive`; every task gets
    # `adaptive_min` labels first.
    adaptive: float | None = Field(default=None, gt=0.5, lt=1.0)
    adaptive_min: int = Field(default=1, ge=1, le=50)
    # Whether a reviewer may decide on a task they answered themselves (off: four eyes).
    self_review: bool = False
    # Active learning (`assay.labeling.active`): how the queue is ordered, the embeddings it
    # uses, and how often (in answered tasks) the model is refitted and the queue re-ordered.
    sample: Literal["none", "uncertainty", "margin", "entropy", "diversity", "random"] = "none"
    embedder: Literal["auto", "pixels", "minilm"] = "auto"
    retrain_every: int | None = Field(default=None, ge=1)
    sample_seed: int = 0

    @field_validator("review")
    @classmethod
    def _review(cls, value: str) -> str:
        if not _REVIEW.match(value):
            raise ValueError("review must be none, all, disagreements or sample:FRACTION (0..1)")
        return value


@dataclass(frozen=True)
class Project:
    id: int
    name: str
    title: str
    dataset: str
    schema: LabelSchema
    instructions: str
    workflow: Workflow
    marking: str = ""  # declared by its creator; "" when only its items' markings count

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "dataset": self.dataset,
            "schema": self.schema.model_dump(mode="json"),
            "instructions": self.instructions,
            "instructions_html": render_instructions(self.instructions),
            "workflow": self.workflow.model_dump(mode="json"),
            "declared_marking": self.marking,
        }


@lru_cache(maxsize=256)
def _parsed(schema: str, workflow: str) -> tuple[LabelSchema, Workflow]:
    # Keyed by the stored text itself, so a changed project is parsed afresh.
    return LabelSchema.from_stored(schema), Workflow.model_validate_json(workflow)


def row_to_project(row: Any) -> Project:
    """A `projects` row (by attribute, or a plain tuple in PROJECT_COLUMNS order)."""
    if type(row) is tuple:
        pid, name, title, dataset, schema, instructions, workflow, marking = row
    else:
        pid, name, title, dataset = row.id, row.name, row.title, row.dataset
        schema, instructions, workflow, marking = (
            row.schema,
            row.instructions,
            row.workflow,
            row.marking,
        )
    sch, wf = _parsed(schema, workflow)
    return Project(int(pid), name, title, dataset, sch, instructions, wf, marking or "")


PROJECT_COLUMNS = "id, name, title, dataset, schema, instructions, workflow, marking"


def get_project(conn: Connection, name: str) -> Project:
    row = conn.execute(select(projects).where(projects.c.name == name)).first()
    if row is None:
        raise NotFound(f"no project named {name!r}; see `assay project list`")
    return row_to_project(row)


def project_by_id(conn: Connection, project_id: int) -> Project:
    row = conn.execute(select(projects).where(projects.c.id == project_id)).one()
    return row_to_project(row)


def create_project(
    ws: Workspace,
    name: str,
    schema: LabelSchema,
    dataset: str,
    workflow: Workflow | None = None,
    *,
    instructions: str = "",
    title: str | None = None,
    actor: str | None = None,
    marking: str | None = None,
) -> Project:
    """Create a project with one task per item of `dataset`, plus gold.

    `dataset` is NAME (its working state) or NAME@REV (the items of that commit).
    `marking` declares the project higher than its items (its title, instructions and
    schema may say more than any one item); it can never make the project lower.
    """
    if not name or not all(c.isalnum() or c in "-_." for c in name):
        raise InvalidInput(f"bad project name {name!r}: use letters, digits, '-', '_' or '.'")
    if len(name) > NAME_MAX:  # PostgreSQL's column holds no more (SQLite's had no limit)
        raise InvalidInput(f"bad project name {name[:40]!r}...: at most {NAME_MAX} characters")
    wf = workflow or Workflow()
    if wf.gold_share > 0 and not wf.gold:
        raise InvalidInput("--gold-share needs --gold DATASET@REV to take gold labels from")
    if wf.sample != "none" or wf.retrain_every:
        from assay.labeling import active

        active.prepare(ws, schema, wf, dataset)  # checked and embedded before any write
    with write(ws.db) as conn:
        taken = f"project {name!r} already exists"
        if conn.execute(select(projects.c.id).where(projects.c.name == name)).first():
            raise Conflict(taken)
        rev = versioning.resolve(conn, dataset)
        schema = schema.with_attributes(_attribute_meta.declared(conn, rev.dataset_id))
        pid = insert_named(
            conn,
            projects.insert().values(
                name=name,
                title=title or schema.title or name,
                dataset=rev.dataset,  # the name; a revision given is in the audit event
                schema=canonical_json(schema.model_dump(mode="json")),
                instructions=instructions,
                workflow=canonical_json(wf.model_dump(mode="json")),
                created=now_iso(),
                created_by=actor or ws.actor,
                marking=ws.scheme.render(ws.scheme.parse(marking)) if marking else "",
            ),
            taken,
        ).inserted_primary_key
        assert pid is not None  # an INSERT always has one
        project_id = int(pid[0])
        n_tasks = _insert_tasks(ws, conn, project_id, rev)
        if wf.adaptive is not None:
            if schema.first_choices() is None:
                raise InvalidInput("--adaptive needs a choices control in the schema")
            conn.execute(
                tasks.update()
                .where(tasks.c.project_id == project_id)
                .values(target=min(wf.adaptive_min, wf.overlap))
            )
        n_gold, n_shared = (
            _insert_gold(ws, conn, project_id, wf.gold, schema) if wf.gold else (0, 0)
        )
        if n_shared and n_shared >= n_tasks:
            raise InvalidInput(
                f"every item of {dataset!r} is in the gold set {wf.gold!r}, so nothing would be "
                "left to label: gold items are taken out of the work pool. Make the gold set a "
                "few known-answer items, e.g. `assay dataset create flood-gold`, `assay dataset "
                "add flood-gold --items QUERY`, label them and `assay commit`/`assay tag` it"
            )
        _set_priorities(conn, project_id)
        conn.execute(
            project_markings.insert().from_select(
                ["project_id", "marking"],
                select(literal(project_id), tasks.c.marking)
                .where(tasks.c.project_id == project_id)
                .distinct(),
            )
        )
        audit.append(
            conn,
            actor or ws.actor,
            "project.create",
            f"project:{name}",
            {
                "dataset": dataset,
                "tasks": n_tasks - n_shared,
                "gold": n_gold,
                "gold_from_dataset": n_shared,
                "marking": marking or "",
                **wf.model_dump(mode="json"),
            },
        )
        created = project_by_id(conn, project_id)
    if wf.sample != "none":
        from assay.labeling import active

        active.resample(ws, created.id, actor)
    return created


def _insert_tasks(
    ws: Workspace, conn: Connection, project_id: int, rev: versioning.Revision
) -> int:
    """One task per item of the revision: a commit's manifest, or the working state."""
    if rev.commit is not None:
        from assay.versioning import _manifest

        t = _manifest.read(ws.blobs, rev.commit.manifest, ["item_id", "marking"])
        rows = [
            {"project_id": project_id, "item_id": i, "marking": m, "is_gold": 0}
            for i, m in zip(t["item_id"].to_pylist(), t["marking"].to_pylist(), strict=True)
        ]
        if rows:
            conn.execute(tasks.insert(), rows)
        return len(rows)
    src = (
        select(literal(project_id), working.c.item_id, items.c.marking, literal(0))
        .join(items, items.c.id == working.c.item_id)
        .where(working.c.dataset_id == rev.dataset_id)
    )
    conn.execute(tasks.insert().from_select(["project_id", "item_id", "marking", "is_gold"], src))
    # Counted, not the INSERT's rowcount, which not every driver reports for INSERT ... SELECT.
    counted = select(func.count()).select_from(tasks).where(tasks.c.project_id == project_id)
    return int(conn.execute(counted).scalar() or 0)


def _insert_gold(
    ws: Workspace, conn: Connection, project_id: int, spec: str, schema: LabelSchema
) -> tuple[int, int]:
    """Add the gold tasks; returns (gold tasks, of them items of the project's own dataset).

    A gold item that is also in the project's dataset becomes a gold task only: it is taken
    out of the work pool, so it is never counted as work nor labelled as ordinary work.
    Gold answers must fit the schema: one no annotator could give would score every answer
    as wrong and pause everyone.
    """
    from assay.versioning import _manifest

    rev = versioning.resolve(conn, spec, default_head=True)
    if rev.commit is not None:
        ids = _manifest.read(ws.blobs, rev.commit.manifest, ["item_id"])["item_id"].to_pylist()
    else:  # pragma: no cover - default_head always resolves to a commit
        ids = []
    gold = {i: r for i, r in versioning.labels_for(conn, ws.blobs, rev, ids).items() if r}
    if not gold:
        raise InvalidInput(f"gold revision {spec!r} has no labelled items")
    rows = conn.execute(
        select(items.c.id, items.c.marking, items.c.name).where(items.c.id.in_(list(gold)))
    ).all()
    marks = {i: m for i, m, _name in rows}
    names = {i: name or i[:12] for i, _m, name in rows}
    for item_id, regions in gold.items():
        try:
            schema.check_regions(regions)
        except InvalidInput as exc:
            raise InvalidInput(
                f"gold {spec!r}, item {names[item_id]}: {exc}; gold answers must fit the "
                "project's schema (rename the control or label in the schema, or relabel the "
                "gold set and commit it)"
            ) from None
    existing = set(
        conn.execute(
            select(tasks.c.item_id).where(
                tasks.c.project_id == project_id, tasks.c.item_id.in_(list(gold))
            )
        ).scalars()
    )
    for item_id, regions in gold.items():
        payload = payload_to_json(regions)
        if item_id in existing:
            conn.execute(
                tasks.update()
                .where(tasks.c.project_id == project_id, tasks.c.item_id == item_id)
                .values(is_gold=1, gold=payload)
            )
        else:
            conn.execute(
                tasks.insert().values(
                    project_id=project_id,
                    item_id=item_id,
                    marking=marks[item_id],
                    is_gold=1,
                    gold=payload,
                )
            )
    return len(gold), len(existing)


def _set_priorities(conn: Connection, project_id: int) -> int:
    """Least-confident first: a task's priority is the lowest score of its item's pre-labels."""
    rows = conn.execute(
        select(tasks.c.id, ann_t.c.payload)
        .join(ann_t, ann_t.c.item_id == tasks.c.item_id)
        .join(projects, projects.c.id == tasks.c.project_id)
        .where(tasks.c.project_id == project_id, made_for(projects.c.name))
    ).all()
    best: dict[int, float] = {}
    for task_id, payload in rows:
        scores = [r.score for r in payload_from_json(payload) if r.score is not None]
        if scores:
            best[task_id] = min(min(scores), best.get(task_id, 1.0))
    if best:
        conn.execute(
            tasks.update().where(tasks.c.id == bindparam("b_id")).values(priority=bindparam("b_p")),
            [{"b_id": k, "b_p": v} for k, v in best.items()],
        )
    return len(best)

"""Labeling projects: a schema, a dataset's items as tasks, and a workflow."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Integer, and_, bindparam, case, cast, func, literal, select
from sqlalchemy.engine import Connection

from assay import audit, versioning
from assay.domain.labels import canonical_json, payload_from_json, payload_to_json
from assay.domain.schema import LabelSchema
from assay.errors import Conflict, InvalidInput, NotFound
from assay.labeling._access import marking_filter, visible_markings
from assay.labeling._db import write
from assay.labeling.users import User
from assay.store.schema import (
    annotations_table as ann_t,
)
from assay.store.schema import (
    items,
    project_markings,
    projects,
    tasks,
    working,
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
    # Adaptive overlap: ask for another label (up to `overlap`) only while the leading answer
    # of the first choices control has a posterior below `adaptive`; every task gets
    # `adaptive_min` labels first.
    adaptive: float | None = Field(default=None, gt=0.5, lt=1.0)
    adaptive_min: int = Field(default=1, ge=1, le=50)

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

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "dataset": self.dataset,
            "schema": self.schema.model_dump(mode="json"),
            "instructions": self.instructions,
            "workflow": self.workflow.model_dump(mode="json"),
        }


def _row_to_project(row: Any) -> Project:
    return Project(
        row.id,
        row.name,
        row.title,
        row.dataset,
        LabelSchema.from_stored(row.schema),
        row.instructions,
        Workflow.model_validate_json(row.workflow),
    )


def get_project(conn: Connection, name: str) -> Project:
    row = conn.execute(select(projects).where(projects.c.name == name)).first()
    if row is None:
        raise NotFound(f"no project named {name!r}; see `assay project list`")
    return _row_to_project(row)


def project_by_id(conn: Connection, project_id: int) -> Project:
    row = conn.execute(select(projects).where(projects.c.id == project_id)).one()
    return _row_to_project(row)


# A project never changes after creation, so each process keeps the parsed ones.
_CACHE: dict[tuple[str, int | str], Project] = {}
_CACHE_LOCK = threading.Lock()


def cached_project(ws: Workspace, key: int | str) -> Project:
    """`get_project` (by name) or `project_by_id` (by id), read and parsed once per process.

    A miss reads on its own snapshot, so callers may hold a write transaction meanwhile.
    """
    url = ws.db.url
    with _CACHE_LOCK:
        hit = _CACHE.get((url, key))
    if hit is not None:
        return hit
    with ws.db.read() as conn:
        p = project_by_id(conn, key) if isinstance(key, int) else get_project(conn, key)
    with _CACHE_LOCK:
        _CACHE[(url, p.id)] = p
        _CACHE[(url, p.name)] = p
    return p


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
) -> Project:
    """Create a project with one task per item of the dataset's working state (plus gold)."""
    if not name or not all(c.isalnum() or c in "-_." for c in name):
        raise InvalidInput(f"bad project name {name!r}: use letters, digits, '-', '_' or '.'")
    wf = workflow or Workflow()
    if wf.gold_share > 0 and not wf.gold:
        raise InvalidInput("--gold-share needs --gold DATASET@REV to take gold labels from")
    with write(ws.db) as conn:
        if conn.execute(select(projects.c.id).where(projects.c.name == name)).first():
            raise Conflict(f"project {name!r} already exists")
        ds = versioning.resolve(conn, dataset).dataset_id
        pid = conn.execute(
            projects.insert().values(
                name=name,
                title=title or schema.title or name,
                dataset=dataset,
                schema=canonical_json(schema.model_dump(mode="json")),
                instructions=instructions,
                workflow=canonical_json(wf.model_dump(mode="json")),
                created=now_iso(),
                created_by=actor or ws.actor,
            )
        ).inserted_primary_key
        assert pid is not None  # an INSERT always has one
        project_id = int(pid[0])
        n_tasks = _insert_tasks(conn, project_id, ds)
        if wf.adaptive is not None:
            if schema.first_choices() is None:
                raise InvalidInput("--adaptive needs a choices control in the schema")
            conn.execute(
                tasks.update()
                .where(tasks.c.project_id == project_id)
                .values(target=min(wf.adaptive_min, wf.overlap))
            )
        n_gold = _insert_gold(ws, conn, project_id, wf.gold) if wf.gold else 0
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
            {"dataset": dataset, "tasks": n_tasks, "gold": n_gold, **wf.model_dump(mode="json")},
        )
        return project_by_id(conn, project_id)


def _insert_tasks(conn: Connection, project_id: int, ds: int) -> int:
    src = (
        select(literal(project_id), working.c.item_id, items.c.marking, literal(0))
        .join(items, items.c.id == working.c.item_id)
        .where(working.c.dataset_id == ds)
    )
    result = conn.execute(
        tasks.insert().from_select(["project_id", "item_id", "marking", "is_gold"], src)
    )
    return int(result.rowcount)


def _insert_gold(ws: Workspace, conn: Connection, project_id: int, spec: str) -> int:
    from assay.versioning import _manifest

    rev = versioning.resolve(conn, spec, default_head=True)
    if rev.commit is not None:
        ids = _manifest.read(ws.blobs, rev.commit.manifest, ["item_id"])["item_id"].to_pylist()
    else:  # pragma: no cover - default_head always resolves to a commit
        ids = []
    gold = {i: r for i, r in versioning.labels_for(conn, ws.blobs, rev, ids).items() if r}
    if not gold:
        raise InvalidInput(f"gold revision {spec!r} has no labelled items")
    marks = dict(
        conn.execute(select(items.c.id, items.c.marking).where(items.c.id.in_(list(gold)))).all()
    )
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
    return len(gold)


def _set_priorities(conn: Connection, project_id: int) -> int:
    """Least-confident first: a task's priority is the lowest score of its item's pre-labels."""
    rows = conn.execute(
        select(tasks.c.id, ann_t.c.payload)
        .join(ann_t, ann_t.c.item_id == tasks.c.item_id)
        .where(tasks.c.project_id == project_id, ann_t.c.kind == "model")
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


def list_projects(ws: Workspace, user: User | None) -> list[dict[str, Any]]:
    """Projects with task counts a user may see (all counts when `user` is None)."""
    out = []
    with ws.db.read() as conn:
        for row in conn.execute(select(projects).order_by(projects.c.name)).all():
            p = _row_to_project(row)
            out.append({**summary(ws, conn, p, user), "title": p.title, "dataset": p.dataset})
    return out


def summary(ws: Workspace, conn: Connection, p: Project, user: User | None) -> dict[str, Any]:
    """Counts of a project's non-gold tasks visible to `user`."""
    cond = [tasks.c.project_id == p.id, tasks.c.is_gold == 0]
    if user is not None:
        cond.append(marking_filter(tasks.c.marking, visible_markings(conn, ws.scheme, user, p.id)))
    full = tasks.c.done >= func.coalesce(tasks.c.target, p.workflow.overlap)
    row = conn.execute(
        select(
            func.count(),
            func.coalesce(func.sum(cast(case((full, 1), else_=0), Integer)), 0),
            func.coalesce(
                func.sum(cast(case((and_(~full, tasks.c.active > 0), 1), else_=0), Integer)), 0
            ),
        ).where(*cond)
    ).one()
    return {
        "name": p.name,
        "task_count": int(row[0]),
        "done_count": int(row[1]),
        "in_progress": int(row[2]),
    }

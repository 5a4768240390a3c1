"""Starting a campaign from the web UI: pick a dataset revision, check a schema, add people.

Need-to-know holds here too: a dataset whose marking (the highest of its items') is above
the manager's clearance is not listed and cannot be named; users cleared above the viewer
are not listed; a manager creates annotators and reviewers cleared at most as they are.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import desc, select
from sqlalchemy.engine import Connection

from assay import versioning
from assay.domain.schema import LabelSchema
from assay.errors import InvalidInput, NotFound, PermissionDenied
from assay.labeling.projects import Project, Workflow, create_project
from assay.labeling.users import MIN_PASSWORD, ROLES, Role, User, add_user
from assay.store.schema import commits, datasets, items, refs, users, working
from assay.workspace import Workspace

RECENT_COMMITS = 20


class NewProject(BaseModel):
    """A project as the create form sends it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    title: str = ""
    dataset: str = Field(min_length=1, description="the dataset's name")
    revision: str = Field(default="", description="a tag or commit id; empty: working state")
    schema_yaml: str = Field(min_length=1, max_length=200_000)
    instructions: str = Field(default="", max_length=200_000)
    workflow: Workflow = Field(default_factory=Workflow)


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[\w.-]+$")
    role: Role
    clearance: str
    password: str = Field(min_length=MIN_PASSWORD)


def dataset_marking(ws: Workspace, conn: Connection, dataset_id: int) -> str:
    """The dataset's marking: its declared one and the highest of its working items'."""
    found = list(
        conn.execute(
            select(items.c.marking)
            .join(working, working.c.item_id == items.c.id)
            .where(working.c.dataset_id == dataset_id)
            .distinct()
        ).scalars()
    )
    declared = conn.execute(select(datasets.c.marking).where(datasets.c.id == dataset_id)).scalar()
    return ws.scheme.highest_text([*found, *([declared] if declared else [])])


def visible_dataset(ws: Workspace, conn: Connection, user: User, name: str) -> int:
    """The dataset's id, or NotFound (as for a missing one) when `user` is below its marking."""
    row = conn.execute(select(datasets.c.id).where(datasets.c.name == name)).first()
    if row is None or not ws.scheme.allows(
        user.clearance, ws.scheme.parse(dataset_marking(ws, conn, int(row[0])))
    ):
        raise NotFound(f"no dataset named {name!r}; see `assay dataset list`")
    return int(row[0])


def datasets_for(ws: Workspace, user: User) -> list[dict[str, Any]]:
    """The datasets `user` is cleared for, each with its tags and recent commits."""
    user.require("review")
    out = []
    with ws.db.read() as conn:
        for ds in conn.execute(select(datasets).order_by(datasets.c.name)).all():
            marking = dataset_marking(ws, conn, ds.id)
            if not ws.scheme.allows(user.clearance, ws.scheme.parse(marking)):
                continue
            tags = conn.execute(
                select(refs.c.name, refs.c.commit_id)
                .where(refs.c.dataset_id == ds.id)
                .order_by(refs.c.name)
            ).all()
            recent = conn.execute(
                select(commits.c.id, commits.c.message, commits.c.created, commits.c.stats)
                .where(commits.c.dataset_id == ds.id)
                .order_by(desc(commits.c.seq))
                .limit(RECENT_COMMITS)
            ).all()
            out.append(
                {
                    "name": ds.name,
                    "marking": marking,
                    "head": ds.head,
                    "tags": [{"name": t.name, "commit": t.commit_id} for t in tags],
                    "commits": [
                        {"id": c.id, "message": c.message, "created": c.created} for c in recent
                    ],
                }
            )
    return out


def preview_schema(text: str) -> dict[str, Any]:
    """The checked schema as JSON, or `InvalidInput` naming the field (for the live preview)."""
    return LabelSchema.from_yaml_text(text, "schema").model_dump(mode="json")


def create_from_form(ws: Workspace, user: User, body: NewProject) -> Project:
    """Create the project the form describes, on a dataset revision the manager may see."""
    user.require("manage")
    schema = LabelSchema.from_yaml_text(body.schema_yaml, "schema")
    with ws.db.read() as conn:
        visible_dataset(ws, conn, user, body.dataset)
        if body.workflow.gold:
            gold_name, _rev = versioning.split_spec(body.workflow.gold)
            visible_dataset(ws, conn, user, gold_name)
    spec = f"{body.dataset}@{body.revision}" if body.revision.strip() else body.dataset
    return create_project(
        ws,
        body.name,
        schema,
        spec,
        body.workflow,
        instructions=body.instructions,
        title=body.title or None,
        actor=user.actor,
    )


def users_for(ws: Workspace, user: User) -> list[dict[str, Any]]:
    """Active users whose clearance the viewer's covers (others stay unlisted)."""
    user.require("review")
    with ws.db.read() as conn:
        rows = conn.execute(
            select(users.c.name, users.c.role, users.c.clearance)
            .where(users.c.disabled == 0)
            .order_by(users.c.name)
        ).all()
    return [
        {"name": r.name, "role": r.role, "clearance": r.clearance}
        for r in rows
        if ws.scheme.allows(user.clearance, ws.scheme.parse(r.clearance))
    ]


def add_user_by(ws: Workspace, user: User, body: NewUser) -> dict[str, Any]:
    """Add a user: managers add annotators and reviewers no more cleared than themselves."""
    user.require("manage")
    if body.role not in ROLES:
        raise InvalidInput(f"role: unknown role {body.role!r}; roles are: {', '.join(ROLES)}")
    if not user.can("admin") and ROLES.index(body.role) >= ROLES.index("manager"):
        raise PermissionDenied("only an admin adds managers and admins")
    clearance = ws.scheme.parse(body.clearance)
    if not ws.scheme.allows(user.clearance, clearance):
        raise PermissionDenied(
            f"clearance: you may grant at most your own clearance ({user.clearance_text})"
        )
    made = add_user(ws, body.name, body.role, body.clearance, body.password, actor=user.actor)
    return made.to_dict()

"""Projects and datasets declared above their items; labels carrying that marking to items;
a reviewer and their own work."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from assay.domain.schema import LabelSchema
from assay.errors import NotFound, PermissionDenied
from assay.labeling import (
    Workflow,
    create_project,
    decide,
    list_projects,
    next_task,
    review_next,
    submit,
)
from assay.labeling.marks import raise_items
from assay.labeling.pull import pull
from assay.quality import aggregate_project
from assay.store.schema import items
from assay.workspace import Workspace
from labeling_world import SCHEMA_YAML, World, build_world, choice


def _cid() -> str:
    return str(uuid.uuid4())


def _schema() -> LabelSchema:
    return LabelSchema.from_yaml_text(SCHEMA_YAML, "s.yaml")


def _markings(ws: Workspace, ids: list[str]) -> set[str]:
    with ws.db.read() as conn:
        rows = conn.execute(items.select().where(items.c.id.in_(ids))).all()
    return {r.marking for r in rows}


@pytest.fixture
def world(ws: Workspace, tmp_path: Path) -> World:
    return build_world(ws, tmp_path / "data", public=3, cui=0, secret=0)


def test_a_declared_project_hides_from_users_below_it(world: World) -> None:
    ws, ana = world.ws, world.users["ana"]
    create_project(ws, "brief", _schema(), "flood", marking="secret/flood")
    assert [p["name"] for p in list_projects(ws, ana)] == ["survey"]
    with pytest.raises(NotFound) as hidden:
        next_task(ws, ana, "brief")
    with pytest.raises(NotFound) as missing:
        next_task(ws, ana, "nowhere")
    assert str(hidden.value).replace("brief", "P") == str(missing.value).replace("nowhere", "P")
    listed = {p["name"]: p["marking"] for p in list_projects(ws, world.users["root"])}
    assert listed == {"brief": "SECRET/FLOOD", "survey": "UNCLASSIFIED"}


@pytest.mark.parametrize("path", ["pull", "aggregate"])
def test_labels_from_a_declared_project_raise_the_items_they_label(world: World, path: str) -> None:
    ws, root = world.ws, world.users["root"]
    create_project(ws, "brief", _schema(), "flood", marking="SECRET/FLOOD")
    while (lease := next_task(ws, root, "brief")) is not None:
        submit(ws, root, lease.task_id, _cid(), [choice("minor")])
    ws.create_dataset("labelled")
    ws.add_items("labelled")
    assert _markings(ws, world.items["public"]) == {"UNCLASSIFIED"}
    if path == "pull":
        pull(ws, "labelled", "brief", "latest")
    else:
        aggregate_project(ws, "brief", "mv", into="labelled")
    assert _markings(ws, world.items["public"]) == {"SECRET/FLOOD"}
    events = [e for e in ws.audit_log() if e.action == "item.mark"]
    assert {e.details["via"] for e in events} == {path}
    assert len(events) == len(world.items["public"])
    # The undeclared project over the same items now carries their marking too.
    assert [p["name"] for p in list_projects(ws, world.users["ana"])] == []


def test_a_declared_dataset_marks_its_exports_and_projects(world: World, tmp_path: Path) -> None:
    ws = world.ws
    ws.create_dataset("hush", marking="confidential")
    ws.add_items("hush")
    out = tmp_path / "out"
    ws.export("hush", "coco", out, media=False)
    assert json.loads((out / "annotations.json").read_text())["info"]["marking"] == "CONFIDENTIAL"
    create_project(ws, "quiet", _schema(), "hush")
    assert [p["name"] for p in list_projects(ws, world.users["ana"])] == ["survey"]
    assert "quiet" in [p["name"] for p in list_projects(ws, world.users["root"])]


@pytest.mark.parametrize("allowed", [False, True])
def test_a_reviewer_decides_on_their_own_work_only_where_the_project_allows(
    ws: Workspace, tmp_path: Path, allowed: bool
) -> None:
    wf = Workflow(review="all", self_review=allowed)
    w = build_world(ws, tmp_path / "data", public=2, cui=0, secret=0, workflow=wf)
    rev, ana = w.users["rev"], w.users["ana"]
    own = next_task(ws, rev, w.project)
    assert own is not None
    submit(ws, rev, own.task_id, _cid(), [choice("minor")])
    other = next_task(ws, ana, w.project)
    assert other is not None
    submit(ws, ana, other.task_id, _cid(), [choice("none")])
    served = []
    while (task := review_next(ws, rev, w.project)) is not None:
        served.append(task["task_id"])
        ann = task["annotations"][0]["id"]
        decide(ws, rev, task["task_id"], _cid(), "accept", annotation_id=ann)
    expected = {own.task_id, other.task_id} if allowed else {other.task_id}
    assert set(served) == expected
    if not allowed:
        with pytest.raises(PermissionDenied, match="your own answer"):
            decide(ws, rev, own.task_id, _cid(), "reject", comment="looks wrong")
        # Another reviewer may.
        task = review_next(ws, w.users["man"], w.project)
        assert task is not None and task["task_id"] == own.task_id


def test_a_datasets_marking_is_its_highest_item_or_its_declared_one(world: World) -> None:
    ws = world.ws
    ws.create_dataset("hush", marking="CONFIDENTIAL")
    ws.add_items("hush")
    listed = {d.name: d.marking for d in ws.datasets()}
    assert listed == {"flood": "UNCLASSIFIED", "hush": "CONFIDENTIAL"}
    raise_items(ws, f"id={world.items['public'][0]}", "SECRET/SAR")
    listed = {d.name: d.marking for d in ws.datasets()}
    assert listed == {"flood": "SECRET/SAR", "hush": "SECRET/SAR"}

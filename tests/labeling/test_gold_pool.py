"""Gold drawn from the project's own items: taken out of the work pool, never the whole pool."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from assay.domain.schema import LabelSchema
from assay.errors import InvalidInput
from assay.labeling import Workflow, create_project, list_projects, next_task, submit
from assay.versioning import LabelRecord
from assay.workspace import Workspace
from labeling_world import SCHEMA_YAML, build_world, choice


def test_gold_items_of_the_same_dataset_leave_the_work_pool(ws: Workspace, tmp_path: Path) -> None:
    w = build_world(ws, tmp_path / "data", public=6, cui=0, secret=0)
    gold_ids = w.items["public"][:2]
    ws.create_dataset("flood-gold")
    ws.add_items("flood-gold", f"id={gold_ids[0]}")
    ws.add_items("flood-gold", f"id={gold_ids[1]}")
    ws.set_labels("flood-gold", [LabelRecord(i, [choice("minor")]) for i in gold_ids])
    ws.commit("flood-gold", "gold answers")
    ws.tag("flood-gold", "HEAD", "v1")
    schema = LabelSchema.from_yaml_text(SCHEMA_YAML, "survey.yaml")
    wf = Workflow(gold="flood-gold@v1", gold_share=0.5)
    create_project(ws, "camp", schema, "flood", wf)
    info = next(p for p in list_projects(ws, None) if p["name"] == "camp")
    assert (info["task_count"], info["gold_count"]) == (4, 2)
    # Every work item is served once; gold is mixed in and never served once the work ran out.
    root = w.users["root"]
    served = []
    while (lease := next_task(ws, root, "camp")) is not None:
        served.append(lease.item["id"])
        submit(ws, root, lease.task_id, str(uuid.uuid4()), [choice("minor")])
    work = set(w.items["public"]) - set(gold_ids)
    assert work <= set(served) and len([i for i in served if i in work]) == 4
    assert served[-1] in work


def test_a_gold_set_covering_every_item_is_refused(ws: Workspace, tmp_path: Path) -> None:
    w = build_world(ws, tmp_path / "data", public=3, cui=0, secret=0)
    ws.create_dataset("flood-gold")
    ws.add_items("flood-gold")
    schema = LabelSchema.from_yaml_text(SCHEMA_YAML, "survey.yaml")
    all_ids = w.items["public"]
    ws.set_labels("flood-gold", [LabelRecord(i, [choice("minor")]) for i in all_ids])
    ws.commit("flood-gold", "gold answers")
    with pytest.raises(InvalidInput, match="nothing would be left to label"):
        create_project(ws, "camp", schema, "flood", Workflow(gold="flood-gold", gold_share=0.05))
    assert all(p["name"] != "camp" for p in list_projects(ws, None))

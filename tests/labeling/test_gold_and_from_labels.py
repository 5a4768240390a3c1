"""Gold drawn from the project's own items: taken out of the work pool, never the whole pool;
and a project started from the labels of record, pulled back without losing labels or authors."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from assay.domain.labels import Region
from assay.domain.schema import LabelSchema
from assay.errors import InvalidInput
from assay.labeling import Workflow, create_project, dashboard, list_projects, next_task, submit
from assay.labeling.history import my_history
from assay.store.schema import ID_SEP, assignments, datasets, working
from assay.versioning import LabelRecord
from assay.workspace import Workspace
from labeling_world import SCHEMA_YAML, box, build_world, choice


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
    # The annotator's own count and history agree, gold included: a count without the gold
    # tasks beside a history with them would tell which of their tasks were gold.
    mine = my_history(ws, root, "camp")
    assert any(i in gold_ids for i in served)
    assert mine["submitted"] == len(mine["history"]) == len(served)
    assert mine["tasks"] == info["task_count"] + info["gold_count"]


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


def _gold_set(ws: Workspace, ids: list[str], regions: list[Region]) -> None:
    ws.create_dataset("flood-gold")
    for i in ids:
        ws.add_items("flood-gold", f"id={i}")
    ws.set_labels("flood-gold", [LabelRecord(i, regions) for i in ids])
    ws.commit("flood-gold", "gold answers")


def test_gold_is_scored_only_on_the_controls_it_answers(ws: Workspace, tmp_path: Path) -> None:
    # Gold imported from COCO has boxes and no damage answer: every correct answer scored 50%
    # (the damage control counted as missed), and after five gold tasks everyone was paused.
    w = build_world(ws, tmp_path / "data", public=8, cui=0, secret=0)
    gold_ids = w.items["public"][:5]
    _gold_set(ws, gold_ids, [box(2, 2, 10, 10)])
    schema = LabelSchema.from_yaml_text(SCHEMA_YAML, "survey.yaml")
    create_project(ws, "camp", schema, "flood", Workflow(gold="flood-gold", gold_share=1.0))
    ana = w.users["ana"]
    scores = []
    while (lease := next_task(ws, ana, "camp")) is not None:
        gold = lease.item["id"] in gold_ids
        extra = [box(30, 20, 5, 5)] if lease.item["id"] == gold_ids[-1] else []
        submit(
            ws, ana, lease.task_id, str(uuid.uuid4()), [box(2, 2, 10, 10), choice("minor"), *extra]
        )
        if gold:
            with ws.db.read() as conn:
                scores.append(
                    conn.execute(
                        select(assignments.c.gold_score)
                        .where(assignments.c.gold_score.is_not(None))
                        .order_by(assignments.c.finished_at.desc())
                    ).scalar()
                )
    # Boxes are still scored where the gold draws them: an extra box costs its F1.
    assert scores == [1.0, 1.0, 1.0, 1.0, pytest.approx(2 / 3)]
    status = next(a for a in dashboard(ws, w.users["root"], "camp")["annotators"])
    assert status["name"] == "ana" and not status["paused"]


def test_gold_that_does_not_fit_the_schema_is_refused_naming_item_and_region(
    ws: Workspace, tmp_path: Path
) -> None:
    w = build_world(ws, tmp_path / "data", public=4, cui=0, secret=0)
    gold_ids = w.items["public"][:1]
    _gold_set(ws, gold_ids, [box(2, 2, 10, 10, label="Building")])
    schema = LabelSchema.from_yaml_text(SCHEMA_YAML, "survey.yaml")
    with pytest.raises(
        InvalidInput,
        match=r"gold 'flood-gold@HEAD', item \S+: regions\[0\]: "
        r"'Building' is not a label of control 'label'",
    ):
        create_project(
            ws, "camp", schema, "flood", Workflow(gold="flood-gold@HEAD", gold_share=0.1)
        )
    assert all(p["name"] != "camp" for p in list_projects(ws, None))


def test_reviewed_pull_changes_only_decided_items_and_keeps_both_authors(
    ws: Workspace, tmp_path: Path
) -> None:
    from assay.domain.labels import Region
    from assay.labeling import decide, review_next
    from assay.labeling.pull import pull

    w = build_world(ws, tmp_path / "data", public=3, cui=0, secret=0)
    first, second, third = w.items["public"]
    drawn = box(2, 2, 10, 10).model_copy(update={"author": "user:cy"})
    records = [
        LabelRecord(i, [drawn, choice("none")], [f"a-{i[:4]}"], ["user:cy"])
        for i in w.items["public"]
    ]
    ws.set_labels("flood", records)
    schema = LabelSchema.from_yaml_text(SCHEMA_YAML, "survey.yaml")
    create_project(ws, "fix", schema, "flood", Workflow(from_labels=True, review="all"))
    ana, rev = w.users["ana"], w.users["rev"]
    for n in range(2):  # ana corrects the damage of two items and keeps the boxes
        lease = next_task(ws, ana, "fix")
        assert lease is not None and lease.prelabel_source == "record"
        kept = [Region.model_validate(r) for r in lease.prelabels if r["control"] == "label"]
        submit(ws, ana, lease.task_id, f"ana-{n}", [*kept, choice("minor")])
    task = review_next(ws, rev, "fix")  # the reviewer decides on one of them
    assert task is not None
    decide(ws, rev, task["task_id"], "rev-1", "accept", annotation_id=task["annotations"][0]["id"])
    assert pull(ws, "flood", "fix", "reviewed") == 1
    with ws.db.read() as conn:
        flood = select(datasets.c.id).where(datasets.c.name == "flood").scalar_subquery()
        rows = {
            r.item_id: r for r in conn.execute(select(working).where(working.c.dataset_id == flood))
        }
    decided = task["item"]["id"]
    labels = {r["control"]: r for r in json.loads(rows[decided].labels)}
    assert labels["damage"]["label"] == "minor" and labels["damage"]["author"] == "user:ana"
    assert labels["label"]["author"] == "user:cy" and labels["label"]["box"] == [2, 2, 10, 10]
    assert set(rows[decided].authors.split(ID_SEP)) == {"user:rev", "user:ana", "user:cy"}
    for other in {first, second, third} - {decided}:  # no decision: the record stays
        assert [r["label"] for r in json.loads(rows[other].labels)] == ["building", "none"]

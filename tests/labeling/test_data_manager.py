"""The data manager's services: every filter and sort in SQL, the task view, and the audited
bulk actions (reassign, reset, review, gold) with what they refuse and why."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from assay.domain.labels import payload_to_json
from assay.errors import InvalidInput, NotFound, PermissionDenied
from assay.labeling import Workflow, create_project, next_task, skip_task, submit
from assay.labeling.bulk import bulk_action
from assay.labeling.tasklist import TaskQuery, list_tasks
from assay.labeling.taskview import task_view
from assay.store.schema import annotations_table, assignments, tasks
from assay.timeutil import now_iso
from labeling_world import SCHEMA_YAML, World, box, build_world, choice


def _ids(ws, user, project: str = "survey", **kw: object) -> list[int]:  # type: ignore[no-untyped-def]
    return [t["id"] for t in list_tasks(ws, user, project, TaskQuery(**kw))["tasks"]]


@pytest.fixture
def world(ws, tmp_path: Path) -> World:  # type: ignore[no-untyped-def]
    w = build_world(ws, tmp_path / "data", workflow=Workflow(overlap=2))
    # a pre-label on two items sets their confidence (the priority of least-confident first)
    for n, item in enumerate(w.items["public"][:2]):
        with ws.db.begin() as conn:
            conn.execute(
                annotations_table.insert().values(
                    id=f"model-{n}",
                    item_id=item,
                    project=None,
                    author="model:det@1",
                    kind="model",
                    payload=payload_to_json(
                        [box(1, 1, 4, 4).model_copy(update={"score": 0.2 + n / 2})]
                    ),
                    created=now_iso(),
                )
            )
    return w


def test_filters_and_sorts(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    w = build_world(ws, tmp_path / "data", workflow=Workflow(overlap=2))
    root, ana, rev = w.users["root"], w.users["ana"], w.users["rev"]
    answers = {}
    for n in range(3):
        lease = next_task(ws, root, "survey")
        assert lease is not None
        label = "vehicle" if n == 0 else "building"
        submit(ws, root, lease.task_id, f"r{n}", [box(1, 1, 5, 5, label), choice("minor")])
        answers[lease.task_id] = label
    vehicle_task = next(t for t, lab in answers.items() if lab == "vehicle")
    # ana agrees on one task, disagrees on another, skips a third
    for n in range(3):
        lease = next_task(ws, ana, "survey")
        assert lease is not None
        if n == 0:
            submit(
                ws,
                ana,
                lease.task_id,
                "a0",
                [box(1, 1, 5, 5, answers[lease.task_id]), choice("minor")],
            )
        elif n == 1:
            submit(ws, ana, lease.task_id, "a1", [box(30, 20, 5, 5, "vehicle"), choice("none")])
            disagreed = lease.task_id
        else:
            skip_task(ws, ana, lease.task_id, "s", "image too blurry")
            skipped = lease.task_id

    assert len(_ids(ws, root)) == 8
    assert sorted(_ids(ws, root, annotator="root")) == sorted(answers)
    assert _ids(ws, root, label="vehicle") == sorted({vehicle_task, disagreed})
    assert _ids(ws, root, skip_reason="blurry") == [skipped]
    assert _ids(ws, root, status="skipped") == [skipped]
    assert _ids(ws, root, status="done") == sorted(
        set(answers) - {skipped} & set(_ids(ws, root, status="done"))
    )
    assert len(_ids(ws, root, status="done")) == 2  # overlap 2: both root and ana answered
    assert _ids(ws, root, agreement_below=0.5) == [disagreed]
    assert len(_ids(ws, root, marking="CUI/FLOOD")) == 2 and len(_ids(ws, rev)) == 8
    with pytest.raises(NotFound, match="no project named 'sar-ops'"):  # rev is below SECRET/SAR
        _ids(ws, rev, "sar-ops")
    assert _ids(ws, root, sort="-id") == sorted(_ids(ws, root), reverse=True)
    page = list_tasks(ws, root, "survey", TaskQuery(limit=4, offset=4))
    assert page["total"] == 8 and len(page["tasks"]) == 4
    assert page["facets"]["labels"] == ["building", "destroyed", "minor", "none", "vehicle"]

    view = task_view(ws, root, "survey", disagreed)
    assert {a["author"] for a in view["annotations"]} == {"user:root", "user:ana"}
    assert view["agreement"] is not None and view["agreement"] < 0.5
    with pytest.raises(PermissionDenied):
        list_tasks(ws, ana, "survey", TaskQuery())


def test_confidence_filters_and_sorts_on_prelabels(world: World) -> None:
    ws = world.ws
    root = world.users["root"]
    # the pre-labels were written after the project: set priorities as create_project does
    from assay.labeling.projects import _set_priorities

    with ws.db.begin() as conn:
        _set_priorities(conn, 1)
    low = _ids(ws, root, confidence_below=0.5)
    assert len(low) == 1
    page = list_tasks(ws, root, "survey", TaskQuery(sort="confidence", limit=2))["tasks"]
    assert [t["confidence"] for t in page] == [0.2, 0.7]


def test_bulk_actions_are_audited_and_say_what_they_refused(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    w = build_world(ws, tmp_path / "data")
    root, man, low, ana = w.users["root"], w.users["man"], w.users["low"], w.users["ana"]
    lease = next_task(ws, root, "survey")
    assert lease is not None
    submit(ws, root, lease.task_id, "x", [box(1, 1, 5, 5)])
    answered = lease.task_id
    everything = _ids(ws, root)
    fresh = [t for t in everything if t != answered]

    r = bulk_action(ws, root, "survey", "review", everything)
    assert r["applied"] == [answered] and set(r["refused"]) == set(fresh)
    assert r["refused"][fresh[0]] == "no answer to review yet"

    r = bulk_action(ws, root, "survey", "gold", [answered, fresh[0]])
    assert r["applied"] == [answered]
    with ws.db.read() as conn:
        gold = conn.execute(select(tasks.c.gold).where(tasks.c.id == answered)).scalar_one()
    assert '"building"' in gold

    secret = _ids(ws, root, "sar-ops", marking="SECRET/SAR")[0]
    r = bulk_action(ws, root, "sar-ops", "reassign", [secret], to_user="ana")
    assert r["applied"] == [] and "not cleared" in r["refused"][secret]
    r = bulk_action(ws, root, "survey", "reassign", [fresh[1]], to_user="ana")
    assert r["applied"] == [fresh[1]]
    lease = next_task(ws, ana, "survey")
    assert lease is not None and lease.task_id == fresh[1]  # she finds it held for her

    r = bulk_action(ws, root, "survey", "reset", [answered])
    assert r["applied"] == [answered]
    with ws.db.read() as conn:
        t = conn.execute(select(tasks).where(tasks.c.id == answered)).one()
        states = (
            conn.execute(select(assignments.c.state).where(assignments.c.task_id == answered))
            .scalars()
            .all()
        )
    assert (t.done, t.active, t.open, t.review) == (0, 0, 1, None) and states == ["reset"]
    again = next_task(ws, root, "survey")  # root may label it again
    assert again is not None

    events = [e for e in ws.audit_log() if e.action.startswith("tasks.")]
    assert [e.action for e in events] == [
        "tasks.review",
        "tasks.gold",
        "tasks.reassign",
        "tasks.reassign",
        "tasks.reset",
    ]
    assert events[3].details["to"] == "ana" and events[0].details["refused"]

    with pytest.raises(NotFound):  # man is below the project's marking: it does not exist
        bulk_action(ws, man, "sar-ops", "review", [secret])
    with pytest.raises(NotFound, match=f"no task {secret}"):  # not a task of this project
        bulk_action(ws, root, "survey", "review", [secret])
    with pytest.raises(PermissionDenied):
        bulk_action(ws, low, "survey", "review", [answered])
    with pytest.raises(InvalidInput, match="to_user"):
        bulk_action(ws, root, "survey", "reassign", [answered])
    with pytest.raises(NotFound, match="no task 999999"):
        bulk_action(ws, root, "survey", "reset", [answered, 999999])


def test_a_project_on_a_commit_takes_that_commits_items(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from assay.domain.schema import LabelSchema

    build_world(ws, tmp_path / "data")
    ws.commit("flood", "nine items")
    ws.remove_items("flood", "name~scene_0*")
    schema = LabelSchema.from_yaml_text(SCHEMA_YAML, "s.yaml")
    at_head = create_project(ws, "at-head", schema, "flood@HEAD")
    working = create_project(ws, "working", schema, "flood")
    with ws.db.read() as conn:

        def count(pid: int) -> int:
            return len(conn.execute(select(tasks.c.id).where(tasks.c.project_id == pid)).all())

        assert (count(at_head.id), count(working.id)) == (8, 2)


def test_gold_tasks_are_counted_apart_as_on_the_dashboard(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from assay.labeling import dashboard, list_projects

    w = build_world(
        ws, tmp_path / "data", secret=0, gold_items=2, workflow=Workflow(gold_share=0.5)
    )
    man, ana = w.users["man"], w.users["ana"]
    for n in range(4):
        lease = next_task(ws, ana, "survey")
        assert lease is not None
        submit(ws, ana, lease.task_id, f"g{n}", [choice("minor"), box(2, 2, 9, 9)])
    d = dashboard(ws, man, "survey")
    [row] = [p for p in list_projects(ws, man) if p["name"] == "survey"]
    assert (d["tasks"], d["gold_tasks"]) == (row["task_count"], row["gold_count"]) == (8, 2)
    every = list_tasks(ws, man, "survey", TaskQuery())
    assert (every["total"] - every["gold"], every["gold"]) == (8, 2)
    done = list_tasks(ws, man, "survey", TaskQuery(status="done"))
    assert done["total"] - done["gold"] == d["done"] == row["done_count"]
    assert done["gold"] == d["annotators"][0]["gold_seen"] >= 1

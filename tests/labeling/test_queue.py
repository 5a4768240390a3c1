"""The queue under concurrency: overlap respected, nothing lost or doubled; leases, skips."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from assay.errors import Conflict, NotFound
from assay.labeling import Workflow, add_user, next_task, skip_task, submit
from assay.store.schema import annotations_table, assignments, projects, tasks
from assay.workspace import Workspace
from labeling_world import PASSWORD, World, build_world, choice


def _world(ws: Workspace, tmp_path: Path, **wf: object) -> World:
    return build_world(ws, tmp_path / "data", public=12, workflow=Workflow(**wf))  # type: ignore[arg-type]


@pytest.mark.parametrize("overlap", [1, 3])
def test_many_threads_respect_overlap_and_lose_nothing(
    ws: Workspace, tmp_path: Path, overlap: int
) -> None:
    w = _world(ws, tmp_path, overlap=overlap)
    people = [add_user(ws, f"a{i}", "annotator", "SECRET/FLOOD/SAR", PASSWORD) for i in range(8)]
    acked: list[tuple[str, int, str]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(user_index: int) -> None:
        u = people[user_index]
        try:
            while (lease := next_task(ws, u, w.project)) is not None:
                cid = str(uuid.uuid4())
                res = submit(ws, u, lease.task_id, cid, [choice("minor")], lead_time=1.0)
                # A client retry of the same submission, racing nothing but itself.
                again = submit(ws, u, lease.task_id, cid, [choice("minor")], lead_time=1.0)
                assert again == {**res, "duplicate": True}
                with lock:
                    acked.append((u.name, lease.task_id, res["annotation_id"]))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    n_tasks = len(w.items["public"]) + len(w.items["cui"])
    assert len(acked) == n_tasks * overlap
    per_task = Counter(task for _, task, _ in acked)
    assert set(per_task.values()) == {overlap}
    assert len({(u, t) for u, t, _ in acked}) == len(acked)  # nobody did a task twice
    with ws.db.read() as conn:
        stored = conn.execute(
            select(annotations_table.c.id).where(annotations_table.c.kind == "human")
        ).scalars()
        assert sorted(stored) == sorted(a for _, _, a in acked)
        survey = select(projects.c.id).where(projects.c.name == w.project).scalar_subquery()
        done = conn.execute(
            select(tasks.c.done, tasks.c.active, tasks.c.open).where(tasks.c.project_id == survey)
        ).all()
    assert {tuple(r) for r in done} == {(overlap, overlap, 0)}


def test_concurrent_retries_of_one_submission_store_one_annotation(
    ws: Workspace, tmp_path: Path
) -> None:
    w = _world(ws, tmp_path)
    ana = w.users["ana"]
    lease = next_task(ws, ana, w.project)
    assert lease is not None
    results: list[dict[str, object]] = []

    def send() -> None:
        results.append(submit(ws, ana, lease.task_id, "same-id", [choice("none")]))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r["duplicate"] for r in results) == [False] + [True] * 5
    assert len({r["annotation_id"] for r in results}) == 1
    with ws.db.read() as conn:
        n = conn.execute(select(annotations_table.c.id)).all()
    assert len(n) == 1


def test_a_client_id_used_for_another_task_is_refused_not_taken_as_a_retry(
    ws: Workspace, tmp_path: Path
) -> None:
    # A script numbering its answers from 0 on every run reuses client ids: the second
    # task's answer was taken as a retry of the first's, dropped, and its lease held for ever.
    w = _world(ws, tmp_path, overlap=1)
    ana = w.users["ana"]
    first = next_task(ws, ana, w.project)
    assert first is not None
    submit(ws, ana, first.task_id, "ana-0", [choice("none")])
    second = next_task(ws, ana, w.project)
    assert second is not None and second.task_id != first.task_id
    with pytest.raises(Conflict, match="'ana-0' was already used for another task or action"):
        submit(ws, ana, second.task_id, "ana-0", [choice("minor")])
    with pytest.raises(Conflict, match="'ana-0' was already used for another task or action"):
        skip_task(ws, ana, second.task_id, "ana-0", "blurred")
    stored = submit(ws, ana, second.task_id, "ana-1", [choice("minor")])
    assert stored["duplicate"] is False
    with ws.db.read() as conn:
        answers = conn.execute(
            select(annotations_table.c.item_id).where(annotations_table.c.kind == "human")
        ).all()
    assert len(answers) == 2


def test_a_client_id_is_its_users_own(ws: Workspace, tmp_path: Path) -> None:
    # Two annotators' scripts both numbering their answers 1, 2, 3: the second was refused
    # ("belongs to another request"), as if an idempotency key were everyone's.
    w = _world(ws, tmp_path, overlap=2)
    ana, bob = w.users["ana"], add_user(ws, "bob", "annotator", "SECRET/FLOOD/SAR", PASSWORD)
    results = {}
    for user in (ana, bob):
        lease = next_task(ws, user, w.project)
        assert lease is not None
        results[user.name] = (lease.task_id, submit(ws, user, lease.task_id, "1", [choice("none")]))
    assert [r["duplicate"] for _, r in results.values()] == [False, False]
    assert results["ana"][1]["annotation_id"] != results["bob"][1]["annotation_id"]
    # Each user's retry finds their own first result; their key for another task is refused.
    for user in (ana, bob):
        task_id, first = results[user.name]
        again = submit(ws, user, task_id, "1", [choice("none")])
        assert again == {**first, "duplicate": True}
    lease = next_task(ws, bob, w.project)
    assert lease is not None
    with pytest.raises(Conflict, match="'1' was already used for another task or action"):
        submit(ws, bob, lease.task_id, "1", [choice("minor")])
    with pytest.raises(Conflict, match="'1' was already used for another task or action"):
        skip_task(ws, bob, lease.task_id, "1", "blurred")
    with ws.db.read() as conn:
        answers = conn.execute(
            select(annotations_table.c.author).where(annotations_table.c.kind == "human")
        ).scalars()
        assert sorted(answers) == ["user:ana", "user:bob"]


def test_next_returns_the_held_lease_until_answered(ws: Workspace, tmp_path: Path) -> None:
    w = _world(ws, tmp_path)
    ana = w.users["ana"]
    first = next_task(ws, ana, w.project)
    again = next_task(ws, ana, w.project)
    assert first is not None and again is not None and first.task_id == again.task_id


def test_expired_leases_return_to_the_queue(ws: Workspace, tmp_path: Path) -> None:
    w = build_world(
        ws,
        tmp_path / "data",
        public=1,
        cui=0,
        secret=0,
        workflow=Workflow(overlap=1, lease_seconds=60),
    )
    ana, man = w.users["ana"], w.users["man"]
    t0 = time.time()
    lease = next_task(ws, ana, w.project, now=t0)
    assert lease is not None
    assert next_task(ws, man, w.project, now=t0 + 30) is None  # still held by ana
    later = next_task(ws, man, w.project, now=t0 + 61)
    assert later is not None and later.task_id == lease.task_id
    # ana's late answer no longer fits: the task went to man.
    with pytest.raises(Conflict, match="expired"):
        submit(ws, ana, lease.task_id, "late", [choice("none")])
    submit(ws, man, later.task_id, "in-time", [choice("none")])


def test_skip_records_a_reason_and_frees_the_task(ws: Workspace, tmp_path: Path) -> None:
    w = build_world(ws, tmp_path / "data", public=1, cui=0, secret=0)
    ana, man = w.users["ana"], w.users["man"]
    lease = next_task(ws, ana, w.project)
    assert lease is not None
    assert skip_task(ws, ana, lease.task_id, "k1", "image too dark") == {"skipped": True}
    assert skip_task(ws, ana, lease.task_id, "k1", "image too dark") == {"skipped": True}
    assert next_task(ws, ana, w.project) is None  # not served again to ana
    other = next_task(ws, man, w.project)
    assert other is not None and other.task_id == lease.task_id
    with ws.db.read() as conn:
        reasons = (
            conn.execute(select(assignments.c.reason).where(assignments.c.state == "skipped"))
            .scalars()
            .all()
        )
    assert reasons == ["image too dark"]
    with pytest.raises(NotFound):
        skip_task(ws, ana, lease.task_id, "k2", "again")


def test_least_confident_prelabels_come_first(ws: Workspace, tmp_path: Path) -> None:
    from assay.domain.labels import Region, payload_to_json
    from assay.store.schema import items

    root = tmp_path / "data"
    w = build_world(ws, root, public=4, cui=0, secret=0, users=True)
    with ws.db.begin() as conn:
        ids = sorted(conn.execute(select(items.c.id)).scalars())
        for score, item in zip([0.9, 0.2, 0.6], ids[:3], strict=True):
            conn.execute(
                annotations_table.insert().values(
                    id=f"m-{item[:8]}",
                    item_id=item,
                    project=None,
                    author="model:flood-det@1",
                    kind="model",
                    payload=payload_to_json(
                        [Region(kind="choice", control="damage", label="minor", score=score)]
                    ),
                    created="2026-01-01T00:00:00Z",
                )
            )
    from assay.domain.schema import LabelSchema
    from assay.labeling import create_project
    from labeling_world import SCHEMA_YAML

    create_project(ws, "ranked", LabelSchema.from_yaml_text(SCHEMA_YAML), "flood")
    order = []
    ana = w.users["ana"]
    while (lease := next_task(ws, ana, "ranked")) is not None:
        order.append((lease.item["id"], [r.get("score") for r in lease.prelabels]))
        submit(ws, ana, lease.task_id, str(uuid.uuid4()), [])
    assert [s for _, s in order[:3]] == [[0.2], [0.6], [0.9]]
    assert [s for _, s in order[3:]] == [[]]

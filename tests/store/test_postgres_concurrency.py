"""PostgreSQL under concurrency (READ COMMITTED, its default): commits from several processes
queue into one linear history, and the task claim holds the overlap with 64 annotators."""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from assay import Workspace
from assay.domain import Region
from assay.errors import Conflict
from assay.labeling import Workflow, add_user, next_task, submit
from assay.store.schema import annotations_table, commits, datasets
from assay.versioning import LabelRecord
from labeling_world import PASSWORD, build_world, choice
from pg import fresh_schema

PROCESSES = 8
ROUNDS = 3


@pytest.fixture
def pg_ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workspace]:
    with fresh_schema() as url:
        monkeypatch.setenv("ASSAY_DATABASE_URL", url)
        monkeypatch.setenv("ASSAY_ARGON2_MEMORY_KIB", "1024")
        ws = Workspace.init(tmp_path / "ws")
        assert ws.db.engine.dialect.name == "postgresql"
        yield ws
        ws.close()


def _committer(root: str, worker: int, item: str, start: Any, out: Any) -> None:
    """One process: ROUNDS times, relabel its own item, then commit (two transactions; a
    commit may find its change already taken by another worker's commit)."""
    ws = Workspace.open(root)
    start.wait(timeout=60)
    made = []
    for r in range(ROUNDS):
        box = Region(
            kind="box", label="building", box=(1 + r, 1 + worker, 5, 5), author=f"user:w{worker}"
        )
        ws.set_labels("roofs", [LabelRecord(item, [box], authors=[f"user:w{worker}"])])
        # A Conflict says nothing was left to commit: an earlier commit holds this change.
        with contextlib.suppress(Conflict):
            made.append(ws.commit("roofs", f"w{worker} r{r}", f"user:w{worker}").id)
    out.put((worker, made))
    ws.db.dispose()


def test_eight_processes_committing_at_once_leave_one_linear_history(
    pg_ws: Workspace, samples: Any
) -> None:
    report = pg_ws.ingest(samples.images("roofs", PROCESSES))
    pg_ws.create_dataset("roofs")
    pg_ws.add_items("roofs")
    first = pg_ws.commit("roofs", "the roofs")
    ctx = mp.get_context("fork")
    start, out = ctx.Barrier(PROCESSES), ctx.Queue()
    items = sorted(report.new)
    procs = [
        ctx.Process(target=_committer, args=(str(pg_ws.root), w, items[w], start, out))
        for w in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=180)
        assert p.exitcode == 0
    made = dict(out.get(timeout=10) for _ in procs)
    acked = [cid for ids in made.values() for cid in ids]
    assert len(set(acked)) == len(acked) >= 1

    chain = pg_ws.log("roofs")  # HEAD back to the first commit, by first parents
    assert [c.id for c in chain][-1] == first.id
    assert sorted(c.id for c in chain[:-1]) == sorted(acked)  # every commit reachable
    assert [c.seq for c in chain] == list(range(len(chain), 0, -1))
    with pg_ws.db.read() as conn:
        stored = conn.execute(select(commits.c.id, commits.c.parents)).all()
        head = conn.execute(select(datasets.c.head).where(datasets.c.name == "roofs")).scalar()
    assert len(stored) == len(chain) and head == chain[0].id  # nothing off the line
    parents = Counter(p for _, raw in stored for p in json.loads(raw))
    assert set(parents.values()) == {1}  # no commit has two children
    # Each worker's own commits are in its order.
    for ids in made.values():
        positions = [next(c.seq for c in chain if c.id == i) for i in ids]
        assert positions == sorted(positions)
    assert pg_ws.status("roofs").items_changed == []  # every change went into a commit
    d = pg_ws.diff("roofs", first.id, "HEAD")
    assert d.changes and all(c.after is not None for c in d.changes)
    last = {(c.item, c.author, tuple(c.after["box"])) for c in d.changes if c.after}
    assert last == {(items[w], f"user:w{w}", (ROUNDS, 1 + w, 5, 5)) for w in range(PROCESSES)}
    assert pg_ws.audit_verify().ok


ANNOTATORS = 64
OVERLAP = 3
TASKS = 48  # 144 places for 64 annotators


def test_64_annotators_claim_under_read_committed_and_hold_the_overlap(
    pg_ws: Workspace, tmp_path: Path
) -> None:
    w = build_world(
        pg_ws, tmp_path / "data", public=TASKS, cui=0, secret=0, workflow=Workflow(overlap=OVERLAP)
    )
    with pg_ws.db.read() as conn:
        level = conn.exec_driver_sql("SHOW transaction_isolation").scalar()
    assert level == "read committed"
    people = [
        add_user(pg_ws, f"a{i:02d}", "annotator", "UNCLASSIFIED", PASSWORD)
        for i in range(ANNOTATORS)
    ]
    acked: list[tuple[str, int, str]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    go = threading.Barrier(ANNOTATORS)
    # Each annotator stops at the first "nothing left for you": with more than two places per
    # annotator, one that got nothing at all was turned away while work was open.

    def work(i: int) -> None:
        u = people[i]
        try:
            go.wait(timeout=60)
            while (lease := next_task(pg_ws, u, w.project)) is not None:
                res = submit(
                    pg_ws, u, lease.task_id, str(uuid.uuid4()), [choice("minor")], lead_time=1.0
                )
                with lock:
                    acked.append((u.name, lease.task_id, res["annotation_id"]))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(ANNOTATORS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors[:3]
    per_task = Counter(task for _, task, _ in acked)
    assert len(per_task) == TASKS and set(per_task.values()) == {OVERLAP}
    assert {u for u, _, _ in acked} == {p.name for p in people}
    assert len({(u, t) for u, t, _ in acked}) == len(acked)  # nobody did a task twice
    with pg_ws.db.read() as conn:
        stored = conn.execute(
            select(annotations_table.c.id).where(annotations_table.c.kind == "human")
        ).scalars()
        assert sorted(stored) == sorted(a for _, _, a in acked)

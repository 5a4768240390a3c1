"""Group commit: batched hot writes, failure isolation, lock waits, the audit chain after it all."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import uuid
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from assay.errors import Conflict
from assay.labeling import Workflow, create_token
from assay.labeling._tx import Tx
from assay.server import Settings, create_app
from assay.server._group_commit import GroupCommit
from assay.store.schema import annotations_table, audit
from assay.workspace import Workspace
from labeling_world import build_world
from own_loop import run_async

T = TypeVar("T")


@pytest.fixture
def database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """Group commit is the embedded SQLite store's (on PostgreSQL a hot write is its own
    transaction, and `GroupCommit` refuses the database): SQLite under `--db postgresql` too."""
    monkeypatch.delenv("ASSAY_DATABASE_URL", raising=False)


REGIONS = [
    {"kind": "choice", "control": "damage", "label": "minor"},
    {"kind": "box", "control": "label", "label": "building", "box": [1, 2, 3, 4]},
]


def _event(name: str, fail: bool = False) -> Any:
    def op(tx: Tx) -> str:
        tx.audit("user:tester", "test.event", name, {"n": name})
        if fail:
            raise Conflict(f"{name} fails after writing")
        return name

    return op


def _audit_targets(ws: Workspace) -> list[str]:
    return [e.target for e in ws.audit_log() if e.action == "test.event"]


def test_one_batch_commits_many_and_a_failure_rolls_back_alone(ws: Workspace) -> None:
    gc = GroupCommit(ws.db)

    async def main() -> list[Any]:
        ops = [_event("a"), _event("b", fail=True), _event("c")]
        return await asyncio.gather(*(gc.run(op) for op in ops), return_exceptions=True)

    a, b, c = run_async(main)
    gc.close()
    assert (a, c) == ("a", "c")
    assert isinstance(b, Conflict)
    assert (gc.batches, gc.operations) == (1, 3)
    assert _audit_targets(ws) == ["a", "c"]  # b's event went with its savepoint
    assert ws.audit_verify().ok


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=st.lists(st.lists(st.booleans(), min_size=1, max_size=6), min_size=1, max_size=4))
def test_committed_events_are_exactly_the_successful_operations(
    ws: Workspace, plan: list[list[bool]]
) -> None:
    before = _audit_targets(ws)
    gc = GroupCommit(ws.db)
    expected = []

    async def main() -> None:
        for round_ in plan:  # one gather per round: one batch each
            names = [uuid.uuid4().hex for _ in round_]
            ops = [gc.run(_event(n, fail)) for n, fail in zip(names, round_, strict=True)]
            results = await asyncio.gather(*ops, return_exceptions=True)
            for n, fail, r in zip(names, round_, results, strict=True):
                assert isinstance(r, Conflict) if fail else r == n
                if not fail:
                    expected.append(n)

    run_async(main)
    gc.close()
    assert _audit_targets(ws) == before + expected
    assert ws.audit_verify().ok


def test_a_batch_waits_for_a_writer_outside_the_group(ws: Workspace) -> None:
    gc = GroupCommit(ws.db)
    other = sqlite3.connect(gc.path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # e.g. a CLI command holding the write lock

    async def main() -> str:
        task = asyncio.ensure_future(gc.run(_event("late")))
        await asyncio.sleep(0.05)
        assert not task.done()  # no answer before its commit
        other.execute("COMMIT")
        return await asyncio.wait_for(task, 10)

    assert run_async(main) == "late"
    gc.close()
    other.close()
    assert gc.busy > 0
    assert _audit_targets(ws) == ["late"]


def test_two_committers_take_turns_like_two_worker_processes(ws: Workspace) -> None:
    # Each GroupCommit opens its own lock file descriptor, so two in one process exclude
    # each other exactly as two worker processes do.
    one, two = GroupCommit(ws.db), GroupCommit(ws.db)

    async def main() -> list[Any]:
        jobs = [gc.run(_event(f"{i}")) for i in range(40) for gc in (one, two)]
        return await asyncio.gather(*jobs)

    results = run_async(main)
    one.close()
    two.close()
    assert sorted(results) == sorted(_audit_targets(ws))
    assert len(results) == 80
    assert ws.audit_verify().ok


def test_concurrent_api_clients_share_batches_and_the_chain_holds(
    ws: Workspace, tmp_path: Path
) -> None:
    w = build_world(ws, tmp_path / "data", public=40, cui=0, secret=0, workflow=Workflow())
    app = create_app(Settings(), ws)
    tokens = [create_token(ws, name) for name in ("root", "man", "rev", "ana")]

    async def client(http: httpx.AsyncClient, token: str) -> list[tuple[str, str]]:
        done = []
        headers = {"Authorization": f"Bearer {token}"}
        while True:
            r = await http.post(f"/api/v1/projects/{w.project}/next", headers=headers)
            if r.status_code == 204:
                return done
            assert r.status_code == 200, r.text
            cid = str(uuid.uuid4())
            body = {"client_id": cid, "regions": REGIONS, "lead_time": 1.0}
            task = r.json()["task_id"]
            s = await http.post(f"/api/v1/tasks/{task}/submit", json=body, headers=headers)
            assert s.status_code == 200, s.text
            done.append((cid, s.json()["annotation_id"]))

    async def main() -> list[list[tuple[str, str]]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://assay") as http:
            return await asyncio.gather(*(client(http, t) for t in tokens))

    acked = [x for per_client in run_async(main) for x in per_client]
    gc: GroupCommit = app.state.committer
    assert len(acked) == 40  # overlap 1: every task answered once
    assert gc.operations == 84  # 40 leases, 40 submissions, each client's last (empty) next
    assert gc.batches < gc.operations  # requests shared transactions
    with ws.db.read() as conn:
        stored = dict(
            conn.execute(select(annotations_table.c.source_id, annotations_table.c.id)).all()
        )
        events = conn.execute(select(func.count()).select_from(audit)).scalar_one()
    assert all(stored[f"client:{cid}"] == ann for cid, ann in acked)
    assert events >= 80
    assert ws.audit_verify().ok


def test_threads_submitting_through_the_services_keep_the_chain(
    ws: Workspace, tmp_path: Path
) -> None:
    from assay.domain.labels import Region
    from assay.labeling import next_task, submit

    w = build_world(ws, tmp_path / "data", public=48, cui=0, secret=0, workflow=Workflow())
    regions = [Region.model_validate(r) for r in REGIONS]
    counts: dict[str, int] = {}
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            user = w.users[name]
            n = 0
            while (lease := next_task(ws, user, w.project)) is not None:
                submit(ws, user, lease.task_id, str(uuid.uuid4()), regions, lead_time=0.1)
                n += 1
            counts[name] = n
        except BaseException as exc:  # surfaced below, in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("root", "man", "rev", "ana")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert sum(counts.values()) == 48
    leases = [e for e in ws.audit_log() if e.action in ("task.lease", "task.submit")]
    assert len(leases) == 96
    assert [e.seq for e in ws.audit_log()] == list(range(1, len(ws.audit_log()) + 1))
    assert ws.audit_verify().ok


def test_another_process_appending_meanwhile_keeps_the_chain(ws: Workspace) -> None:
    import os
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from assay import audit\n"
        "from assay.workspace import Workspace\n"
        "ws = Workspace.open(sys.argv[1])\n"
        "for i in range(60):\n"
        "    with ws.db.begin() as conn:\n"
        "        audit.append(conn, 'user:cli', 'test.other', f'o{i}', {})\n"
    )
    src = str(Path(__file__).resolve().parents[2] / "src")
    other = subprocess.Popen(
        [sys.executable, "-c", script, str(ws.root)], env={**os.environ, "PYTHONPATH": src}
    )
    gc = GroupCommit(ws.db)

    async def main() -> int:
        n = 0
        while other.poll() is None or n < 60:
            await asyncio.gather(*(gc.run(_event(f"g{n}-{k}")) for k in range(3)))
            n += 3
            await asyncio.sleep(0.002)  # a busy server, not a spinning one
        return n

    ours = run_async(main)
    gc.close()
    assert other.wait(timeout=60) == 0
    log = ws.audit_log()
    assert len([e for e in log if e.action == "test.other"]) == 60
    assert len(_audit_targets(ws)) == ours
    assert ws.audit_verify().ok

"""Two creates of one name at once: the one that loses gets the same Conflict a second create
gets afterwards, on SQLite and (with `--db postgresql`) on PostgreSQL, where read committed
lets both see the name free before either has committed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from assay import Workspace
from assay.domain.schema import LabelSchema
from assay.errors import Conflict
from assay.labeling import add_user, create_project
from labeling_world import SCHEMA_YAML

# The audit trail's lock (`assay.audit._chain`): every create takes it after its insert.
_AUDIT_LOCK = "SELECT pg_advisory_xact_lock(1634956665)"
_WAITING = "SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted AND pid = ANY(:p)"


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workspace]:
    monkeypatch.setenv("ASSAY_ARGON2_MEMORY_KIB", "1024")
    ws = Workspace.init(tmp_path / "ws")
    ws.create_dataset("flood")
    yield ws
    ws.close()


@contextmanager
def _held(
    ws: Workspace, pids: set[int], outcomes: list[BaseException | None]
) -> Iterator[Callable[[], None]]:
    """A write transaction that holds the creators back (SQLite's write lock; PostgreSQL's
    audit lock, which each takes after its insert); the callable waits, on PostgreSQL, until
    both creators wait on a lock: one on this transaction, the other on the first's
    uncommitted row, after both found the name free (or one has stopped: the test says why)."""
    with ws.db.begin() as conn:
        if ws.db.is_sqlite:
            yield lambda: None
            return
        conn.execute(text(_AUDIT_LOCK))

        def both_waiting() -> None:
            deadline = time.monotonic() + 60
            with ws.db.engine.connect() as probe:
                while not outcomes and probe.scalar(text(_WAITING), {"p": list(pids)}) < 2:
                    probe.rollback()  # the next look sees the locks as they are then
                    assert time.monotonic() < deadline, "the two creates never met"
                    time.sleep(0.05)

        yield both_waiting


def _race(ws: Workspace, create: Callable[[], Any]) -> list[BaseException | None]:
    """Run `create` in two threads at once; what each raised (None if it made the thing)."""
    pids: set[int] = set()
    if not ws.db.is_sqlite:
        ws.db.engine.dispose()  # new connections only, each named by its backend's pid

        def remember(dbapi_conn: Any, _record: Any) -> None:
            with dbapi_conn.cursor() as cur:
                cur.execute("SELECT pg_backend_pid()")
                pids.add(cur.fetchone()[0])

        event.listen(ws.db.engine, "connect", remember)
    outcomes: list[BaseException | None] = []

    def run() -> None:
        try:
            create()
        except BaseException as e:  # what was raised is what the test looks at
            outcomes.append(e)
        else:
            outcomes.append(None)

    threads = [threading.Thread(target=run) for _ in range(2)]
    with _held(ws, pids, outcomes) as both_waiting:
        for t in threads:
            t.start()
        both_waiting()
    for t in threads:
        t.join(timeout=120)
    return outcomes


def _one_made_one_refused(outcomes: list[BaseException | None], what: str) -> None:
    assert len(outcomes) == 2
    refused = [e for e in outcomes if e is not None]
    assert len(refused) == 1, refused
    assert isinstance(refused[0], Conflict), repr(refused[0])
    assert str(refused[0]) == f"{what} already exists"


def test_concurrent_dataset_creates(ws: Workspace) -> None:
    _one_made_one_refused(_race(ws, lambda: ws.create_dataset("roofs")), "dataset 'roofs'")
    assert [d.name for d in ws.datasets()].count("roofs") == 1


def test_concurrent_user_adds(ws: Workspace) -> None:
    add = lambda: add_user(ws, "ana", "annotator", "UNCLASSIFIED", "a-long-password")  # noqa: E731
    _one_made_one_refused(_race(ws, add), "user 'ana'")


def test_concurrent_project_creates(ws: Workspace) -> None:
    schema = LabelSchema.from_yaml_text(SCHEMA_YAML, "survey.yaml")
    make = lambda: create_project(ws, "survey", schema, "flood")  # noqa: E731
    _one_made_one_refused(_race(ws, make), "project 'survey'")

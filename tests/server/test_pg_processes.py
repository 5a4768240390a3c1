"""Several server processes over one PostgreSQL database: `assay serve --workers 2` beside a
second `assay serve`, sharing sessions, the login limit and the task queue; one of them killed
mid-load loses no acknowledged submission and stores none twice."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from assay.labeling import Workflow, add_user, create_token
from assay.workspace import Workspace
from labeling_world import (
    PASSWORD,
    World,
    assert_each_stored_once,
    build_world,
    start_server,
)
from pg import fresh_schema

pytestmark = pytest.mark.xdist_group("pg-processes")


@pytest.fixture
def pg_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with fresh_schema() as url:
        monkeypatch.setenv("ASSAY_DATABASE_URL", url)  # the servers inherit it
        monkeypatch.setenv("ASSAY_ARGON2_MEMORY_KIB", "1024")
        ws = Workspace.init(tmp_path / "ws")
        yield build_world(ws, tmp_path / "data", public=60, cui=0, secret=0, workflow=Workflow())
        ws.close()


def _serve(root: Path, *extra: str) -> tuple[Any, str]:
    server = start_server(root, *extra)
    return server, server.url


def _stop(proc: Any) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


def test_a_login_on_one_process_works_on_the_other_and_the_limit_counts_both(
    pg_world: World, tmp_path: Path
) -> None:
    root = tmp_path / "ws"
    (a, url_a), (b, url_b) = _serve(root, "--workers", "2"), _serve(root)
    try:
        login = {"username": "ana", "password": PASSWORD}
        r = httpx.post(f"{url_a}/api/v1/auth/login", json=login)
        assert r.status_code == 200, r.text
        cookie = {"assay_session": r.cookies["assay_session"]}
        me = httpx.get(f"{url_b}/api/v1/me", cookies=cookie)
        assert me.status_code == 200 and me.json()["name"] == "ana"
        out = httpx.post(
            f"{url_b}/api/v1/auth/logout",
            cookies=cookie,
            headers={"X-CSRF-Token": r.json()["csrf_token"]},
        )
        assert out.status_code == 200
        assert httpx.get(f"{url_a}/api/v1/me", cookies=cookie).status_code == 401

        # Five failures allowed per name and address, wherever they land.
        wrong = {"username": "rev", "password": "not-the-password"}
        codes = [
            httpx.post(f"{(url_a, url_b)[i % 2]}/api/v1/auth/login", json=wrong).status_code
            for i in range(8)
        ]
        assert codes == [401] * 5 + [429] * 3
        right = {"username": "rev", "password": PASSWORD}
        assert httpx.post(f"{url_a}/api/v1/auth/login", json=right).status_code == 429
    finally:
        _stop(a)
        _stop(b)


def test_sigkill_one_of_two_processes_mid_load_loses_no_acknowledged_submission(
    pg_world: World, tmp_path: Path
) -> None:
    ws, root = pg_world.ws, tmp_path / "ws"
    names = [f"crew{i}" for i in range(8)]
    for name in names:
        add_user(ws, name, "annotator", "UNCLASSIFIED", PASSWORD)
    tokens = [create_token(ws, name) for name in names]
    (a, url_a), (b, url_b) = _serve(root, "--workers", "2"), _serve(root)
    acked: dict[str, str] = {}  # client_id -> annotation_id
    pending: list[tuple[str, int, str]] = []  # (token, task, client_id) not acknowledged
    lock = threading.Lock()

    def client(token: str, url: str) -> None:
        http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        while True:
            try:
                r = http.post(f"/api/v1/projects/{pg_world.project}/next")
            except httpx.TransportError:
                return
            if r.status_code != 200:
                return
            task, cid = r.json()["task_id"], str(uuid.uuid4())
            body = {"client_id": cid, "regions": [], "lead_time": 0.5}
            try:
                res: httpx.Response | None = http.post(f"/api/v1/tasks/{task}/submit", json=body)
            except httpx.TransportError:
                res = None
            if res is not None and res.status_code == 409:
                # This annotator's other thread submitted the same leased task through the other
                # process first: refused, nothing acknowledged, nothing to retry.
                return
            if res is None or res.status_code != 200:
                with lock:
                    pending.append((token, task, cid))
                return
            with lock:
                acked[cid] = res.json()["annotation_id"]

    # Every annotator works through both processes at once.
    threads = [threading.Thread(target=client, args=(t, u)) for t in tokens for u in (url_a, url_b)]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(acked) < 15 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(b.pid, signal.SIGKILL)  # no shutdown handlers
        b.wait(timeout=10)
        for t in threads:
            t.join(timeout=120)
        assert len(acked) >= 15
        retried = {}
        for token, task, cid in pending:  # the clients' outbox, retried on the survivor
            r = httpx.post(
                f"{url_a}/api/v1/tasks/{task}/submit",
                json={"client_id": cid, "regions": [], "lead_time": 0.5},
                headers={"Authorization": f"Bearer {token}"},
            )
            if r.status_code == 409 and "already submitted" in r.text:
                continue  # the same leased task, stored through this annotator's other thread
            assert r.status_code == 200, r.text
            retried[cid] = r.json()["annotation_id"]
    finally:
        _stop(a)
        _stop(b)

    assert_each_stored_once(ws, {**acked, **retried})

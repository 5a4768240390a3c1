"""Crash safety: SIGKILL the real server mid-load, restart it, retry the unacknowledged.

Every acknowledged submission must be stored, and none twice.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from pathlib import Path

import httpx

from assay.labeling import Workflow, create_token
from assay.workspace import Workspace
from labeling_world import assert_each_stored_once, build_world, start_server


def test_sigkill_mid_load_loses_no_acknowledged_submission(ws: Workspace, tmp_path: Path) -> None:
    w = build_world(ws, tmp_path / "data", public=80, cui=0, secret=0, workflow=Workflow())
    tokens = [create_token(ws, name) for name in ("root", "man", "rev", "ana")]
    root = tmp_path / "ws"
    acked: dict[str, str] = {}  # client_id -> annotation_id
    pending: list[tuple[str, int, str]] = []  # (token, task, client_id) not acknowledged
    lock = threading.Lock()
    stop = threading.Event()

    def client(token: str) -> None:
        http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=5)
        while not stop.is_set():
            try:
                r = http.post(f"/api/v1/projects/{w.project}/next")
            except httpx.TransportError:
                return
            if r.status_code != 200:
                return
            task, cid = r.json()["task_id"], str(uuid.uuid4())
            body = {"client_id": cid, "regions": [], "lead_time": 0.5}
            try:
                res = http.post(f"/api/v1/tasks/{task}/submit", json=body)
                res.raise_for_status()
            except (httpx.TransportError, httpx.HTTPStatusError):
                with lock:
                    pending.append((token, task, cid))
                return
            with lock:
                acked[cid] = res.json()["annotation_id"]

    server = start_server(root)
    url = server.url  # the restart below may be on another port: a client follows the server
    threads = [threading.Thread(target=client, args=(t,)) for t in tokens]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(acked) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(server.pid, signal.SIGKILL)  # no shutdown handlers, no flush
    server.wait(timeout=10)
    stop.set()
    for t in threads:
        t.join(timeout=10)
    assert len(acked) >= 20

    server = start_server(root)
    url = server.url  # restarted, maybe on another port
    try:
        retried = {}
        for token, task, cid in pending:  # the client's outbox: retry with the same id
            r = httpx.post(
                f"{url}/api/v1/tasks/{task}/submit",
                json={"client_id": cid, "regions": [], "lead_time": 0.5},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.status_code == 200, r.text
            retried[cid] = r.json()["annotation_id"]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)

    check = Workspace.open(root)
    try:
        assert_each_stored_once(check, {**acked, **retried})
    finally:
        check.close()

"""Labeling server load: submissions/s and latency from concurrent API clients, vs Label Studio.

Usage:
    PYTHONPATH=src .venv/bin/python bench/labeling_load.py [--tasks 100000] [--clients 16]
        [--seconds 15] [--runs 5] [--workers 1] [--label-studio bench/_work/ls-venv]

Ours: a workspace under bench/_work/labeling with a project of --tasks tasks (items are
inserted as rows; the load never reads their bytes), 16 annotators with API tokens, the
server in a uvicorn subprocess on the embedded SQLite store. Each client loops
`POST /projects/P/next` then `POST /tasks/T/submit` with a keep-alive httpx client.
After the timed runs the server is SIGKILLed mid-load and restarted; the check counts
acknowledged submissions present and duplicates.

Label Studio (when --label-studio points at a venv holding label-studio 1.23.2): started
with `label-studio start` on SQLite, one project, clients loop `GET /api/projects/P/next`
then `POST /api/tasks/T/annotations`. Prints one markdown table with medians.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SRC = ROOT / "src"
WORK = HERE / "_work" / "labeling"
sys.path.insert(0, str(SRC))

SCHEMA = """
title: Flood damage
controls:
  - {name: damage, type: choices, labels: [none, minor, destroyed]}
  - {name: label, type: boxes, labels: [building, vehicle]}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


# --- ours ------------------------------------------------------------------------------------


def setup_ours(n_tasks: int, n_clients: int) -> tuple[Path, list[str]]:
    """A fresh workspace with one project of n_tasks tasks and n_clients annotator tokens."""
    import shutil

    from assay.domain.schema import LabelSchema
    from assay.labeling import Workflow, add_user, create_project, create_token
    from assay.store.schema import items
    from assay.timeutil import now_iso
    from assay.workspace import Workspace

    shutil.rmtree(WORK, ignore_errors=True)
    ws = Workspace.init(WORK)
    created = now_iso()
    rows = [
        {
            "id": hashlib.sha256(f"scene-{i}".encode()).hexdigest(),
            "media_type": "image/png",
            "size": 1000,
            "width": 640,
            "height": 480,
            "name": f"scene_{i:06d}.png",
            "source": "bench",
            "metadata": "{}",
            "metadata_hash": hashlib.sha256(b"{}").hexdigest(),
            "marking": "UNCLASSIFIED" if i % 10 else "CUI/FLOOD",
            "parent_id": None,
            "derivation": None,
            "created": created,
        }
        for i in range(n_tasks)
    ]
    cols = {c.name for c in items.columns}
    with ws.db.begin() as conn:
        conn.execute(items.insert(), [{k: v for k, v in r.items() if k in cols} for r in rows])
    ws.create_dataset("flood")
    ws.add_items("flood")
    schema = LabelSchema.from_yaml_text(SCHEMA, "bench schema")
    create_project(ws, "survey", schema, "flood", Workflow(overlap=1, lease_seconds=600))
    os.environ["ASSAY_ARGON2_MEMORY_KIB"] = "1024"  # setup speed only; logins are not timed
    tokens = []
    for i in range(n_clients):
        add_user(ws, f"annotator{i:02d}", "annotator", "CUI/FLOOD", "bench-password")
        tokens.append(create_token(ws, f"annotator{i:02d}"))
    ws.close()
    return WORK, tokens


def start_ours(root: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "ASSAY_WORKSPACE": str(root)}
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "assay.server.app:app_from_env",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc


class Load:
    """Clients looping next + submit; latencies in seconds, acknowledged submissions."""

    def __init__(self) -> None:
        self.next_lat: list[float] = []
        self.submit_lat: list[float] = []
        self.acked: dict[str, str] = {}
        self.unacked: list[tuple[int, str, str, dict[str, Any]]] = []
        self.errors = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()


def ours_client(url: str, token: str, load: Load, index: int) -> None:
    http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    regions = [
        {"kind": "choice", "control": "damage", "label": "minor"},
        {"kind": "box", "control": "label", "label": "building", "box": [10, 20, 30, 40]},
    ]
    while not load.stop.is_set():
        t0 = time.perf_counter()
        try:
            r = http.post("/api/v1/projects/survey/next")
        except httpx.TransportError:
            return
        t1 = time.perf_counter()
        if r.status_code != 200:
            with load.lock:
                load.errors += 1
            return
        task = r.json()["task_id"]
        body = {"client_id": str(uuid.uuid4()), "regions": regions, "lead_time": 2.0}
        try:
            s = http.post(f"/api/v1/tasks/{task}/submit", json=body)
            ok = s.status_code == 200
        except httpx.TransportError:
            ok = False
        t2 = time.perf_counter()
        with load.lock:
            if ok:
                load.next_lat.append(t1 - t0)
                load.submit_lat.append(t2 - t1)
                load.acked[body["client_id"]] = s.json()["annotation_id"]
            else:
                load.unacked.append((index, token, task, body))
        if not ok:
            return


def run_load(
    client: Callable[[str, str, Load, int], None], url: str, tokens: list[str], seconds: float
) -> tuple[Load, float]:
    load = Load()
    threads = [
        threading.Thread(target=client, args=(url, t, load, i), daemon=True)
        for i, t in enumerate(tokens)
    ]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    load.stop.set()
    for t in threads:
        t.join(timeout=60)
    return load, time.perf_counter() - t0


def crash_check(root: Path, tokens: list[str], workers: int) -> dict[str, Any]:
    """SIGKILL mid-load, restart, retry the unacknowledged; count lost and doubled."""
    from sqlalchemy import func, select

    from assay.store.schema import annotations_table, submissions
    from assay.workspace import Workspace

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_ours(root, port, workers)
    load = Load()
    threads = [
        threading.Thread(target=ours_client, args=(url, t, load, i), daemon=True)
        for i, t in enumerate(tokens)
    ]
    for t in threads:
        t.start()
    time.sleep(3)
    os.killpg(proc.pid, signal.SIGKILL) if workers > 1 else proc.kill()
    proc.wait()
    load.stop.set()
    for t in threads:
        t.join(timeout=60)
    proc = start_ours(root, port, workers)
    retried = 0
    for _, token, task, body in load.unacked:
        r = httpx.post(
            f"{url}/api/v1/tasks/{task}/submit",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        if r.status_code == 200:
            load.acked[body["client_id"]] = r.json()["annotation_id"]
            retried += 1
    proc.terminate()
    proc.wait()
    ws = Workspace.open(root)
    with ws.db.read() as conn:
        stored = dict(
            conn.execute(select(annotations_table.c.source_id, annotations_table.c.id)).all()
        )
        doubled = conn.execute(
            select(func.count()).select_from(
                select(submissions.c.client_id)
                .group_by(submissions.c.client_id)
                .having(func.count() > 1)
                .subquery()
            )
        ).scalar_one()
    ws.close()
    missing = sum(1 for cid, a in load.acked.items() if stored.get(f"client:{cid}") != a)
    return {"acked": len(load.acked), "retried": retried, "missing": missing, "doubled": doubled}


# --- Label Studio ----------------------------------------------------------------------------

LS_CONFIG = """<View><Image name="image" value="$image"/>
<Choices name="damage" toName="image"><Choice value="none"/><Choice value="minor"/>
<Choice value="destroyed"/></Choices>
<RectangleLabels name="label" toName="image"><Label value="building"/><Label value="vehicle"/>
</RectangleLabels></View>"""


def start_label_studio(venv: Path, port: int) -> tuple[subprocess.Popen[bytes], str]:
    data = HERE / "_work" / "ls-data"
    import shutil

    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    token = uuid.uuid4().hex
    env = {
        **os.environ,
        "LABEL_STUDIO_BASE_DATA_DIR": str(data),
        "DJANGO_DB": "sqlite",
        "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
        "COLLECT_ANALYTICS": "false",
        # 1.23 accepts the --user-token only as a legacy token, disabled by default.
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
    }
    env.pop("PYTHONPATH", None)
    cmd = [
        str(venv / "bin" / "label-studio"),
        "start",
        "--no-browser",
        "--port",
        str(port),
        "--data-dir",
        str(data),
        "--username",
        "bench@example.org",
        "--password",
        "bench-password",
        "--user-token",
        token,
    ]
    log = open(HERE / "_work" / "ls-server.log", "wb")  # noqa: SIM115 - lives with the process
    proc = subprocess.Popen(
        cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    wait_port(port, timeout=600)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(1)
    return proc, token


def setup_label_studio(url: str, token: str, n_tasks: int) -> int:
    h = {"Authorization": f"Token {token}"}
    r = httpx.post(
        f"{url}/api/projects",
        headers=h,
        timeout=60,
        json={"title": "flood", "label_config": LS_CONFIG},
    )
    r.raise_for_status()
    pid = int(r.json()["id"])
    tasks = [{"image": f"/data/scene_{i:06d}.png"} for i in range(n_tasks)]
    for start in range(0, n_tasks, 5000):
        r = httpx.post(
            f"{url}/api/projects/{pid}/import",
            headers=h,
            timeout=600,
            json=tasks[start : start + 5000],
        )
        r.raise_for_status()
    return pid


def ls_client_factory(pid: int) -> Callable[[str, str, Load, int], None]:
    result = [
        {
            "from_name": "damage",
            "to_name": "image",
            "type": "choices",
            "value": {"choices": ["minor"]},
        },
        {
            "from_name": "label",
            "to_name": "image",
            "type": "rectanglelabels",
            "value": {
                "x": 10,
                "y": 20,
                "width": 30,
                "height": 40,
                "rotation": 0,
                "rectanglelabels": ["building"],
            },
            "original_width": 640,
            "original_height": 480,
        },
    ]

    def client(url: str, token: str, load: Load, index: int) -> None:
        http = httpx.Client(base_url=url, headers={"Authorization": f"Token {token}"}, timeout=60)
        while not load.stop.is_set():
            t0 = time.perf_counter()
            try:
                r = http.get(f"/api/projects/{pid}/next")
            except httpx.TransportError:
                return
            t1 = time.perf_counter()
            if r.status_code != 200:
                with load.lock:
                    load.errors += 1
                return
            task = r.json()["id"]
            s = http.post(
                f"/api/tasks/{task}/annotations", json={"result": result, "lead_time": 2.0}
            )
            t2 = time.perf_counter()
            with load.lock:
                if s.status_code in (200, 201):
                    load.next_lat.append(t1 - t0)
                    load.submit_lat.append(t2 - t1)
                    load.acked[str(uuid.uuid4())] = str(s.json().get("id"))
                else:
                    load.errors += 1

    return client


# --- main ------------------------------------------------------------------------------------


def summarize(load: Load, elapsed: float) -> dict[str, float]:
    n = len(load.submit_lat)
    return {
        "rate": n / elapsed,
        "submit_p50": pct(load.submit_lat, 0.5) * 1000,
        "submit_p99": pct(load.submit_lat, 0.99) * 1000,
        "next_p50": pct(load.next_lat, 0.5) * 1000,
        "next_p99": pct(load.next_lat, 0.99) * 1000,
        "errors": float(load.errors),
    }


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=100_000)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--label-studio", type=Path, default=HERE / "_work" / "ls-venv")
    ap.add_argument("--ls-tasks", type=int, default=5_000)
    ap.add_argument("--ls-runs", type=int, default=3)
    args = ap.parse_args()

    root, tokens = setup_ours(args.tasks, args.clients)
    port = free_port()
    proc = start_ours(root, port, args.workers)
    ours = []
    try:
        for i in range(args.runs):
            load, elapsed = run_load(ours_client, f"http://127.0.0.1:{port}", tokens, args.seconds)
            ours.append(summarize(load, elapsed))
            print(f"ours run {i + 1}: {ours[-1]}", file=sys.stderr)
    finally:
        proc.terminate()
        proc.wait()
    crash = crash_check(root, tokens, args.workers)
    print(f"crash check: {crash}", file=sys.stderr)

    ls: list[dict[str, float]] = []
    ls_note = ""
    ls_bin = args.label_studio / "bin" / "label-studio"
    if ls_bin.exists():
        lport = free_port()
        lproc = None
        try:
            lproc, ltoken = start_label_studio(args.label_studio, lport)
            lurl = f"http://127.0.0.1:{lport}"
            pid = setup_label_studio(lurl, ltoken, args.ls_tasks)
            for i in range(args.ls_runs):
                load, elapsed = run_load(
                    ls_client_factory(pid), lurl, [ltoken] * args.clients, args.seconds
                )
                ls.append(summarize(load, elapsed))
                print(f"label studio run {i + 1}: {ls[-1]}", file=sys.stderr)
        except Exception as exc:  # report, don't hide: the table says why LS is missing
            ls_note = f"Label Studio failed: {type(exc).__name__}: {exc}"
        finally:
            if lproc is not None:
                os.killpg(lproc.pid, signal.SIGTERM)
                lproc.wait()
    else:
        ls_note = f"Label Studio not installed at {args.label_studio}"

    m = median_of(ours)
    print(
        f"\n16 clients = {args.clients} concurrent API clients; medians of {args.runs} runs "
        f"x {args.seconds:.0f} s; ours on {args.tasks:,} tasks, {args.workers} worker(s)\n"
    )
    print("| tool | submissions/s | submit p50 ms | submit p99 ms | next p50 ms | next p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    print(
        f"| assay | {m['rate']:.0f} | {m['submit_p50']:.1f} | {m['submit_p99']:.1f} | "
        f"{m['next_p50']:.1f} | {m['next_p99']:.1f} |"
    )
    if ls:
        lm = median_of(ls)
        print(
            f"| Label Studio 1.23.2 ({args.ls_tasks:,} tasks) | {lm['rate']:.1f} | "
            f"{lm['submit_p50']:.0f} | {lm['submit_p99']:.0f} | {lm['next_p50']:.0f} | "
            f"{lm['next_p99']:.0f} |"
        )
        print(
            f"| ratio assay / LS | {m['rate'] / lm['rate']:.0f}x | "
            f"{lm['submit_p50'] / m['submit_p50']:.0f}x faster | "
            f"{lm['submit_p99'] / m['submit_p99']:.0f}x faster | | |"
        )
    if ls_note:
        print(f"\n{ls_note}")
    print(
        f"\nSIGKILL mid-load + restart: {crash['acked']} acknowledged "
        f"({crash['retried']} after client retry), {crash['missing']} missing, "
        f"{crash['doubled']} stored twice"
    )


if __name__ == "__main__":
    main()

"""Labeling server load: submissions/s, latency and CPU per request from concurrent API clients.

Usage:
    PYTHONPATH=src .venv/bin/python bench/labeling_load.py [--tasks 100000] [--clients 16]
        [--seconds 10] [--runs 5] [--workers 1,2] [--label-studio bench/_work/ls-venv]
        [--ls-runs 3] [--before-src DIR] [--no-crash-check] [--reuse]

Ours: a workspace with a project of --tasks tasks (items are inserted as rows; the load never
reads their bytes), --clients annotators with API tokens, the server as `uvicorn --factory
assay.server.app:app_from_env` (httptools + uvloop) on the embedded SQLite store. Each client
loops `POST /projects/P/next` then `POST /tasks/T/submit` (a choice and a box) on its own
keep-alive connection. The workspace is built once and copied fresh for every run, so each
run starts from the same 100,000 open tasks.

The clients are coroutines in this one process (uvloop, a minimal HTTP/1.1 keep-alive client
over asyncio streams), because the client runs on the same cores as the server and every
millisecond it spends is one the server does not get. Besides wall-clock throughput and
latency the bench reports the CPU time the server process tree (from /proc) and the client
spent per next + submit pair: on a shared, noisy machine that is the stable number.

After the timed runs the server is SIGKILLed mid-load and restarted; unacknowledged
submissions are retried with the same client_id; the check counts acknowledged submissions
missing from the store and client ids stored twice.

Label Studio (when --label-studio points at a venv holding label-studio 1.23.2): started
with `label-studio start` on SQLite, one project, clients loop `GET /api/projects/P/next`
then `POST /api/tasks/T/annotations` with the same client. Prints one markdown table of
medians.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
REGIONS = [
    {"kind": "choice", "control": "damage", "label": "minor"},
    {"kind": "box", "control": "label", "label": "building", "box": [10, 20, 30, 40]},
]
TICK = os.sysconf("SC_CLK_TCK")


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


def tree_cpu(pid: int) -> float:
    """User + system CPU seconds of a process and all its live descendants (from /proc)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / TICK
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += times.get(p, 0.0)
        todo += [c for c, pp in parents.items() if pp == p]
    return total


# --- a lean HTTP/1.1 keep-alive client ---------------------------------------------------------


class Http:
    """One keep-alive connection; `request` returns (status, body)."""

    def __init__(self, port: int, auth: str) -> None:
        self.port = port
        self.auth = auth
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        data = b"" if body is None else json.dumps(body).encode()
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Authorization: {self.auth}\r\nAccept: application/json\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        )
        self.writer.write(head.encode() + data)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        status = int(raw[9:12])
        headers = raw.decode("latin-1").lower()
        if "transfer-encoding: chunked" in headers:
            out = bytearray()
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                out += chunk[:-2]
            payload = bytes(out)
        else:
            at = headers.find("content-length:")
            n = int(headers[at + 15 : headers.index("\r\n", at)]) if at >= 0 else 0
            payload = await self.reader.readexactly(n) if n else b""
        if "connection: close" in headers:
            self.close()
        return status, payload

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


@dataclass
class Load:
    """Latencies in seconds, acknowledged and unacknowledged submissions."""

    next_lat: list[float] = field(default_factory=list)
    submit_lat: list[float] = field(default_factory=list)
    acked: dict[str, str] = field(default_factory=dict)
    unacked: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    errors: int = 0
    stop: bool = False


Client = Callable[[int, str, Load], Awaitable[None]]


async def ours_client(port: int, token: str, load: Load) -> None:
    http = Http(port, f"Bearer {token}")
    try:
        while not load.stop:
            t0 = time.perf_counter()
            status, raw = await http.request("POST", "/api/v1/projects/survey/next")
            t1 = time.perf_counter()
            if status != 200:
                load.errors += 1
                return
            task = json.loads(raw)["task_id"]
            body = {"client_id": str(uuid.uuid4()), "regions": REGIONS, "lead_time": 2.0}
            try:
                status, raw = await http.request("POST", f"/api/v1/tasks/{task}/submit", body)
            except (OSError, asyncio.IncompleteReadError):
                load.unacked.append((token, task, body))
                return
            t2 = time.perf_counter()
            if status != 200:
                load.errors += 1
                load.unacked.append((token, task, body))
                return
            load.next_lat.append(t1 - t0)
            load.submit_lat.append(t2 - t1)
            load.acked[body["client_id"]] = json.loads(raw)["annotation_id"]
    except (OSError, asyncio.IncompleteReadError):
        return
    finally:
        http.close()


def run_load(
    client: Client, port: int, tokens: list[str], seconds: float, server_pid: int | None
) -> tuple[Load, float, float, float]:
    """(load, elapsed s, server CPU s, client CPU s) of `seconds` of load."""

    async def main() -> tuple[Load, float, float, float]:
        load = Load()
        s0 = tree_cpu(server_pid) if server_pid else 0.0
        c0 = time.process_time()
        t0 = time.perf_counter()
        tasks = [asyncio.create_task(client(port, t, load)) for t in tokens]
        await asyncio.sleep(seconds)
        load.stop = True
        await asyncio.wait(tasks, timeout=120)
        elapsed = time.perf_counter() - t0
        client_cpu = time.process_time() - c0
        server_cpu = (tree_cpu(server_pid) - s0) if server_pid else 0.0
        return load, elapsed, server_cpu, client_cpu

    return _run(main())


def _run(coro: Any) -> Any:
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)


# --- ours ------------------------------------------------------------------------------------


def setup_ours(root: Path, n_tasks: int, n_clients: int) -> list[str]:
    """A fresh workspace with one project of n_tasks tasks and n_clients annotator tokens."""
    from assay.domain.schema import LabelSchema
    from assay.labeling import Workflow, add_user, create_project, create_token
    from assay.store.schema import items
    from assay.timeutil import now_iso
    from assay.workspace import Workspace

    shutil.rmtree(root, ignore_errors=True)
    ws = Workspace.init(root)
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
    (root / "tokens.json").write_text(json.dumps(tokens))
    return tokens


def fresh_copy(pristine: Path, run: Path) -> Path:
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(pristine, run)
    return run


def start_ours(root: Path, port: int, workers: int, src: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(src), "ASSAY_WORKSPACE": str(root)}
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
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    wait_port(port)
    if workers > 1:
        time.sleep(3)  # the port opens before every worker has imported the app
    return proc


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    proc.wait()


def crash_check(root: Path, tokens: list[str], workers: int, src: Path) -> dict[str, Any]:
    """SIGKILL mid-load, restart, retry the unacknowledged; count lost and doubled."""
    from sqlalchemy import func, select

    from assay.store.schema import annotations_table, submissions
    from assay.workspace import Workspace

    port = free_port()
    proc = start_ours(root, port, workers, src)

    async def load_then_kill() -> Load:
        load = Load()
        tasks = [asyncio.create_task(ours_client(port, t, load)) for t in tokens]
        await asyncio.sleep(3)
        os.killpg(proc.pid, signal.SIGKILL)  # no shutdown handlers, no flush
        load.stop = True
        await asyncio.wait(tasks, timeout=60)
        return load

    load: Load = _run(load_then_kill())
    proc.wait()
    proc = start_ours(root, port, workers, src)

    async def retry() -> int:
        done = 0
        for token, task, body in load.unacked:
            http = Http(port, f"Bearer {token}")
            status, raw = await http.request("POST", f"/api/v1/tasks/{task}/submit", body)
            http.close()
            if status == 200:
                load.acked[body["client_id"]] = json.loads(raw)["annotation_id"]
                done += 1
        return done

    retried: int = _run(retry())
    stop(proc)
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
        verified = ws.audit_verify().ok
    ws.close()
    missing = sum(1 for cid, a in load.acked.items() if stored.get(f"client:{cid}") != a)
    return {
        "acked": len(load.acked),
        "retried": retried,
        "missing": missing,
        "doubled": doubled,
        "audit_ok": verified,
    }


# --- Label Studio ----------------------------------------------------------------------------

LS_CONFIG = """<View><Image name="image" value="$image"/>
<Choices name="damage" toName="image"><Choice value="none"/><Choice value="minor"/>
<Choice value="destroyed"/></Choices>
<RectangleLabels name="label" toName="image"><Label value="building"/><Label value="vehicle"/>
</RectangleLabels></View>"""
LS_RESULT = [
    {"from_name": "damage", "to_name": "image", "type": "choices", "value": {"choices": ["minor"]}},
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


def start_label_studio(venv: Path, port: int) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    data = HERE / "_work" / "ls-data"
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
    import httpx

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


def ls_client_factory(pid: int) -> Client:
    async def client(port: int, token: str, load: Load) -> None:
        http = Http(port, f"Token {token}")
        try:
            while not load.stop:
                t0 = time.perf_counter()
                status, raw = await http.request("GET", f"/api/projects/{pid}/next")
                t1 = time.perf_counter()
                if status != 200:
                    load.errors += 1
                    return
                task = json.loads(raw)["id"]
                body = {"result": LS_RESULT, "lead_time": 2.0}
                status, raw = await http.request("POST", f"/api/tasks/{task}/annotations", body)
                t2 = time.perf_counter()
                if status in (200, 201):
                    load.next_lat.append(t1 - t0)
                    load.submit_lat.append(t2 - t1)
                    load.acked[str(uuid.uuid4())] = str(json.loads(raw).get("id"))
                else:
                    load.errors += 1
        except (OSError, asyncio.IncompleteReadError):
            load.errors += 1
        finally:
            http.close()

    return client


# --- main ------------------------------------------------------------------------------------


def summarize(load: Load, elapsed: float, server_cpu: float, client_cpu: float) -> dict[str, float]:
    n = len(load.submit_lat)
    return {
        "rate": n / elapsed,
        "submit_p50": pct(load.submit_lat, 0.5) * 1000,
        "submit_p99": pct(load.submit_lat, 0.99) * 1000,
        "next_p50": pct(load.next_lat, 0.5) * 1000,
        "next_p99": pct(load.next_lat, 0.99) * 1000,
        "server_ms_pair": server_cpu * 1000 / max(n, 1),
        "client_ms_pair": client_cpu * 1000 / max(n, 1),
        "pairs": float(n),
        "errors": float(load.errors),
    }


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def run_ours(
    args: argparse.Namespace, tokens: list[str], pristine: Path, workers: int, src: Path
) -> list[dict[str, float]]:
    out = []
    for i in range(args.runs):
        root = fresh_copy(pristine, WORK / "run")
        if src != args.server_src:
            schema_version_of(src, root)
        port = free_port()
        proc = start_ours(root, port, workers, src)
        try:
            run_load(ours_client, port, tokens, 1.0, None)  # warm-up: imports, caches, pages
            load, elapsed, s_cpu, c_cpu = run_load(
                ours_client, port, tokens, args.seconds, proc.pid
            )
        finally:
            stop(proc)
        out.append(summarize(load, elapsed, s_cpu, c_cpu))
        line = json.dumps({k: round(v, 2) for k, v in out[-1].items()})
        print(f"assay {workers} worker(s) {src} run {i + 1}: {line}", file=sys.stderr)
    return out


def schema_version_of(src: Path, root: Path) -> None:
    """Let an older source tree open the workspace: its schema version, columns it ignores,
    and no workflow option it does not know (`self_review`, off in the bench)."""
    import re
    import sqlite3

    text = (src / "assay" / "store" / "schema.py").read_text()
    version = re.search(r"^SCHEMA_VERSION = (\d+)", text, re.M)
    if version is None:
        return
    with sqlite3.connect(root / ".assay" / "assay.db") as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (version.group(1),))
        if "self_review" not in (src / "assay" / "labeling" / "projects.py").read_text():
            drop = (',"self_review":false', "")
            db.execute("UPDATE projects SET workflow = replace(workflow, ?, ?)", drop)


def run_label_studio(args: argparse.Namespace) -> tuple[list[dict[str, float]], str]:
    ls: list[dict[str, float]] = []
    if not (args.label_studio / "bin" / "label-studio").exists():
        return ls, f"Label Studio not installed at {args.label_studio}"
    lport = free_port()
    lproc = None
    try:
        lproc, ltoken = start_label_studio(args.label_studio, lport)
        pid = setup_label_studio(f"http://127.0.0.1:{lport}", ltoken, args.ls_tasks)
        for i in range(args.ls_runs):
            load, elapsed, s_cpu, c_cpu = run_load(
                ls_client_factory(pid), lport, [ltoken] * args.clients, args.seconds, lproc.pid
            )
            ls.append(summarize(load, elapsed, s_cpu, c_cpu))
            print(f"label studio run {i + 1}: {ls[-1]}", file=sys.stderr)
    except Exception as exc:  # report, don't hide: the table says why LS is missing
        return ls, f"Label Studio failed: {type(exc).__name__}: {exc}"
    finally:
        if lproc is not None:
            stop(lproc)
    return ls, ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=100_000)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--workers", default="1,2", help="uvicorn worker counts to measure, e.g. 1,2")
    ap.add_argument("--label-studio", type=Path, default=HERE / "_work" / "ls-venv")
    ap.add_argument("--ls-tasks", type=int, default=5_000)
    ap.add_argument("--ls-runs", type=int, default=3)
    ap.add_argument("--no-label-studio", action="store_true")
    ap.add_argument("--no-crash-check", action="store_true")
    ap.add_argument("--reuse", action="store_true", help="reuse the built workspace if present")
    ap.add_argument("--server-src", type=Path, default=SRC, help="source tree the server runs")
    ap.add_argument(
        "--before-src",
        type=Path,
        help="also measure this source tree (1 worker), e.g. `git archive` of the last commit",
    )
    args = ap.parse_args()

    pristine = WORK / f"pristine-{args.tasks}-{args.clients}"
    if args.reuse and (pristine / "tokens.json").exists():
        tokens = json.loads((pristine / "tokens.json").read_text())
    else:
        tokens = setup_ours(pristine, args.tasks, args.clients)
    configs = [(f"assay, {w} worker(s)", int(w), args.server_src) for w in args.workers.split(",")]
    if args.before_src:
        configs.append(("assay before (1 worker)", 1, args.before_src))
    medians: list[tuple[str, dict[str, float]]] = []
    crashes: list[tuple[int, dict[str, Any]]] = []
    for label, workers, src in configs:
        medians.append((label, median_of(run_ours(args, tokens, pristine, workers, src))))
        if not args.no_crash_check and src == args.server_src:
            crash = crash_check(fresh_copy(pristine, WORK / "run"), tokens, workers, src)
            print(f"crash check, {workers} worker(s): {crash}", file=sys.stderr)
            crashes.append((workers, crash))
    ls, ls_note = ([], "Label Studio not run") if args.no_label_studio else run_label_studio(args)

    print(
        f"\n{args.clients} concurrent API clients, each looping next + submit; medians of "
        f"{args.runs} runs x {args.seconds:.0f} s; assay on {args.tasks:,} tasks\n"
    )
    print(
        "| server | submissions/s | submit p50 ms | submit p99 ms | next p50 ms | next p99 ms "
        "| server CPU ms / pair | client CPU ms / pair |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, m in medians:
        print(
            f"| {label} | {m['rate']:.0f} | {m['submit_p50']:.1f} | {m['submit_p99']:.1f} | "
            f"{m['next_p50']:.1f} | {m['next_p99']:.1f} | {m['server_ms_pair']:.2f} | "
            f"{m['client_ms_pair']:.2f} |"
        )
    if ls:
        lm = median_of(ls)
        print(
            f"| Label Studio 1.23.2 ({args.ls_tasks:,} tasks) | {lm['rate']:.1f} | "
            f"{lm['submit_p50']:.0f} | {lm['submit_p99']:.0f} | {lm['next_p50']:.0f} | "
            f"{lm['next_p99']:.0f} | {lm['server_ms_pair']:.1f} | {lm['client_ms_pair']:.2f} |"
        )
        for label, m in medians:
            print(
                f"| ratio {label} / LS | {m['rate'] / lm['rate']:.0f}x | "
                f"{lm['submit_p50'] / m['submit_p50']:.0f}x faster | "
                f"{lm['submit_p99'] / m['submit_p99']:.0f}x faster | "
                f"{lm['next_p50'] / m['next_p50']:.0f}x faster | "
                f"{lm['next_p99'] / m['next_p99']:.0f}x faster | "
                f"{lm['server_ms_pair'] / m['server_ms_pair']:.0f}x less | |"
            )
    if ls_note:
        print(f"\n{ls_note}")
    for workers, crash in crashes:
        print(
            f"\nSIGKILL mid-load + restart ({workers} worker(s)): {crash['acked']} acknowledged "
            f"({crash['retried']} after client retry), {crash['missing']} missing, "
            f"{crash['doubled']} stored twice, audit chain verifies: {crash['audit_ok']}"
        )


if __name__ == "__main__":
    main()

"""Data manager page latency: filtered task pages of a 100,000-task project, ours vs Label Studio.

Usage:
    PYTHONPATH=src .venv/bin/python bench/manage_tasks.py [--tasks 100000] [--repeat 20]
        [--label-studio /tmp/ls] [--reuse]

Both servers hold the same 100,000 tasks, 30,000 of them with one answer (a choice and a box;
every tenth box a `vehicle`), on SQLite, and are asked over HTTP on loopback, one request at
a time, for a page of 50 tasks under the same filters. We report p50 and p95 per filter over
--repeat requests after one warm-up request, and the ratio Label Studio / ours.

Ours: `uvicorn --factory assay.server.app:app_from_env` (httptools, uvloop) on the embedded
SQLite store, `GET /api/v1/projects/P/tasks?...` with an API token.

Label Studio 1.23.2 as its users deploy it on one machine: `label-studio start --no-browser`
with its default SQLite database (DJANGO_DB=sqlite), COLLECT_ANALYTICS=false, started by
bench/labeling_load.py's `start_label_studio`; tasks and their answers come in through the
import API (tasks JSON with `annotations`), and pages are read from the data manager's API
`GET /api/tasks?project=P&page=N&page_size=50&fields=all&query={filters}` as its data manager
tab does.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

import labeling_load as ll  # noqa: E402 - after the path set-up
from _common import percentile, table, write_result  # noqa: E402

WORK = HERE / "_work" / "manage"
DONE_EVERY = 10  # of every 10 tasks, the first 3 have an answer
DONE_OF = 3


def _answer(i: int) -> list[dict[str, Any]]:
    label = "vehicle" if i % 100 == 0 else "building"
    return [
        {"id": "r1", "kind": "choice", "control": "damage", "label": "minor"},
        {
            "id": "r2",
            "kind": "box",
            "control": "label",
            "label": label,
            "box": [10.0, 20.0, 30.0, 40.0],
        },
    ]


def setup_ours(root: Path, n: int) -> str:
    """The labeling bench's workspace plus 30% answered tasks, written as rows in one go."""
    from sqlalchemy import select

    from assay.domain.canonical import canonical_json
    from assay.labeling import create_token
    from assay.store.schema import annotations_table, assignments, tasks, users

    tokens = ll.setup_ours(root, n, 1)
    from assay.labeling import add_user
    from assay.workspace import Workspace

    ws = Workspace.open(root)
    add_user(ws, "manager", "manager", "CUI/FLOOD", "bench-password")
    token = create_token(ws, "manager")
    with ws.db.begin() as conn:
        uid = conn.execute(select(users.c.id).where(users.c.name == "annotator00")).scalar_one()
        rows = conn.execute(select(tasks.c.id, tasks.c.item_id, tasks.c.project_id)).all()
        anns, assigns, done = [], [], []
        now = time.time()
        for t in rows:
            if t.id % DONE_EVERY >= DONE_OF:
                continue
            aid = hashlib.sha256(f"a{t.id}".encode()).hexdigest()[:32]
            anns.append(
                {
                    "id": aid,
                    "item_id": t.item_id,
                    "project": "survey",
                    "author": "user:annotator00",
                    "kind": "human",
                    "payload": canonical_json(_answer(t.id)),
                    "created": "2026-12-05T00:00:00Z",
                    "lead_time": 5.0,
                    "supersedes": None,
                    "source_id": f"client:{aid}",
                }
            )
            assigns.append(
                {
                    "task_id": t.id,
                    "project_id": t.project_id,
                    "user_id": uid,
                    "state": "submitted",
                    "leased_at": now,
                    "expires": now + 600,
                    "finished_at": now,
                    "annotation_id": aid,
                    "lead_time": 5.0,
                }
            )
            done.append(t.id)
        conn.execute(annotations_table.insert(), anns)
        conn.execute(assignments.insert(), assigns)
        for start in range(0, len(done), 900):
            conn.execute(
                tasks.update()
                .where(tasks.c.id.in_(done[start : start + 900]))
                .values(done=1, active=1, open=0)
            )
    ws.close()
    del tokens
    return token


# name -> (our query string, Label Studio filter items, LS ordering)
QUERIES: dict[str, tuple[str, list[dict[str, Any]], list[str]]] = {
    "first page": ("", [], []),
    "done": (
        "status=done",
        [
            {
                "filter": "filter:tasks:total_annotations",
                "operator": "greater",
                "type": "Number",
                "value": 0,
            }
        ],
        [],
    ),
    "annotator": (
        "annotator=annotator00",
        [
            {
                "filter": "filter:tasks:annotators",
                "operator": "contains",
                "type": "List",
                "value": "ANNOTATOR",
            }
        ],
        [],
    ),
    "label class": (
        "label=vehicle",
        [
            {
                "filter": "filter:tasks:annotations_results",
                "operator": "contains",
                "type": "String",
                "value": "vehicle",
            }
        ],
        [],
    ),
    "not done, newest first": (
        "status=new&sort=-id",
        [
            {
                "filter": "filter:tasks:total_annotations",
                "operator": "equal",
                "type": "Number",
                "value": 0,
            }
        ],
        ["-tasks:id"],
    ),
    "page 1000 (offset 50,000)": ("offset=49950", [], []),
}


SLOW = 10.0  # seconds: a filter this slow gets 3 timed requests, not --repeat
BUDGET = 300.0  # seconds: one request longer than this counts as not answered


def measure(get: Any, repeat: int) -> tuple[list[float], Any]:
    t0 = time.perf_counter()
    first = get()  # warm-up (caches, query plans)
    if time.perf_counter() - t0 > SLOW:
        repeat = min(repeat, 3)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        get()
        times.append(time.perf_counter() - t0)
    return times, first


def bench_ours(root: Path, token: str, repeat: int) -> dict[str, tuple[list[float], int]]:
    import httpx

    port = ll.free_port()
    proc = ll.start_ours(root, port, 1, HERE.parent / "src")
    out = {}
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}/api/v1",
            headers={"Authorization": f"Bearer {token}"},
            timeout=120,
        ) as c:
            for name, (qs, _f, _o) in QUERIES.items():

                def get(qs: str = qs) -> Any:
                    r = c.get(f"/projects/survey/tasks?limit=50&{qs}")
                    r.raise_for_status()
                    return r.json()

                times, first = measure(get, repeat)
                out[name] = (times, int(first["total"]))
    finally:
        ll.stop(proc)
    return out


def setup_label_studio(url: str, token: str, n: int) -> tuple[int, int]:
    import httpx

    h = {"Authorization": f"Token {token}"}
    me = httpx.get(f"{url}/api/current-user/whoami", headers=h, timeout=60).json()
    r = httpx.post(
        f"{url}/api/projects",
        headers=h,
        timeout=60,
        json={"title": "flood", "label_config": ll.LS_CONFIG},
    )
    r.raise_for_status()
    pid = int(r.json()["id"])
    batch: list[dict[str, Any]] = []
    for i in range(1, n + 1):
        task: dict[str, Any] = {"data": {"image": f"/data/scene_{i:06d}.png"}}
        if i % DONE_EVERY < DONE_OF:
            result = json.loads(json.dumps(ll.LS_RESULT))
            if i % 100 == 0:
                result[1]["value"]["rectanglelabels"] = ["vehicle"]
            task["annotations"] = [{"result": result, "completed_by": me["id"]}]
        batch.append(task)
        if len(batch) == 5000:
            httpx.post(
                f"{url}/api/projects/{pid}/import", headers=h, timeout=900, json=batch
            ).raise_for_status()
            batch = []
    if batch:
        httpx.post(
            f"{url}/api/projects/{pid}/import", headers=h, timeout=900, json=batch
        ).raise_for_status()
    return pid, int(me["id"])


def bench_label_studio(venv: Path, n: int, repeat: int) -> dict[str, tuple[list[float], int]]:
    import httpx

    port = ll.free_port()
    proc, token = ll.start_label_studio(venv, port)
    url = f"http://127.0.0.1:{port}"
    out = {}
    try:
        t0 = time.perf_counter()
        pid, uid = setup_label_studio(url, token, n)
        print(f"label studio: {n} tasks imported in {time.perf_counter() - t0:.0f} s", flush=True)
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Token {token}"}, timeout=BUDGET
        ) as c:
            for name, (qs, items, ordering) in QUERIES.items():
                for it in items:
                    if it["value"] == "ANNOTATOR":
                        it["value"] = uid
                query = {"filters": {"conjunction": "and", "items": items}, "ordering": ordering}
                page = 1000 if "offset" in qs else 1

                def get(query: dict[str, Any] = query, page: int = page) -> Any:
                    r = c.get(
                        "/api/tasks",
                        params={
                            "project": pid,
                            "page": page,
                            "page_size": 50,
                            "fields": "all",
                            "query": json.dumps(query),
                        },
                    )
                    r.raise_for_status()
                    return r.json()

                try:
                    times, first = measure(get, repeat)
                except httpx.TimeoutException:
                    print(f"label studio: {name!r} not answered in {BUDGET:.0f} s", flush=True)
                    out[name] = ([float("inf")], -1)
                    continue
                out[name] = (times, int(first.get("total", -1)))
    finally:
        ll.stop(proc)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", type=int, default=100_000, help="tasks in the project")
    ap.add_argument("--repeat", type=int, default=20, help="timed requests per filter")
    ap.add_argument("--label-studio", type=Path, help="a venv holding label-studio 1.23.2")
    ap.add_argument("--reuse", action="store_true", help="reuse the workspace of the last run")
    args = ap.parse_args()
    root = WORK / "ws"
    token_file = WORK / "manager-token"
    if args.reuse and token_file.exists():
        token = token_file.read_text()
    else:
        shutil.rmtree(WORK, ignore_errors=True)
        WORK.mkdir(parents=True)
        t0 = time.perf_counter()
        token = setup_ours(root, args.tasks)
        token_file.write_text(token)
        print(f"ours: {args.tasks} tasks set up in {time.perf_counter() - t0:.0f} s", flush=True)
    ours = bench_ours(root, token, args.repeat)
    theirs = (
        bench_label_studio(args.label_studio, args.tasks, args.repeat) if args.label_studio else {}
    )
    rows = []
    for name in QUERIES:
        t, total = ours[name]
        row = [
            name,
            f"{total:,}",
            f"{1000 * statistics.median(t):.0f}",
            f"{1000 * percentile(t, 0.95):.0f}",
        ]
        if name in theirs:
            lt, ltotal = theirs[name]
            if ltotal < 0:
                row += ["—", f"> {BUDGET * 1000:.0f}", f"> {BUDGET * 1000:.0f}", "—"]
                rows.append(row)
                continue
            row += [
                f"{ltotal:,}",
                f"{1000 * statistics.median(lt):.0f}",
                f"{1000 * percentile(lt, 0.95):.0f}",
                f"{percentile(lt, 0.95) / percentile(t, 0.95):.1f}x",
            ]
        rows.append(row)
    head = ["filter", "matched (ours)", "ours p50 ms", "ours p95 ms"]
    if theirs:
        head += ["matched (LS)", "LS p50 ms", "LS p95 ms", "LS / ours p95"]
    text = (
        f"### Data manager: a filtered page of 50 of {args.tasks:,} tasks "
        f"({args.repeat} requests each)\n\n"
        + table(head, rows)
        + f"\n\nMachine: {os.cpu_count()} cores, shared. Command: `PYTHONPATH=src .venv/bin/python "
        "bench/manage_tasks.py --label-studio /tmp/ls`.\n"
    )
    write_result("manage_tasks", text)


if __name__ == "__main__":
    main()

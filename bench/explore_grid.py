"""Explorer page latency: filtered grid pages of a 1,000,000-item commit.

Usage:
    PYTHONPATH=src .venv/bin/python bench/explore_grid.py [--items 1000000] [--repeat 20] [--reuse]

The workspace is foundation_versioning.py's (1 to 5 boxes of four classes per item, built
with bulk SQL) committed once. The server (`uvicorn --factory assay.server.app:app_from_env`)
is asked over HTTP on loopback, one request at a time, for a page of 100 items under each
filter: `GET /api/v1/explore/aerial?rev=HEAD&...`. The first request of a commit builds its
index (once, kept as a blob; its time is reported apart); every later page is answered from
the index with Arrow/numpy filters. We report p50 and p95 over --repeat requests per filter,
and, as the baseline a reader without an index has, one full read of the manifest's labels
column with a Python loop deciding the same class filter.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

import foundation_versioning as fv  # noqa: E402 - after the path set-up
import labeling_load as ll  # noqa: E402
from _common import percentile, table, write_result  # noqa: E402

WORK = HERE / "_work" / "explore"

FILTERS = {
    "no filter": "",
    "class vehicle": "label=vehicle",
    "region area >= 540 px²": "min_area=540",
    "class + area + metadata": "label=person&min_area=500&field=sensor&value=sat-2",
    "class vehicle, page at offset 200,000": "label=vehicle&offset=200000",
    "marking UNCLASSIFIED, annotator": "marking=UNCLASSIFIED&annotator=bench",
}


def setup(root: Path, n: int) -> str:
    from assay import Workspace
    from assay.labeling import add_user, create_token

    fv.setup(n, root)
    ws = Workspace.open(root)
    t0 = time.perf_counter()
    ws.commit("aerial", "all chips")
    print(f"commit of {n:,} items: {time.perf_counter() - t0:.1f} s", flush=True)
    os.environ["ASSAY_ARGON2_MEMORY_KIB"] = "1024"
    add_user(ws, "analyst", "reviewer", "UNCLASSIFIED", "bench-password")
    token = create_token(ws, "analyst")
    ws.close()
    return token


def python_loop_baseline(root: Path) -> float:
    """Read the manifest's labels and decide `label=vehicle` row by row in Python."""
    from assay import Workspace
    from assay.versioning import revision_rows

    ws = Workspace.open(root)
    t0 = time.perf_counter()
    with ws.db.read() as conn:
        rows = revision_rows(conn, ws.blobs, ws.resolve("aerial@HEAD"), ["item_id", "labels"])
    hits = [
        i
        for i, lab in zip(rows["item_id"].to_pylist(), rows["labels"].to_pylist(), strict=True)
        if any(r.get("label") == "vehicle" for r in json.loads(lab))
    ]
    elapsed = time.perf_counter() - t0
    ws.close()
    assert hits
    return elapsed


def main() -> None:
    import httpx

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=1_000_000, help="items in the commit")
    ap.add_argument("--repeat", type=int, default=20, help="timed requests per filter")
    ap.add_argument("--reuse", action="store_true", help="reuse the workspace of the last run")
    args = ap.parse_args()
    root = WORK / "ws"
    token_file = WORK / "token"
    if not (args.reuse and token_file.exists()):
        WORK.mkdir(parents=True, exist_ok=True)
        token_file.write_text(setup(root, args.items))
    token = token_file.read_text()
    port = ll.free_port()
    proc = ll.start_ours(root, port, 1, HERE.parent / "src")
    results: dict[str, tuple[list[float], int]] = {}
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}/api/v1",
            headers={"Authorization": f"Bearer {token}"},
            timeout=900,
        ) as c:

            def get(qs: str) -> Any:
                r = c.get(f"/explore/aerial?rev=HEAD&limit=100&{qs}")
                r.raise_for_status()
                return r.json()

            t0 = time.perf_counter()
            get("")
            first = time.perf_counter() - t0
            for name, qs in FILTERS.items():
                total = get(qs)["total"]
                times = []
                for _ in range(args.repeat):
                    t1 = time.perf_counter()
                    get(qs)
                    times.append(time.perf_counter() - t1)
                results[name] = (times, int(total))
    finally:
        ll.stop(proc)
    loop = python_loop_baseline(root)
    rows = [
        [
            name,
            f"{total:,}",
            f"{1000 * statistics.median(t):.0f}",
            f"{1000 * percentile(t, 0.95):.0f}",
        ]
        for name, (t, total) in results.items()
    ]
    text = (
        f"### Explorer: a filtered page of 100 of {args.items:,} items "
        f"({args.repeat} requests each)\n\n"
        + table(["filter", "matched", "p50 ms", "p95 ms"], rows)
        + f"\n\nFirst request of the commit (builds its index once and stores it as a blob): "
        f"{first:.1f} s. Without an index, reading the manifest's labels and deciding the class "
        f"filter in a Python loop takes {loop:.1f} s per page. Command: `PYTHONPATH=src "
        ".venv/bin/python bench/explore_grid.py`.\n"
    )
    write_result("explore_grid", text)


if __name__ == "__main__":
    main()

"""Pre-labeling on a Dask cluster: the same 10,000-image project pre-labelled by a local
cluster of one worker and of two workers (one thread each), side by side in one run.

Both clusters are real `distributed.LocalCluster`s on loopback, started before timing and
kept up, and the runs alternate (1, 2, 1, 2, ...) so load from elsewhere on the machine falls
on both. Blobs live on SeaweedFS S3 (the server the tests start): the workers read the
images and the ONNX model from the blob store, as on a real cluster. Every run re-labels
all tasks (`redo`), so each does the same work. Prints medians and the 1-worker / 2-worker
ratio, and beside each run's wall seconds the CPU seconds of its parts: the client's own
thread (its serial part: selecting tasks, collecting results, writing annotations), the
whole client process (with the scheduler and the Dask comms that share it), the workers and
the S3 server; and the load average.

With `--pin`, worker k of each cluster runs on core k only (every thread of its process):
a worker then has one core, as a cluster sized one thread a core gives it, where unpinned the
single worker's decoder threads also use the second core of this 2-core machine, which the
second worker needs. The client, the schedulers and the S3 server are never pinned.

    .venv/bin/python bench/cluster_prelabel.py [--items 10000] [--repeats 3] [--pin]
        [--profile FILE]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _common import WORK, median, table, write_result
from assay.labeling.prelabel import prelabel
from assay.workspace import Workspace
from prelabel_throughput import build_workspace
from seaweed import seaweed_server


@dataclass
class Run:
    wall: float
    client: float  # CPU s of the calling thread: the client's serial part
    process: float  # CPU s of the client process (client, scheduler, comms)
    workers: float  # CPU s of the worker processes
    s3: float  # CPU s of the SeaweedFS server


def _cpu(procs: list[Any]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except Exception:  # gone (psutil.NoSuchProcess)
            pass
    return total


def _measured(fn: Any, workers: list[Any], s3: list[Any]) -> Run:
    before = (time.perf_counter(), time.thread_time(), time.process_time())
    wb, sb = _cpu(workers), _cpu(s3)
    fn()
    return Run(
        time.perf_counter() - before[0],
        time.thread_time() - before[1],
        time.process_time() - before[2],
        _cpu(workers) - wb,
        _cpu(s3) - sb,
    )


def _worker_procs(lc: Any) -> list[Any]:
    import psutil
    from distributed import Client

    with Client(lc.scheduler_address) as c:
        pids = c.run(os.getpid)
    return [psutil.Process(pid) for pid in pids.values()]


def _pin(procs: list[Any]) -> None:
    """Worker k (every thread of its process, and so the threads it starts) on core k."""
    cores = sorted(os.sched_getaffinity(0))
    for k, p in enumerate(procs):
        for tid in os.listdir(f"/proc/{p.pid}/task"):
            os.sched_setaffinity(int(tid), {cores[k % len(cores)]})


def _weed_procs() -> list[Any]:
    import psutil

    me = psutil.Process()
    return [p for p in me.children(recursive=True) if p.name() == "weed"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--items", type=int, default=10_000, help="Tasks in the project.")
    ap.add_argument("--repeats", type=int, default=3, help="Runs per side (median reported).")
    ap.add_argument("--pin", action="store_true", help="One core per worker (see above).")
    ap.add_argument(
        "--profile",
        type=Path,
        help="After the timed rounds, profile one more 2-worker run's client thread with "
        "pyinstrument and write its text report here.",
    )
    args = ap.parse_args()
    from distributed import Client, LocalCluster

    base = WORK / "cluster_prelabel"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    with seaweed_server(base / "seaweed") as server:
        os.environ.update(server.env)
        os.environ["ASSAY_BLOB_URL"] = server.url()
        os.environ["ASSAY_BLOB_CACHE"] = str(base / "blob-cache")
        t0 = time.perf_counter()
        ws = Workspace.open(build_workspace(base / "data", args.items))
        print(f"set-up: {args.items} images ingested to S3 in {time.perf_counter() - t0:.1f} s")
        s3 = _weed_procs()
        clusters = {}
        procs = {}
        for n in (1, 2):
            t0 = time.perf_counter()
            lc = LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            )
            with Client(lc.scheduler_address) as c:
                c.wait_for_workers(n)
            clusters[n] = lc
            procs[n] = _worker_procs(lc)
            if args.pin:
                _pin(procs[n])
            print(f"{n}-worker cluster up in {time.perf_counter() - t0:.1f} s")
        runs: dict[int, list[Run]] = {1: [], 2: []}
        loads = [os.getloadavg()]

        def once(address: str) -> None:
            r = prelabel(ws, "survey", "clf", redo=True, cluster=address)
            assert r.labelled == args.items, r

        try:
            for rep in range(args.repeats + 1):  # round 0 loads the model on each worker
                for n, lc in clusters.items():
                    run = _measured(lambda a=lc.scheduler_address: once(a), procs[n], s3)
                    print(
                        f"round {rep}, {n} worker(s): {run.wall:.2f} s wall; CPU s: client "
                        f"thread {run.client:.2f}, client process {run.process:.2f}, workers "
                        f"{run.workers:.2f}, S3 {run.s3:.2f}; load {os.getloadavg()[0]:.2f}"
                    )
                    if rep:
                        runs[n].append(run)
            loads.append(os.getloadavg())
            if args.profile:
                from pyinstrument import Profiler  # not a dependency: pip install pyinstrument

                profiler = Profiler(interval=0.001)
                with profiler:
                    once(clusters[2].scheduler_address)
                args.profile.write_text(profiler.output_text(show_all=False, color=False))
                print(f"profile of a 2-worker run's client thread: {args.profile}")
        finally:
            for lc in clusters.values():
                lc.close()
            ws.close()

    def med(n: int, key: str) -> float:
        return median([getattr(r, key) for r in runs[n]])

    one, two = med(1, "wall"), med(2, "wall")
    rows = [
        [
            f"{n} worker{'s' if n > 1 else ''}",
            f"{med(n, 'wall'):.2f}",
            f"{args.items / med(n, 'wall'):.0f}",
            f"{med(n, 'client'):.2f}",
            f"{med(n, 'process'):.2f}",
            f"{med(n, 'workers'):.2f}",
            f"{med(n, 's3'):.2f}",
        ]
        for n in (1, 2)
    ]
    headers = ["cluster", "wall s", "images/s", "client thread CPU s", "client process CPU s"]
    headers += ["workers CPU s", "S3 CPU s"]
    pin = " --pin" if args.pin else ""
    text = (
        f"### Pre-labeling on a local Dask cluster, {args.items} 64x64 images, "
        f"median of {args.repeats}{', one core per worker' if args.pin else ''}\n\n"
        + table(headers, rows)
        + f"\n\nspeed-up of 2 workers over 1: **{one / two:.2f}x** (cores here: "
        f"{os.cpu_count()}; load average {loads[0][0]:.2f} at the start, "
        f"{loads[-1][0]:.2f} at the end)\n\nReproduce: `.venv/bin/python "
        f"bench/cluster_prelabel.py --items {args.items} --repeats {args.repeats}{pin}`\n"
    )
    write_result("cluster_prelabel", text)


if __name__ == "__main__":
    main()

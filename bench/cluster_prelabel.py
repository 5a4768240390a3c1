"""Pre-labeling on a Dask cluster: the same 10,000-image project pre-labelled by a local
cluster of one worker and of two workers (one thread each), side by side in one run.

Both clusters are real `distributed.LocalCluster`s on loopback, started before timing and
kept up, and the runs alternate (1, 2, 1, 2, ...) so load from elsewhere on the machine falls
on both. Blobs live on SeaweedFS S3 (the server the tests start): the workers read the
images and the ONNX model from the blob store, as on a real cluster. Every run re-labels
all tasks (`redo`), so each does the same work. Prints medians and the 1-worker / 2-worker
ratio.

    .venv/bin/python bench/cluster_prelabel.py [--items 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _common import WORK, median, table, write_result
from assay.labeling.prelabel import prelabel
from assay.workspace import Workspace
from prelabel_throughput import build_workspace
from seaweed import seaweed_server


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--items", type=int, default=10_000, help="Tasks in the project.")
    ap.add_argument("--repeats", type=int, default=3, help="Runs per side (median reported).")
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
        clusters = {}
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
            print(f"{n}-worker cluster up in {time.perf_counter() - t0:.1f} s")
        times: dict[int, list[float]] = {1: [], 2: []}
        try:
            for rep in range(args.repeats + 1):  # round 0 loads the model on each worker
                for n, lc in clusters.items():
                    t0 = time.perf_counter()
                    r = prelabel(ws, "survey", "clf", redo=True, cluster=lc.scheduler_address)
                    elapsed = time.perf_counter() - t0
                    assert r.labelled == args.items, r
                    print(f"round {rep}, {n} worker(s): {elapsed:.2f} s")
                    if rep:
                        times[n].append(elapsed)
        finally:
            for lc in clusters.values():
                lc.close()
            ws.close()
    one, two = median(times[1]), median(times[2])
    rows = [
        [f"{n} worker{'s' if n > 1 else ''}", f"{m:.2f}", f"{args.items / m:.0f}"]
        for n, m in ((1, one), (2, two))
    ]
    text = (
        f"### Pre-labeling on a local Dask cluster, {args.items} 64x64 images, "
        f"median of {args.repeats}\n\n"
        + table(["cluster", "seconds", "images/s"], rows)
        + f"\n\nspeed-up of 2 workers over 1: **{one / two:.2f}x** (cores here: "
        f"{os.cpu_count()})\n\nReproduce: `.venv/bin/python bench/cluster_prelabel.py "
        f"--items {args.items} --repeats {args.repeats}`\n"
    )
    write_result("cluster_prelabel", text)


if __name__ == "__main__":
    main()

"""CPU cost of `assay fuse --follow` a scan: the tracker's step and the version's save.

The world of bench/feed_latency.py (TARGETS vehicles, two sensors, a scan of 0.05 s) goes
scan by scan through `assay.fusion.live.LiveFusion` in this process, and the CPU time
(`time.process_time`, so other jobs on the machine do not count) of each scan's tracker step
and of saving a picture version is summed. Four paths, each in a process of its own:

- assay: the live path, Stone Soup's GNN tracker in numpy (`assay.fusion.kalman`), entities
  kept track by track with their JSON texts (`assay.fusion.live_picture`);
- stonesoup: the same with Stone Soup's own tracker (gated, F and Q written out);
- before: Stone Soup's tracker and every entity rebuilt from its track's whole history and
  dumped for each version (`to_entities`, as the live path did before);
- plain: that with Stone Soup as `assay fuse` first used it (its `DistanceHypothesiser`
  hypothesising every detection for every track, `CombinedLinearGaussianTransitionModel`
  building F and Q through SciPy's `block_diag`).

All give the same tracks (checked: the same entity positions). The first 10 scans (the
libraries' imports) are not counted.

Run: .venv/bin/python bench/fuse_follow_cost.py [--targets 25] [--scans 60] [--runs 3]
Writes bench/results/fuse_follow_cost.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from _common import median, table, write_result  # noqa: E402
from feed_latency import WARM_FRAMES as WARM  # noqa: E402
from feed_latency import World  # noqa: E402


def run(variant: str, targets: int, scans: int, out: Any) -> None:
    from assay.fusion import pictures, tracker
    from assay.fusion.fuse import to_entities
    from assay.fusion.live import LiveFusion, LiveSource, ground_detection
    from assay.fusion.live_picture import LivePicture
    from assay.fusion.tracker import Fuser, Params
    from assay.workspace import Workspace

    if variant == "plain":  # Stone Soup as assay used it first

        def plain_cv(accel: float) -> Any:
            from stonesoup.models.transition.linear import (
                CombinedLinearGaussianTransitionModel,
                ConstantVelocity,
            )

            return CombinedLinearGaussianTransitionModel(
                [ConstantVelocity(accel), ConstantVelocity(accel)]
            )

        tracker.gated = lambda h, accel: h  # type: ignore[assignment]
        tracker.constant_velocity = plain_cv  # type: ignore[assignment]
    ws = Workspace.init(Path(tempfile.mkdtemp()) / "ws")
    world = World(targets, 20.0, 1_780_000_000.0)
    rng = random.Random(1)
    live = LiveFusion(ws, "flood", Params(scan_s=0.05), ["detections:-"])
    if variant != "assay":  # Stone Soup's tracker (gated, F and Q written out, or plain)
        live.fuser = Fuser(live.params, engine="stonesoup")
        live.picture = LivePicture(live.fuser)
    if variant in ("before", "plain"):  # no books kept: entities are rebuilt at each save
        live.picture.absorb = lambda: None  # type: ignore[method-assign]
    src = LiveSource("detections", "-")
    step = save = 0.0
    for n in range(scans):
        rows = [json.loads(line) for line in world.frame(n, rng)]
        live.add([ground_detection(ws, src, r, "bench", f"{n}:{i}") for i, r in enumerate(rows)])
        if n == WARM:  # the first scans import the tracker's libraries: not counted
            step = save = 0.0
        t = time.process_time()
        live.step(1.0)
        step += time.process_time() - t
        t = time.process_time()
        if variant in ("before", "plain"):  # every entity built from its whole track, dumped
            found, _ = to_entities(ws, live.fuser, live.mentions, live.params, live.end)
            pic = pictures.save(ws, "flood", found, message="live")
        else:
            pic = live.save()
        save += time.process_time() - t
    assert pic is not None
    found = [(e.lon, e.lat) for e in pictures.entities(ws, pic)]
    ws.close()
    out.send((step / (scans - WARM) * 1000, save / (scans - WARM) * 1000, found))


def one(variant: str, targets: int, scans: int) -> tuple[float, float, list[Any]]:
    ours, theirs = mp.Pipe()
    proc = mp.get_context("spawn").Process(target=run, args=(variant, targets, scans, theirs))
    proc.start()
    got = ours.recv()
    proc.join()
    return got  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--targets", type=int, default=25)
    ap.add_argument("--scans", type=int, default=60)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    variants = {
        "assay": "numpy tracker, entities kept track by track",
        "stonesoup": "Stone Soup tracker (gated), entities kept",
        "before": "Stone Soup tracker (gated), entities rebuilt each version",
        "plain": "Stone Soup as first used, entities rebuilt",
    }
    res: dict[str, list[tuple[float, float]]] = {v: [] for v in variants}
    places: dict[str, list[Any]] = {}
    for _ in range(args.runs):
        for v in variants:
            step, save, found = one(v, args.targets, args.scans)
            res[v].append((step, save))
            places[v] = found
            print(v, round(step, 1), round(save, 1), flush=True)
    same = all(
        abs(a[0] - b[0]) < 1e-9 and abs(a[1] - b[1]) < 1e-9
        for v in variants
        for a, b in zip(sorted(places["assay"]), sorted(places[v]), strict=True)
    )
    rows = []
    total = {}
    for v, label in variants.items():
        st = median([r[0] for r in res[v]])
        sv = median([r[1] for r in res[v]])
        total[v] = st + sv
        rows.append([label, f"{st:.1f}", f"{sv:.1f}", f"{st + sv:.1f}"])
    load = os.getloadavg()[0]
    text = (
        f"### `assay fuse --follow`: CPU a scan, {args.targets} targets x 2 sensors, "
        f"{args.scans} scans of 0.05 s, {args.runs} runs (ms, medians; load average "
        f"{load:.1f})\n\n"
        + table(["path", "step", "save a version", "total"], rows)
        + f"\n\nTotal, entities rebuilt with Stone Soup / assay: "
        f"{total['before'] / total['assay']:.1f}x; same entity positions: {same}.\n"
    )
    write_result("fuse_follow_cost", text)


if __name__ == "__main__":
    main()

"""Fusion accuracy on simulated scenarios: per-scan multi-sensor fusion vs the plain tracker.

For each seed, `assay simulate scenario` writes a world (3 vehicles, 3 people, two drones,
20 s, 0.5 s scans, 10 % misses, clutter, about 5 m georegistration bias a drone); the two
drones' videos are ingested once (the flights do not depend on the seed) and the seed's
detections fused two ways with the same Stone Soup tracker (constant-velocity Kalman filter,
GNN, 3-point initiation, 3 s deletion):
- fused: the detections of one scan clustered across the two drones first (`assay fuse`);
- unfused: every raw detection fed to the tracker as its own measurement (the peer: what a
  plain tracker does with two sensors).
Scores against the truth: GOSPA a target (p=1, c=20 m, alpha=2; 10 = nothing found), OSPA
(p=1, c=20 m), MOTA and IDF1 (py-motmetrics, match within 10 m), tracks reported / targets.
Also the time of one fusion (observations read, tracked, entities saved).

Associators: the fused scans are also tracked with Stone Soup's JPDA (PDA hypothesiser and
updater, `--associator jpda`) beside the default GNN, on the same observations; the table gives
both, and the time each tracker takes over the run's scans (medians over the seeds).

Run: .venv/bin/python bench/fusion.py [--seeds 7 21 42 99 123] [--clutter 0.3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from dataclasses import replace

from _common import ROOT, WORK, table, timed, write_result

sys.path.insert(0, str(ROOT / "src"))

from assay.fusion.fuse import FuseResult, fuse, run_tracker
from assay.fusion.metrics import Scores, read_truth, score
from assay.fusion.scenario import Scenario, simulate
from assay.fusion.tracker import Params
from assay.ingest.sensors.options import SensorOptions, VideoOptions
from assay.workspace import Workspace

KEYS = ("gospa_per_target", "ospa", "mota", "idf1", "tracks")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[7, 21, 42, 99, 123])
    ap.add_argument("--clutter", type=float, default=0.3)
    ap.add_argument("--p-detect", type=float, default=0.9)
    args = ap.parse_args()
    work = WORK / "fusion"
    shutil.rmtree(work, ignore_errors=True)
    simulate(Scenario(seed=args.seeds[0]), work / "media")
    ws = Workspace.init(work / "ws")
    opts = SensorOptions(video=VideoOptions(every=0.5))
    ws.ingest([work / "media" / "flight-a.ts", work / "media" / "flight-b.ts"], sensors=opts)
    rows, fused_all, raw_all, jpda_all, seconds = [], [], [], [], []
    track_s: dict[str, list[float]] = {"gnn": [], "jpda": []}
    for seed in args.seeds:
        sc = work / f"seed{seed}"
        cfg = Scenario(seed=seed, clutter=args.clutter, p_detect=args.p_detect, media=False)
        done = simulate(cfg, sc)
        srcs = [f"predictions:{sc}/detections.jsonl", f"reports:{sc}/reports.jsonl"]
        holder: list[FuseResult] = []
        seconds.append(timed(lambda: holder.append(fuse(ws, f"seed{seed}", srcs))))  # noqa: B023
        result = holder[0]
        truth = read_truth(sc / "truth.csv")
        f = score(result.fuser, truth)
        r = score(run_tracker(result.observations, replace(Params(), fuse_scans=False)), truth)
        trackers = {}
        for assoc in ("gnn", "jpda"):
            start = time.perf_counter()
            trackers[assoc] = run_tracker(result.observations, replace(Params(), associator=assoc))
            track_s[assoc].append(time.perf_counter() - start)
        j = score(trackers["jpda"], truth)
        fused_all.append(f)
        raw_all.append(r)
        jpda_all.append(j)
        for name, s in (("fused GNN", f), ("fused JPDA", j), ("unfused GNN", r)):
            rows.append([str(seed), name, *_cells(s), str(done.counts["detections"])])
    rows.append(["median", "fused GNN", *_medians(fused_all), ""])
    rows.append(["median", "fused JPDA", *_medians(jpda_all), ""])
    rows.append(["median", "unfused GNN", *_medians(raw_all), ""])
    headers = [
        "seed",
        "tracker",
        "GOSPA/target m",
        "OSPA m",
        "MOTA",
        "IDF1",
        "tracks/targets",
        "detections",
    ]
    gnn_s, jpda_s = statistics.median(track_s["gnn"]), statistics.median(track_s["jpda"])
    text = (
        f"### Fusion accuracy, {len(args.seeds)} seeds (clutter {args.clutter}/frame, "
        f"p_detect {args.p_detect})\n\n{table(headers, rows)}\n\n"
        f"One `fuse` (read, track, save): median {statistics.median(seconds):.2f} s "
        f"(runs {', '.join(f'{s:.2f}' for s in seconds)}).\n"
        f"Tracking the fused scans alone: GNN median {gnn_s:.3f} s, JPDA median {jpda_s:.3f} s "
        f"(JPDA/GNN {jpda_s / gnn_s:.2f}x).\n"
    )
    write_result("fusion", text)


def _cells(s: Scores) -> list[str]:
    return [
        f"{s.gospa_per_target:.2f}",
        f"{s.ospa:.2f}",
        f"{s.mota:.3f}",
        f"{s.idf1:.3f}",
        f"{s.tracks}/{s.targets}",
    ]


def _medians(all_scores: list[Scores]) -> list[str]:
    def med(key: str) -> float:
        return statistics.median(float(getattr(s, key)) for s in all_scores)

    return [
        f"{med('gospa_per_target'):.2f}",
        f"{med('ospa'):.2f}",
        f"{med('mota'):.3f}",
        f"{med('idf1'):.3f}",
        f"{med('tracks'):g}/{all_scores[0].targets}",
    ]


if __name__ == "__main__":
    main()

"""Ingesting a scene a second time: `assay ingest SCENE` finding it by its file's sha256 (one
duplicate, no conversion) vs the same command made to read it again (``--marking``, which
converts and chips it as every re-ingest did before), on the chipping bench's scene.

Run: PYTHONPATH=src .venv/bin/python bench/sensors_reingest.py [--size 8000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from _common import WORK, median, table, write_result
from sensors_chips import Timed, make_scene, timed_row, timed_rss

BIN = Path(sys.executable).parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=8_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    WORK.mkdir(exist_ok=True)
    scene = WORK / f"scene-{args.size}.tif"
    make_scene(scene, args.size)
    ws = WORK / "reingest-ws"
    shutil.rmtree(ws, ignore_errors=True)
    ws.mkdir()
    assay = [str(BIN / "python"), "-m", "assay"]
    timed_rss([*assay, "init", "."], ws)
    first = timed_rss([*assay, "ingest", str(scene)], ws)
    print("first ingest", first, flush=True)
    found: list[Timed] = []
    again: list[Timed] = []
    print(f"load average at start: {os.getloadavg()[0]:.1f}", flush=True)
    for k in range(args.runs):
        for who in [0, 1] if k % 2 == 0 else [1, 0]:
            extra = [] if who == 0 else ["--marking", "UNCLASSIFIED"]
            (found if who == 0 else again).append(
                timed_rss([*assay, "ingest", str(scene), *extra], ws)
            )
            print("found" if who == 0 else "read again", (found, again)[who][-1], flush=True)

    rows = [
        timed_row("re-ingest, found by its sha256 (1 duplicate)", found, peak=False),
        timed_row("re-ingest read again (--marking: conversion + chips)", again, peak=False),
    ]
    wall = median([r.wall for r in again]) / median([r.wall for r in found])
    cpu = median([r.cpu for r in again]) / median([r.cpu for r in found])
    headers = ["command", "median s", "runs s", "median CPU s", "load after"]
    text = (
        f"{args.size} x {args.size} x 3 scene, second ingest; first ingest {first.wall:.1f} s "
        f"({first.cpu:.1f} s CPU)\n\n{table(headers, rows)}\n\n"
        f"read again / found: {wall:.1f}x wall, {cpu:.1f}x CPU\n"
    )
    write_result(f"sensors_reingest_{args.size}", text)
    print(json.dumps({"wall_ratio": round(wall, 2), "cpu_ratio": round(cpu, 2)}))


if __name__ == "__main__":
    main()

"""Chipping a 20,000 x 20,000 x 3 scene into 512 px chips (overlap 64): `assay ingest SCENE`
(whole command: COG conversion, chips as PNG items, footprints) vs a plain rasterio
windowed-read loop writing the same PNG chips, with each one's peak memory (max RSS).

Run: PYTHONPATH=src .venv/bin/python bench/sensors_chips.py [--size 20000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

from _common import ROOT, WORK, median, table, write_result

BIN = Path(sys.executable).parent

PEER = r"""
import sys, numpy as np, rasterio
from pathlib import Path
from PIL import Image
from rasterio.windows import Window
src_path, out, size, overlap = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
out.mkdir(parents=True, exist_ok=True)
step = size - overlap
with rasterio.open(src_path) as src:
    def starts(n):
        s = list(range(0, n - size, step)) if n > size else []
        return s + [max(0, n - size)]
    for row in starts(src.height):
        for col in starts(src.width):
            data = src.read(window=Window(col, row, size, size))
            if not data.any():
                continue
            Image.fromarray(np.moveaxis(data, 0, -1)).save(out / f"{col}_{row}.png")
"""


def make_scene(path: Path, size: int) -> None:
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    if path.exists():
        return
    profile = {
        "driver": "GTiff", "width": size, "height": size, "count": 3, "dtype": "uint8",
        "crs": "EPSG:32615", "transform": from_origin(270_000, 3_300_000, 0.3, 0.3),
        "tiled": True, "blockxsize": 512, "blockysize": 512, "compress": "deflate",
    }  # fmt: skip
    rng = np.random.default_rng(0)
    tmp = path.with_suffix(".part")
    with rasterio.open(tmp, "w", **profile) as dst:
        for row in range(0, size, 2048):
            h = min(2048, size - row)
            yy, xx = np.mgrid[row : row + h, 0:size]
            base = ((np.sin(xx / 97.0) + np.cos(yy / 61.0)) * 60 + 120).astype(np.uint8)
            noise = rng.integers(0, 24, (3, h, size), dtype=np.uint8)
            dst.write(base[None] + noise, window=Window(0, row, size, h))
    tmp.rename(path)


class Timed(NamedTuple):
    wall: float
    cpu: float  # user + system seconds of the command and its children
    rss_mb: float  # peak RSS of the largest single process
    load: float  # 1-minute load average when it ended


def timed_rss(cmd: list[str], cwd: Path | None = None) -> Timed:
    """Wall and CPU seconds and peak RSS of one command, from `/usr/bin/time` where present
    (else from this process's children, whose ru_maxrss is the largest child so far)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    gnu_time = Path("/usr/bin/time").exists()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    full = ["/usr/bin/time", "-f", "%M", *cmd] if gnu_time else cmd
    proc = subprocess.run(full, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"{cmd} failed:\n{proc.stderr[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    peak_kb = int(proc.stderr.strip().splitlines()[-1]) if gnu_time else max(after.ru_maxrss, 0)
    return Timed(elapsed, cpu, peak_kb / 1024, os.getloadavg()[0])


def timed_row(name: str, runs: list[Timed], peak: bool = True) -> list[str]:
    """A table row of timed runs: median and runs (wall s), median CPU s, [peak RSS MB,] load."""
    row = [
        name,
        f"{median([r.wall for r in runs]):.1f}",
        ", ".join(f"{r.wall:.1f}" for r in runs),
        f"{median([r.cpu for r in runs]):.1f}",
    ]
    if peak:
        row.append(f"{max(r.rss_mb for r in runs):.0f}")
    return [*row, ", ".join(f"{r.load:.1f}" for r in runs)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    WORK.mkdir(exist_ok=True)
    scene = WORK / f"scene-{args.size}.tif"
    print(f"writing {scene} ..." if not scene.exists() else f"using {scene}")
    make_scene(scene, args.size)
    peer_script = WORK / "chip_peer.py"
    peer_script.write_text(PEER)
    a: list[Timed] = []
    p: list[Timed] = []
    print(f"load average at start: {os.getloadavg()[0]:.1f}", flush=True)
    for k in range(args.runs):
        for who in [0, 1] if k % 2 == 0 else [1, 0]:
            if who == 0:
                ws = WORK / "chips-ws"
                shutil.rmtree(ws, ignore_errors=True)
                ws.mkdir()
                timed_rss([str(BIN / "python"), "-m", "assay", "init", "."], ws)
                a.append(timed_rss([str(BIN / "python"), "-m", "assay", "ingest", str(scene)], ws))
            else:
                out = WORK / "chips-peer"
                shutil.rmtree(out, ignore_errors=True)
                cmd = [str(BIN / "python"), str(peer_script), str(scene), str(out), "512", "64"]
                p.append(timed_rss(cmd))
            print("assay" if who == 0 else "loop", (a if who == 0 else p)[-1], flush=True)

    rows = [
        timed_row("assay ingest (COG conversion + chips + footprints)", a),
        timed_row("rasterio windowed-read loop writing PNG chips", p),
    ]
    wall = median([r.wall for r in p]) / median([r.wall for r in a])
    cpu = median([r.cpu for r in p]) / median([r.cpu for r in a])
    headers = ["command", "median s", "runs s", "median CPU s", "peak RSS MB", "load after"]
    text = (
        f"### Chipping a {args.size:,} x {args.size:,} x 3 scene — `bench/sensors_chips.py`\n\n"
        + table(headers, rows)
        + f"\n\npeer / assay: {wall:.2f}x wall, {cpu:.2f}x CPU"
        " (target >= 1.0x; peak RSS target <= 1,024 MB)\n"
    )
    write_result("sensors_chips", text)


if __name__ == "__main__":
    main()

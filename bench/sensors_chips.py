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


def run(cmd: list[str], cwd: Path | None = None) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one child command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"{cmd} failed:\n{proc.stderr[-2000:]}")
    # ru_maxrss of children is the largest child so far: run the smaller one first or read
    # it from /usr/bin/time where present.
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, max(peak, before) / 1024


def timed_rss(cmd: list[str], cwd: Path | None = None) -> tuple[float, float]:
    if shutil.which("/usr/bin/time") is None:
        return run(cmd, cwd)
    t0 = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *cmd], cwd=cwd, env=env, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"{cmd} failed:\n{proc.stderr[-2000:]}")
    return elapsed, int(proc.stderr.strip().splitlines()[-1]) / 1024


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
    a, p = [], []
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
                p.append(
                    timed_rss(
                        [str(BIN / "python"), str(peer_script), str(scene), str(out), "512", "64"]
                    )
                )
            print(a[-1:] if who == 0 else p[-1:], flush=True)
    rows = [
        ["assay ingest (COG conversion + chips + footprints)", f"{median([x for x, _ in a]):.1f}",
         ", ".join(f"{x:.1f}" for x, _ in a), f"{max(m for _, m in a):.0f}"],
        ["rasterio windowed-read loop writing PNG chips", f"{median([x for x, _ in p]):.1f}",
         ", ".join(f"{x:.1f}" for x, _ in p), f"{max(m for _, m in p):.0f}"],
    ]  # fmt: skip
    ratio = median([x for x, _ in p]) / median([x for x, _ in a])
    text = (
        f"### Chipping a {args.size:,} x {args.size:,} x 3 scene — `bench/sensors_chips.py`\n\n"
        + table(["command", "median s", "runs s", "peak RSS MB"], rows)
        + f"\n\npeer / assay: {ratio:.2f}x (target >= 1.0x; peak RSS target <= 1,024 MB)\n"
    )
    write_result("sensors_chips", text)


if __name__ == "__main__":
    main()

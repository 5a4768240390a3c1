"""Ingest 20,000 PNG files of 64x64 noise: assay vs `cp -r` vs `dvc add`, page cache warm.

Run: .venv/bin/python bench/foundation_ingest.py [--files 20000] [--runs 3]
dvc is installed into its own venv under bench/_work/ on first use (never into assay's).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from _common import ROOT, WORK, median, run_timed, table, write_result

SRC = WORK / "ingest_src"
DVC_VENV = WORK / "dvc-venv"


def make_files(n: int) -> None:
    marker = SRC / f".complete-{n}"
    if marker.exists():
        return
    shutil.rmtree(SRC, ignore_errors=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        sub = SRC / f"batch_{i // 1000:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(
            sub / f"chip_{i:06d}.png", compress_level=1
        )
    marker.touch()


def warm() -> int:
    total = 0
    for p in SRC.rglob("*.png"):
        total += len(p.read_bytes())
    return total


def dvc_bin() -> Path:
    exe = DVC_VENV / "bin" / "dvc"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(DVC_VENV)], check=True)
        subprocess.run([str(DVC_VENV / "bin" / "pip"), "install", "-q", "dvc"], check=True)
    return exe


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    make_files(args.files)
    size = warm()
    dvc = dvc_bin()
    assay = [sys.executable, "-m", "assay"]
    times: dict[str, list[float]] = {"cp -r": [], "dvc add": [], "assay ingest": []}
    dst, repo, ws = WORK / "cp_dst", WORK / "dvc_repo", WORK / "assay_ws"
    commands: dict[str, tuple[list[str], Path | None]] = {
        "cp -r": (["cp", "-r", str(SRC), str(dst)], None),
        "dvc add": ([str(dvc), "add", "-q", "data"], repo),
        "assay ingest": ([*assay, "-q", "-w", str(ws), "ingest", str(SRC)], ROOT),
    }
    order = list(commands)
    for run in range(args.runs):
        # Deleting tens of thousands of files leaves the file system busy for a while; do all
        # deletions first, let them settle, and only then time anything.
        for folder in (dst, repo, ws):
            shutil.rmtree(folder, ignore_errors=True)
        repo.mkdir()
        subprocess.run([str(dvc), "init", "--no-scm", "-q"], cwd=repo, check=True)
        shutil.copytree(SRC, repo / "data")
        subprocess.run([*assay, "init", str(ws)], check=True, capture_output=True)
        warm()
        warm_dir(repo / "data")
        # Each run starts with a different tool: what one leaves the file system doing (its
        # new files' journal and write-back) must not always land on the same next tool.
        for name in order[run % 3 :] + order[: run % 3]:
            settle()
            cmd, cwd = commands[name]
            times[name].append(run_timed(cmd, cwd=cwd))
    for folder in (dst, repo, ws):
        shutil.rmtree(folder, ignore_errors=True)
    med = {k: median(v) for k, v in times.items()}
    rows = [
        [k, f"{med[k]:.2f}", ", ".join(f"{x:.2f}" for x in v), f"{med[k] / med['cp -r']:.2f}x"]
        for k, v in times.items()
    ]
    text = (
        f"### Ingest {args.files:,} PNG files of 64x64 noise "
        f"({size / 1e6:.0f} MB, page cache warm)\n\n"
        + table(["tool", "median s", "runs s", "vs cp -r"], rows)
        + f"\n\nassay vs cp -r: {med['assay ingest'] / med['cp -r']:.2f}x the time (target <= 3x); "
        f"dvc add / assay: {med['dvc add'] / med['assay ingest']:.2f}x (target >= 4x).\n"
        "assay is timed as the whole CLI command (process start, hashing in worker processes, "
        "blob copies made durable, one SQLite transaction).\n"
    )
    write_result("foundation_ingest", text)


def settle() -> None:
    """Start each timed command with no write-back pending from the previous one (the source
    files stay in the page cache), so no tool pays for another's dirty pages."""
    os.sync()
    time.sleep(3.0)


def warm_dir(path: Path) -> None:
    for p in path.rglob("*.png"):
        p.read_bytes()


if __name__ == "__main__":
    main()

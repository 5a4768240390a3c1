"""An ingest's progress moves while one long file is read: a video as its frames are decoded,
a scene as its chips are cut, in this process and in the pool's workers; and on a terminal
`assay ingest` shows it in bytes, but not under --json."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from assay import Workspace
from assay.ingest import ingest_paths
from assay.ingest.files import BATCH, PARALLEL_MIN_FILES
from assay.ingest.sensors.options import ChipOptions, SensorOptions
from assay.ingest.sensors.synth import write_flight
from cli_support import on_a_terminal

Told = list[tuple[int, int]]


def _checked(told: Told, total: int) -> list[int]:
    """The values told strictly between nothing and everything, after checking the bar
    only ever moves forward to `total`."""
    assert told and told[-1] == (total, total)
    assert {t for _, t in told} == {total}
    done = [d for d, _ in told]
    assert done == sorted(done)
    return [d for d in done if 0 < d < total]


def test_one_video_moves_the_bar_while_its_frames_are_decoded(
    ws: Workspace, tmp_path: Path
) -> None:
    video = tmp_path / "flight.ts"
    write_flight(video, seconds=4)
    told: Told = []
    report = ws.ingest([video], progress=lambda d, t: told.append((d, t)))
    assert len(report.new) > 1  # the video and its frames
    # In bytes of the one file, told many times before it is done (not 0/1, then 1/1).
    assert len(set(_checked(told, os.path.getsize(video)))) >= 10


def _scene(path: Path, size: int, tiled: bool) -> None:
    rng = np.random.default_rng(3)
    arr = rng.integers(1, 255, (3, size, size)).astype("uint8")
    where = from_origin(270_000.0, 3_295_000.0, 0.5, 0.5)  # UTM 15N, over the flooded town
    profile = {"driver": "GTiff", "width": size, "height": size, "count": 3, "dtype": "uint8",
               "crs": "EPSG:32615", "transform": where}  # fmt: skip
    if tiled:  # chipped while GDAL converts it
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(arr)


@pytest.mark.parametrize("tiled", [False, True])
def test_one_scene_moves_the_bar_as_its_chips_are_cut(
    ws: Workspace, tmp_path: Path, tiled: bool
) -> None:
    scene = tmp_path / "town.tif"
    _scene(scene, 1024, tiled)
    told: Told = []
    sensors = SensorOptions(chips=ChipOptions(size=128, overlap=0))  # 8 rows of 8 chips
    report = ws.ingest([scene], sensors=sensors, progress=lambda d, t: told.append((d, t)))
    assert len(report.new) == 1 + 64
    # Told a row of chips at a time (the last rows come together at the end).
    assert len(set(_checked(told, os.path.getsize(scene)))) >= 5


def test_pool_workers_tell_how_far_they_are_into_a_file(ws: Workspace, tmp_path: Path) -> None:
    root = tmp_path / "drive"
    root.mkdir()
    write_flight(root / "flight.ts", seconds=4)
    for i in range(PARALLEL_MIN_FILES):
        (root / f"report_{i:04d}.txt").write_text(f"Field report {i}: river gauge at 4.2 m.")
    files = PARALLEL_MIN_FILES + 1
    batches = -(-files // BATCH)
    total = sum(p.stat().st_size for p in root.iterdir())
    told: Told = []
    report = ingest_paths(
        ws.db,
        ws.blobs,
        ws.scheme,
        [root],
        actor="user:t",
        workers=2,
        progress=lambda d, t: told.append((d, t)),
    )
    assert report.files == files and not report.failed
    # A batch tells once when it is back; the rest came from inside the video, in a worker.
    assert len(set(_checked(told, total))) > batches + 5


def test_the_cli_shows_bytes_read_on_a_terminal_and_nothing_with_json(
    ws: Workspace, tmp_path: Path
) -> None:
    write_flight(tmp_path / "a.ts", seconds=1)
    write_flight(tmp_path / "b.ts", seconds=1, seed=3)
    cwd = tmp_path / "ws"
    shown = on_a_terminal(["ingest", str(tmp_path / "a.ts")], cwd)
    assert "reading" in shown and "kB" in shown
    quiet = on_a_terminal(["ingest", str(tmp_path / "b.ts"), "--json"], cwd)
    assert "reading" not in quiet
    assert [e.action for e in ws.audit_log()].count("ingest") == 2  # both ran

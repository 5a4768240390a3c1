"""datumaro (the format library CVAT itself is built on) reads assay's CVAT for images, CVAT for
video and MOT exports. It runs in its own environment, ``.venv-datumaro`` (created by
``make test``), because it pins older pandas, Pillow and pyarrow than assay's."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from test_fmt_cvat import DEFS_XML, _images_export, _video_export

from assay.domain.tracks import KEYFRAME, TRACK_ID
from assay.formats import cvat, cvat_video
from assay.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv-datumaro" / "bin" / "python"
PROBE = Path(__file__).with_name("datumaro_probe.py")


def datumaro_read(path: Path, fmt: str, *mode: str) -> Any:
    if not PYTHON.exists():
        pytest.fail(f"{PYTHON} missing: `make test` creates it (make .venv-datumaro/.done)")
    proc = subprocess.run(
        [str(PYTHON), str(PROBE), str(path), fmt, *mode],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _xyxy(box: tuple[float, float, float, float] | None) -> list[float]:
    assert box is not None
    x, y, w, h = box
    return [x, y, x + w, y + h]


def test_datumaro_reads_the_cvat_images_export(ws: Workspace, tmp_path: Path) -> None:
    src = _images_export(tmp_path / "src")
    ws.import_labels(src, "cvat-images", "flood")
    ws.export("flood", "cvat-images", tmp_path / "out")
    (item,) = datumaro_read(tmp_path / "out", "cvat")
    assert (item["id"], item["subset"]) == ("a", "train")
    box, poly, pts, _tag = cvat.read(src).media[0].annotations[0].regions
    got = [(a["type"], a["label"], a["points"]) for a in item["annotations"]]
    assert got == [
        ("bbox", "vehicle", _xyxy(box.box)),
        ("polygon", "roof", [c for p in poly.points or () for c in p]),
        ("points", "roof", [c for p in pts.points or () for c in p]),
        ("label", "flooded", []),
    ]
    assert item["annotations"][0]["attributes"] == {"parked": True, "people": 3.0, "occluded": True}


def test_datumaro_reads_the_cvat_video_export_frame_by_frame(ws: Workspace, tmp_path: Path) -> None:
    src = _video_export(tmp_path / "src")
    ws.import_labels(src, "cvat-video", "river")
    ws.export("river", "cvat-video", tmp_path / "out")
    ours = {
        m.metadata["frame"]: sorted(
            (r.label, r.attributes[TRACK_ID], r.attributes[KEYFRAME], _flat(r))
            for a in m.annotations
            for r in a.regions
        )
        for m in cvat_video.read(src).media
    }
    seen = {
        int(item["id"].removeprefix("frame_")): sorted(
            (a["label"], a["attributes"]["track_id"], a["attributes"]["keyframe"], a["points"])
            for a in item["annotations"]
            if not a["attributes"]["outside"]
        )
        for item in datumaro_read(tmp_path / "out", "cvat")
    }
    assert seen == ours


def _flat(r: Any) -> list[float]:
    return _xyxy(r.box) if r.box is not None else [c for p in r.points for c in p]


def test_datumaro_reads_the_mot_export(ws: Workspace, tmp_path: Path) -> None:
    ws.import_labels(_video_export(tmp_path / "src"), "cvat-video", "river")
    ws.export("river", "mot", tmp_path / "out")
    items = {int(i["id"]): i for i in datumaro_read(tmp_path / "out/river-patrol", "mot_seq")}
    assert sorted(items) == list(range(1, 9))  # frames count from 1
    boat = [
        (f, a["attributes"]["track_id"], a["label"], a["points"])
        for f, item in sorted(items.items())
        for a in item["annotations"]
    ]
    # assay writes ids and bb_left/bb_top 1-based, as MOTChallenge specifies and motmetrics
    # reads them: CVAT's track 3 is id 4. datumaro takes the coordinates as they stand, so its
    # boxes sit one pixel right and down of assay's.
    assert boat == [
        (1, 4, "boat", [1.0, 1.0, 11.0, 11.0]),
        (2, 4, "boat", [3.0, 2.0, 13.0, 12.0]),
        (3, 4, "boat", [5.0, 3.0, 15.0, 13.0]),
        (4, 4, "boat", [7.0, 4.0, 17.0, 14.0]),
        (5, 4, "boat", [9.0, 5.0, 19.0, 15.0]),
        (6, 4, "boat", [9.0, 5.0, 19.0, 15.0]),
    ]


def test_datumaro_reads_the_attribute_definitions_a_dataset_keeps(
    ws: Workspace, tmp_path: Path
) -> None:
    ws.import_labels(_video_export(tmp_path / "src", xml=DEFS_XML), "cvat-video", "river")
    ws.export("river", "cvat-video", tmp_path / "out")
    # Declared ones no shape uses (all of person's) are written too.
    assert datumaro_read(tmp_path / "out", "cvat", "labels") == {
        "boat": ["crew"],
        "person": ["note", "role", "team", "waving"],
    }
    (frame0,) = (i for i in datumaro_read(tmp_path / "out", "cvat") if i["id"] == "frame_000000")
    (boat,) = frame0["annotations"]
    assert boat["attributes"]["crew"] == 2.0  # a number, as its input type says

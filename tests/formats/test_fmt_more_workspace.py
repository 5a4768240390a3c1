"""CVAT, MOT, YOLO and VOC through a workspace and the CLI: drops reported, tracks kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_fmt_cvat import _images_export, _video_export

from assay.domain.tracks import TRACK_ID
from assay.errors import InvalidInput, NotFound
from assay.formats import mot
from assay.workspace import Workspace


def test_cvat_import_reports_shapes_it_cannot_hold(ws: Workspace, tmp_path: Path) -> None:
    src = _images_export(tmp_path / "cvat")
    with pytest.raises(InvalidInput, match=r"1 masks, 1 polylines"):
        ws.import_labels(src, "cvat-images", "flood", strict=True)
    with pytest.raises(NotFound):  # nothing imported, not even the dataset
        ws.export("flood", "jsonl", tmp_path / "empty", media=False)
    report = ws.import_labels(src, "cvat-images", "flood")
    assert report.dropped == {"masks": 1, "polylines": 1}


def test_yolo_and_voc_report_what_they_cannot_hold(ws: Workspace, tmp_path: Path) -> None:
    ws.import_labels(_images_export(tmp_path / "cvat"), "cvat-images", "flood")
    voc = ws.export("flood", "voc", tmp_path / "voc", media=False)
    assert voc["dropped"] == {"choices": 1, "points": 1, "polygons": 1}
    yolo = ws.export("flood", "yolo", tmp_path / "yolo", media=False)
    assert yolo["dropped"] == {
        "choices": 1,
        "points": 1,
        "polygon outline (written as its bounding box)": 1,
    }
    assert ws.export("flood", "cvat-images", tmp_path / "again", media=False)["dropped"] == {}


def test_cvat_video_to_mot_and_back_through_the_cli(cli, tmp_path: Path) -> None:
    src = _video_export(tmp_path / "cvat")
    cli("init", tmp_path / "w")
    w = ("-w", tmp_path / "w")
    cli(*w, "import", src / "annotations.xml", "--format", "cvat-video", "--dataset", "river")
    res = cli(*w, "export", "river", "--format", "mot", "--out", tmp_path / "mot", "--json")
    # The person track is a polygon: MOT holds boxes only, and says so; nor has it columns for
    # crew (6 frames) and occluded (frames 4, 5) or for which shapes were interpolated.
    assert json.loads(res.stdout)["dropped"] == {
        "polygons": 6,
        "box attributes": 8,
        "interpolated-shape flags (keyframe=false)": 4,
    }
    assert "could not carry" in res.stderr
    boats = [
        ln.split(",")[:2]
        for ln in (tmp_path / "mot/river-patrol/gt/gt.txt").read_text().splitlines()
    ]
    # frames and ids count from 1 in MOT: CVAT's frames 0..5 and track 3 are 1..6 and id 4
    assert boats == [[str(f), "4"] for f in range(1, 7)]
    cli(*w, "import", tmp_path / "mot", "--format", "mot", "--dataset", "river-mot")
    cli(*w, "export", "river-mot", "--format", "cvat-video", "--out", tmp_path / "cv")
    back = mot.read(tmp_path / "mot")
    frames = {m.metadata["frame"]: m for m in back.media}
    assert [len(frames[f].annotations) for f in range(8)] == [1] * 6 + [0, 0]
    text = (tmp_path / "cv/annotations.xml").read_text()
    assert '<track id="3" label="boat"' in text and 'outside="1"' in text
    assert all(
        r.attributes[TRACK_ID] == 3 for m in back.media for a in m.annotations for r in a.regions
    )

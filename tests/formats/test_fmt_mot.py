"""MOT Challenge gt.txt, read and written, and read back by motmetrics (the py-motmetrics
reader of MOT files, ``motmetrics.io.loadtxt(fmt="mot15-2D")``)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import motmetrics as mm
import pytest
from fmt_helpers import bundle, image_row, save_images
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.domain.labels import Region
from assay.domain.tracks import KEYFRAME, TRACK_ID
from assay.errors import InvalidInput
from assay.formats import mot

GT = """1,1,11,6,20,20,1,1,1
1,2,31,11,10,15,0,8,0.25
2,1,13,6,20,20,1,1,0.5
3,1,15,6,20,20,1,1,1
3,-1,1,1,5,5,0.7,1,1
"""


def _sequence(root: Path, gt: str = GT, frames: int = 3) -> Path:
    save_images(root / "img1", [f"{i:06d}.jpg" for i in range(1, frames + 1)], (64, 48))
    (root / "gt").mkdir(parents=True)
    (root / "gt/gt.txt").write_text(gt)
    (root / "seqinfo.ini").write_text(
        "[Sequence]\nname=SAR-01\nimDir=img1\nframeRate=25\nseqLength=3\nimExt=.jpg\n"
    )
    return root


def _by_frame(b: Any) -> dict[int, list[Region]]:
    return {m.metadata["frame"]: [r for a in m.annotations for r in a.regions] for m in b.media}


def test_reads_a_mot17_sequence(tmp_path: Path) -> None:
    b = mot.read(_sequence(tmp_path / "SAR-01"))
    assert [m.metadata for m in b.media] == [
        {"sequence": "SAR-01", "frame": f, "frame_rate": 25.0} for f in range(3)
    ]
    frames = _by_frame(b)
    walker, distractor = frames[0]
    assert walker.box == (10, 5, 20, 20) and walker.label == "pedestrian"
    assert walker.attributes == {TRACK_ID: 0, KEYFRAME: True, "visibility": 1.0}  # ids from 1
    assert distractor.label == "distractor"
    assert distractor.attributes == {
        TRACK_ID: 1,
        KEYFRAME: True,
        "ignored": True,
        "visibility": 0.25,
    }
    detection = frames[2][1]
    assert detection.score == 0.7 and TRACK_ID not in detection.attributes


@pytest.mark.parametrize(
    ("gt", "message"),
    [
        ("1,1,11,6,20\n", "gt/gt.txt line 1: expected 'frame,id,left,top,width,height,...'"),
        ("1,1,x,6,20,20,1,1,1\n", "gt/gt.txt line 1: expected numbers"),
        ("1,1,11,6,20,20,1,42,1\n", "gt/gt.txt line 1: class 42 not in 1..13"),
        ("1,1,1,1,2,2,1,1,1\n1,1,1,1,2,2,1,1,1\n", "line 2: track 1 has a second box on frame 1"),
        ("9,1,1,1,2,2,1,1,1\n", "gt/gt.txt line 1: no image for frame 9"),
    ],
)
def test_bad_gt_names_file_and_line(tmp_path: Path, gt: str, message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        mot.read(_sequence(tmp_path / "s", gt))
    assert message in str(err.value)


def _rows_from(b: Any) -> list[Any]:
    return [
        image_row(
            m.name.split("/")[-1],
            [r for a in m.annotations for r in a.regions],
            (64, 48),
            metadata=m.metadata,
        )
        for m in b.media
    ]


def test_round_trip_and_motmetrics_reads_the_export(tmp_path: Path) -> None:
    first = mot.read(_sequence(tmp_path / "in/SAR-01"))
    rows = _rows_from(first)
    mot.write(bundle(rows, labels=first.label_names), tmp_path / "out")
    again = mot.read(tmp_path / "out")
    want = {f: [r for r in rs if TRACK_ID in r.attributes] for f, rs in _by_frame(first).items()}
    assert _by_frame(again) == want  # the detection of no track is reported, not written
    assert {m.marking for m in again.media} == {"CUI"}  # from the export's MARKING.txt
    info = (tmp_path / "out/SAR-01/seqinfo.ini").read_text().splitlines()
    assert info == [
        "[Sequence]",
        "name=SAR-01",
        "imDir=img1",
        "frameRate=25",
        "seqLength=3",
        "imWidth=64",
        "imHeight=48",
        "imExt=.jpg",
    ]
    gt = tmp_path / "out/SAR-01/gt/gt.txt"
    df = mm.io.loadtxt(str(gt), fmt="mot15-2D", min_confidence=-1)
    table = {
        (int(f), int(i)): (r.X, r.Y, r.Width, r.Height, r.Confidence) for (f, i), r in df.iterrows()
    }
    assert table == {
        (1, 1): (10.0, 5.0, 20.0, 20.0, 1.0),
        (1, 2): (30.0, 10.0, 10.0, 15.0, 0.0),
        (2, 1): (12.0, 5.0, 20.0, 20.0, 1.0),
        (3, 1): (14.0, 5.0, 20.0, 20.0, 1.0),
    }
    # Ground truth against itself: motmetrics scores a perfect tracker.
    # (Euclidean matching: motmetrics 1.4's IoU matrix calls np.asfarray, gone in NumPy 2.)
    acc = mm.utils.compare_to_groundtruth(df, df, "euc", distfields=["X", "Y"], distth=1.0)
    summary = mm.metrics.create().compute(acc, metrics=["mota", "idf1", "num_switches"])
    assert summary.iloc[0].to_dict() == {"mota": 1.0, "idf1": 1.0, "num_switches": 0}


@st.composite
def tracked_rows(draw: st.DrawFn) -> list[Any]:
    rows = []
    n = draw(st.integers(1, 6))
    tracks = draw(st.integers(1, 3))
    for f in range(n):
        regions = []
        for tid in range(tracks):
            if draw(st.booleans()):
                x = draw(st.floats(-10, 60, allow_nan=False))
                w = draw(st.floats(0.5, 30, allow_nan=False))
                attrs = {
                    TRACK_ID: tid,
                    KEYFRAME: True,
                    # Any visibility in 0..1 reads back exactly (6 digits were written).
                    "visibility": draw(st.floats(0, 1)),
                }
                label = ["person", "boat"][tid % 2]
                regions.append(
                    Region(kind="box", label=label, box=(x, 2.0, w, 9.0), attributes=attrs)
                )
        rows.append(
            image_row(f"f{f}.png", regions, (64, 48), metadata={"sequence": "s", "frame": f})
        )
    return rows


@settings(max_examples=20, deadline=None)
@given(tracked_rows())
def test_mot_round_trip_keeps_boxes_tracks_and_classes(rows: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        mot.write(bundle(rows, labels=["person", "boat"]), Path(tmp))
        back = _by_frame(mot.read(Path(tmp)))
    for f, row in enumerate(rows):
        got = sorted(back.get(f, []), key=lambda r: r.attributes[TRACK_ID])
        assert [(r.label, r.attributes) for r in got] == [
            (r.label, r.attributes) for r in row.regions
        ]
        assert [g.box for g in got] == [r.box for r in row.regions]  # exactly


def test_gt_holds_the_shortest_text_of_a_coordinate(tmp_path: Path) -> None:
    # Left and top are 1-based: 15.001 + 1 is 16.000999999999998 in floats, which gt.txt held,
    # and which read back as 15.000999999999998 (16.000999999999998 - 1 in floats).
    boxes = [(15.001, 0.1, 20.0, 2.675), (2.5, 1 / 3, 1e-3, 7.25)]
    regions = [
        Region(kind="box", label="boat", box=b, attributes={TRACK_ID: k, KEYFRAME: True})
        for k, b in enumerate(boxes)
    ]
    mot.write(bundle([image_row("f0.png", regions, (64, 48))], labels=["boat"]), tmp_path)
    lines = (tmp_path / "flood-2026/gt/gt.txt").read_text().splitlines()
    assert [line.split(",")[2:6] for line in lines] == [
        ["16.001", "1.10", "20.00", "2.675"],
        ["3.50", "1.3333333333333333", "0.001", "7.25"],
    ]
    (got,) = _by_frame(mot.read(tmp_path)).values()
    assert [r.box for r in got] == boxes


def test_gt_holds_the_shortest_text_of_a_visibility(tmp_path: Path) -> None:
    # Visibility was written with 6 significant digits ("%g"): 0.1234567 came back 0.123457,
    # and a tiny one in exponent form; now as the coordinates, the shortest exact decimal.
    seen = [1.0, 0.25, 0.1234567, 1 / 3, 1e-7, 0.0]
    regions = [
        Region(
            kind="box",
            label="boat",
            box=(1.0, 1.0, 4.0, 4.0),
            attributes={TRACK_ID: k, KEYFRAME: True, "visibility": vis},
        )
        for k, vis in enumerate(seen)
    ]
    mot.write(bundle([image_row("f0.png", regions, (64, 48))], labels=["boat"]), tmp_path)
    lines = (tmp_path / "flood-2026/gt/gt.txt").read_text().splitlines()
    assert [line.split(",")[8] for line in lines] == [
        "1",
        "0.25",
        "0.1234567",
        "0.3333333333333333",
        "0.0000001",
        "0",
    ]
    (got,) = _by_frame(mot.read(tmp_path)).values()
    assert [r.attributes["visibility"] for r in got] == seen


def test_a_visibility_that_is_no_number_is_counted(tmp_path: Path) -> None:
    # It was written as 1 and said nothing.
    regions = [
        Region(
            kind="box",
            label="boat",
            box=(1.0, 1.0, 4.0, 4.0),
            attributes={TRACK_ID: 0, KEYFRAME: True, "visibility": "half"},
        )
    ]
    b = bundle([image_row("f0.png", regions, (64, 48))], labels=["boat"])
    mot.write(b, tmp_path)
    assert b.dropped.to_dict() == {"visibility values that are not numbers (written as 1)": 1}
    (line,) = (tmp_path / "flood-2026/gt/gt.txt").read_text().splitlines()
    assert line.split(",")[8] == "1"


def test_what_mot_cannot_hold_is_counted(tmp_path: Path) -> None:
    rows = [
        image_row(
            "a.png",
            [
                Region(kind="box", label="boat", box=(1, 1, 4, 4)),
                Region(kind="polygon", label="boat", points=((0, 0), (4, 0), (4, 4))),
                Region(
                    kind="box",
                    label="boat",
                    box=(1, 1, 4, 4),
                    attributes={TRACK_ID: 1, KEYFRAME: False, "crew": 3},
                ),
            ],
        )
    ]
    b = bundle(rows)
    mot.write(b, tmp_path)
    assert b.dropped.to_dict() == {
        "box attributes": 1,
        "boxes of no track": 1,
        "interpolated-shape flags (keyframe=false)": 1,
        "polygons": 1,
    }


def test_image_folder_outside_the_sequence_is_refused(tmp_path: Path) -> None:
    seq = _sequence(tmp_path / "s")
    (seq / "seqinfo.ini").write_text("[Sequence]\nname=s\nimDir=../../elsewhere\n")
    with pytest.raises(InvalidInput, match=r"s/seqinfo.ini: imDir .* is outside the sequence"):
        mot.read(seq)


@pytest.mark.parametrize(("every", "rate"), [(0.5, 2), (1 / 30, 30), (0.2, 5)])
def test_sampled_video_frames_state_their_own_frame_rate(
    tmp_path: Path, every: float, rate: int
) -> None:
    # Frames ingested one every 0.5 s were written as frameRate=30 (the fallback): a tracker
    # reading seqinfo.ini took 2 frames a second for 30.
    box = Region(kind="box", label="boat", box=(5, 5, 10, 10), attributes={TRACK_ID: 0})
    rows = [
        image_row(
            f"flight.ts#t={i * every:.3f}",
            [box],
            metadata={"frame": {"index": round(i * every * 30), "pts": i, "time_s": i * every}},
        )
        for i in range(4)
    ]
    mot.write(bundle(rows, labels=["boat"]), tmp_path / "out")
    info = (tmp_path / "out/flight.ts/seqinfo.ini").read_text().splitlines()
    assert f"frameRate={rate}" in info and "seqLength=4" in info


def test_unevenly_sampled_frames_keep_the_fallback_rate(tmp_path: Path) -> None:
    rows = [
        image_row(f"flight.ts#t={t:.3f}", [], metadata={"frame": {"index": i, "time_s": t}})
        for i, t in enumerate((0.0, 1.0, 1.2, 4.0))
    ]
    mot.write(bundle(rows, labels=["boat"]), tmp_path / "out")
    assert "frameRate=30" in (tmp_path / "out/flight.ts/seqinfo.ini").read_text().splitlines()

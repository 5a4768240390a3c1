"""Video tasks: a flight's frame tasks labelled as tracks, stored per frame, read back as the
same tracks, exported as CVAT for video and read back by the CVAT codec; model detections
linked into track pre-labels; need-to-know on the frames."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from assay.domain.labels import Region, payload_to_json
from assay.domain.schema import LabelSchema
from assay.domain.tracks import tracks_from_frames
from assay.errors import InvalidInput, NotFound
from assay.formats import cvat_video
from assay.labeling import Workflow, add_user, create_project
from assay.labeling.pull import pull
from assay.labeling.video import list_videos, load_video, save_video, tracks_from_json
from assay.store.schema import annotations_table, items
from assay.timeutil import now_iso
from assay.workspace import Workspace
from blob_stacks import stacks
from cli_support import FLOOD_TRAFFIC_SCHEMA
from video_world import MOVING_TRAFFIC_SCHEMA, flight_dataset, frame_answers

# Run on both blob stacks: local folder and S3 (SeaweedFS).
blob_stack = stacks()

SCHEMA = FLOOD_TRAFFIC_SCHEMA


_OPENED: list[Workspace] = []


@pytest.fixture(autouse=True)
def _close_flight_projects() -> Iterator[None]:
    """The workspaces `flight_project` opened are closed after each test (under PostgreSQL
    their connections were otherwise left to the garbage collector)."""
    yield
    while _OPENED:
        _OPENED.pop().close()


def flight_project(tmp_path: Path, seconds: int = 5, marking: str | None = None) -> Workspace:
    ws = Workspace.init(tmp_path / "ws")
    _OPENED.append(ws)
    flight_dataset(ws, tmp_path, seconds, marking)
    schema = LabelSchema.from_yaml_text(SCHEMA, "s.yaml")
    create_project(ws, "traffic", schema, "flight", Workflow(overlap=1, review="none"))
    return ws


def video_id(ws: Workspace) -> str:
    with ws.db.read() as conn:
        return str(
            conn.execute(select(items.c.parent_id).where(items.c.parent_id.is_not(None))).scalar()
        )


CAR = {
    "id": 3,
    "label": "vehicle",
    "interpolation": "linear",
    "shapes": [
        {"frame": 0, "box": [10, 20, 40, 30], "attributes": {"moving": True}},
        {"frame": 3, "box": [70, 50, 40, 36], "attributes": {"moving": False}},
        {"frame": 4, "box": [0, 0, 0, 0], "outside": True},
    ],
}
BOAT = {
    "id": 5,
    "label": "boat",
    "interpolation": "none",
    "shapes": [{"frame": 1, "box": [200, 100, 30, 20]}, {"frame": 3, "box": [220, 110, 30, 20]}],
}


def test_tracks_are_stored_per_frame_and_read_back(tmp_path: Path) -> None:
    ws = flight_project(tmp_path)
    ana = add_user(ws, "ana", "annotator", "UNCLASSIFIED", "flood-watch-2026")
    vid = video_id(ws)
    assert list_videos(ws, ana, "traffic") == [{"video": vid, "frames": 5, "name": "flight.ts"}]
    view = load_video(ws, ana, "traffic", vid)
    assert view["source"] == "empty" and len(view["frames"]) == 5
    f0 = view["frames"][0]
    assert f0["telemetry"]["sensor_latitude"] == pytest.approx(29.7604, abs=1e-4)
    assert f0["footprint"]["type"] == "Polygon"
    assert [f["frame"]["time_s"] for f in view["frames"]] == [0.0, 1.0, 2.0, 3.0, 4.0]

    result = save_video(ws, ana, "traffic", vid, "c1", tracks_from_json([CAR, BOAT]))
    assert result == {"frames": 5, "submitted": 5, "edited": 0, "tracks": 2, "duplicate": False}
    per_frame = frame_answers(ws)
    # Linear in between for the car: frame 1 is a third of the way, attributes held.
    car1 = next(r for r in per_frame[1] if r.attributes["track_id"] == 3)
    assert car1.box == (30.0, 30.0, 40.0, 32.0)
    assert car1.attributes == {"moving": True, "track_id": 3, "keyframe": False}
    car3 = next(r for r in per_frame[3] if r.attributes["track_id"] == 3)
    assert car3.attributes == {"moving": False, "track_id": 3, "keyframe": True}
    # The boat holds its box (interpolation off) and the car is outside on frame 4.
    boat2 = next(r for r in per_frame[2] if r.attributes["track_id"] == 5)
    assert boat2.box == (200.0, 100.0, 30.0, 20.0)
    assert [r.attributes["track_id"] for r in per_frame[4]] == [5]
    assert per_frame[0][0].author == "user:ana"

    back = load_video(ws, ana, "traffic", vid)
    assert back["source"] == "saved"
    assert [(t["id"], t["label"], t["interpolation"]) for t in back["tracks"]] == [
        (3, "vehicle", "linear"),
        (5, "boat", "none"),
    ]
    assert [shape_key(s) for t in back["tracks"] for s in t["shapes"]] == [
        shape_key(s) for t in (CAR, BOAT) for s in t["shapes"]
    ]
    # Saving the same again is a retry; an edit supersedes the changed frames only.
    assert save_video(ws, ana, "traffic", vid, "c1", [])["duplicate"] is True
    moved = dict(BOAT, shapes=[BOAT["shapes"][0], {"frame": 3, "box": [240, 110, 30, 20]}])
    again = save_video(ws, ana, "traffic", vid, "c2", tracks_from_json([CAR, moved]))
    assert (again["submitted"], again["edited"]) == (0, 2)  # frames 3 and 4 (held)
    assert frame_answers(ws)[3][1].box == (240.0, 110.0, 30.0, 20.0)


def shape_key(s: dict) -> tuple:  # type: ignore[type-arg]
    """What a shape means: its frame, and where it is with which attributes unless outside."""
    if s.get("outside"):
        return (s["frame"], "outside")
    return (s["frame"], [float(v) for v in s["box"]], s.get("attributes") or {})


def test_saved_tracks_round_trip_through_the_cvat_video_export(tmp_path: Path) -> None:
    ws = flight_project(tmp_path)
    ana = add_user(ws, "ana", "annotator", "UNCLASSIFIED", "flood-watch-2026")
    save_video(ws, ana, "traffic", video_id(ws), "c1", tracks_from_json([CAR, BOAT]))
    assert pull(ws, "flight", "traffic", "latest") == 5
    ws.export("flight", "cvat-video", tmp_path / "cvat")
    bundle = cvat_video.read(tmp_path / "cvat")
    frames = {m.metadata["frame"]: m.annotations[0].regions for m in bundle.media if m.annotations}
    tracks, loose = tracks_from_frames(frames, 5)
    assert loose == {}
    assert [(t.id, t.label) for t in tracks] == [(3, "vehicle"), (5, "boat")]
    car = tracks[0]
    assert [s.frame for s in car.shapes if s.keyframe and not s.outside] == [0, 3]
    assert car.outside_ranges(5) == [(4, 5)]
    assert car.at(2).box == (50.0, 40.0, 40.0, 34.0)  # type: ignore[union-attr]
    for i, regions in frames.items():
        mine = {r.attributes["track_id"]: r.box for r in frame_answers(ws)[i]}
        assert {r.attributes["track_id"]: r.box for r in regions} == mine


def _detect(
    ws: Workspace, frames: list[dict[str, Any]], detections: list[list[Region]], project: str | None
) -> None:
    """A model's detections on each frame, made for `project` (None: imported, no project)."""
    with ws.db.begin() as conn:
        for i, (f, dets) in enumerate(zip(frames, detections, strict=True)):
            conn.execute(
                annotations_table.insert().values(
                    id=f"m{i}", item_id=f["item"], project=project, author="model:det@1",
                    kind="model", payload=payload_to_json(dets), created=now_iso(),
                    lead_time=None, supersedes=None, source_id="test",
                )
            )  # fmt: skip


def test_model_detections_become_track_prelabels(tmp_path: Path) -> None:
    ws = flight_project(tmp_path, seconds=3)
    ana = add_user(ws, "ana", "annotator", "UNCLASSIFIED", "flood-watch-2026")
    vid = video_id(ws)
    frames = load_video(ws, ana, "traffic", vid)["frames"]
    detections = []
    for i in range(len(frames)):
        dets = [Region(kind="box", label="vehicle", box=(10 + 5 * i, 10, 40, 30), score=0.9)]
        if i == 2:
            dets.append(Region(kind="box", label="person", box=(200, 150, 10, 20), score=0.7))
        detections.append(dets)
    _detect(ws, frames, detections, None)
    view = load_video(ws, ana, "traffic", vid)
    assert view["source"] == "prelabels"
    assert [(t["id"], t["label"], [s["frame"] for s in t["shapes"]]) for t in view["tracks"]] == [
        (0, "vehicle", [0, 1, 2]),
        (1, "person", [2]),
    ]
    # The annotator corrects (drops the person) and saves: their tracks replace the pre-labels.
    save_video(ws, ana, "traffic", vid, "c1", tracks_from_json(view["tracks"][:1]))
    again = load_video(ws, ana, "traffic", vid)
    assert again["source"] == "saved" and [t["id"] for t in again["tracks"]] == [0]


def test_detections_made_for_another_project_are_not_this_videos_prelabels(
    tmp_path: Path,
) -> None:
    ws = flight_project(tmp_path, seconds=2)
    ana = add_user(ws, "ana", "annotator", "UNCLASSIFIED", "flood-watch-2026")
    vid = video_id(ws)
    frames = load_video(ws, ana, "traffic", vid)["frames"]
    casualty = Region(kind="box", label="casualty", box=(10, 10, 40, 30), score=0.9)
    _detect(ws, frames, [[casualty]] * len(frames), "night-sweep")  # another project's model
    view = load_video(ws, ana, "traffic", vid)
    assert (view["source"], view["tracks"]) == ("empty", [])
    assert "casualty" not in json.dumps(view)


def test_frames_above_clearance_are_not_a_video_and_bad_tracks_are_refused(tmp_path: Path) -> None:
    ws = flight_project(tmp_path, seconds=2, marking="CUI/FLOOD")
    low = add_user(ws, "low", "annotator", "UNCLASSIFIED", "flood-watch-2026")
    ana = add_user(ws, "ana", "annotator", "CUI/FLOOD", "flood-watch-2026")
    vid = video_id(ws)
    with pytest.raises(NotFound):  # a project above the user is as unknown as its frames
        list_videos(ws, low, "traffic")
    with pytest.raises(NotFound):
        load_video(ws, low, "traffic", vid)
    with pytest.raises(InvalidInput, match=r"tracks\[0\].shapes\[0\].box"):
        tracks_from_json([{"id": 1, "label": "vehicle", "shapes": [{"frame": 0, "box": [1, 2]}]}])
    with pytest.raises(InvalidInput, match=r"outside 0\.\.1"):
        save_video(ws, ana, "traffic", vid, "c", tracks_from_json([dict(BOAT, id=1)]))
    assert frame_answers(ws) == {}


def test_a_refused_track_names_the_track_frame_and_field(tmp_path: Path) -> None:
    # The errors said `regions[0]: ...` (which track? which frame?) and `tracks[0]: 'frame'`.
    ws = flight_project(tmp_path, seconds=3)
    ana = add_user(ws, "ana", "annotator", "UNCLASSIFIED", "flood-watch-2026")
    vid = video_id(ws)

    def refused(tracks: list[dict[str, Any]]) -> str:
        with pytest.raises(InvalidInput) as caught:
            save_video(ws, ana, "traffic", vid, "c", tracks_from_json(tracks))
        return str(caught.value)

    tank = {"id": 7, "label": "tank", "shapes": [{"frame": 1, "box": [10, 10, 20, 20]}]}
    boat = {"id": 2, "label": "boat", "shapes": [{"frame": 0, "box": [200, 100, 30, 20]}]}
    msg = refused([boat, tank])
    assert msg.startswith("track 7 (tank), frame 1: ") and "'tank' is not a label" in msg
    wide = {"id": 4, "label": "boat", "shapes": [{"frame": 2, "box": [310, 10, 20, 20]}]}
    msg = refused([wide])
    assert msg.startswith("track 4 (boat), frame 2: ") and "outside the 320x240 image" in msg
    flat = {"id": 9, "label": "boat", "shapes": [{"frame": 0, "box": [10, 10, -5, 20]}]}
    assert refused([flat]).startswith("track 9 (boat), frame 0: ")
    with pytest.raises(InvalidInput, match=r"^tracks\[0\]\.shapes\[1\]\.frame: missing$"):
        tracks_from_json(
            [
                {
                    "id": 1,
                    "label": "boat",
                    "shapes": [{"frame": 0, "outside": True}, {"box": [1, 1, 2, 2]}],
                }
            ]
        )
    with pytest.raises(InvalidInput, match=r"^tracks\[0\]\.shapes\[0\]\.box: four numbers"):
        tracks_from_json(
            [{"id": 1, "label": "boat", "shapes": [{"frame": 0, "box": [1, 1, 2, "x"]}]}]
        )
    with pytest.raises(InvalidInput, match=r"^tracks\[0\]\.label: missing$"):
        tracks_from_json([{"id": 1, "shapes": []}])
    assert frame_answers(ws) == {}


def test_diff_folds_a_moved_keyframe_into_one_track_change(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws = flight_project(tmp_path)
    ana = add_user(ws, "ana", "annotator", "UNCLASSIFIED", "flood-watch-2026")
    vid = video_id(ws)
    save_video(ws, ana, "traffic", vid, "c1", tracks_from_json([CAR, BOAT]))
    pull(ws, "flight", "traffic", "latest")
    ws.commit("flight", "first tracks")
    # The car's second keyframe moves from frame 3 to frame 2 (and the boat is left alone).
    car = dict(CAR, shapes=[CAR["shapes"][0], dict(CAR["shapes"][1], frame=2), CAR["shapes"][2]])
    save_video(ws, ana, "traffic", vid, "c2", tracks_from_json([car, BOAT]))
    pull(ws, "flight", "traffic", "latest")
    ws.close()
    out = cli("diff", "flight", "HEAD", "--json", cwd=tmp_path / "ws")
    tracks = json.loads(out.stdout)["tracks"]
    assert tracks == [
        {
            "sequence": "flight.ts",
            "track_id": 3,
            "label": "vehicle",
            "frames": [30, 60, 90],  # decoded frame numbers of frames 1, 2, 3 (30 fps)
            "changes": {"attribute_changed": 2, "moved": 2},  # frame 3 keeps its box
            "keyframes_added": [60],
            "keyframes_removed": [90],
            "authors": ["user:ana"],
        }
    ]
    text = cli("diff", "flight", "HEAD", cwd=tmp_path / "ws").stdout
    assert "track 3 (vehicle) in flight.ts: frames 30-90 (attribute_changed 2, moved 2); " in text
    assert "keyframes added 60; keyframes removed 90" in text


def test_declared_attributes_travel_through_pull_cvat_export_and_import(tmp_path: Path) -> None:
    ws = flight_project(tmp_path)
    schema = LabelSchema.from_yaml_text(MOVING_TRAFFIC_SCHEMA, "s.yaml")
    create_project(ws, "moving", schema, "flight", Workflow(overlap=1, review="none"))
    ana = add_user(ws, "ana", "annotator", "UNCLASSIFIED", "flood-watch-2026")
    car = dict(
        CAR,
        shapes=[
            dict(CAR["shapes"][0], attributes={"moving": True, "colour": "red"}),
            *CAR["shapes"][1:],
        ],
    )
    save_video(ws, ana, "moving", video_id(ws), "c1", tracks_from_json([car]))
    assert pull(ws, "flight", "moving", "latest") == 5
    ws.export("flight", "cvat-video", tmp_path / "cvat")
    text = (tmp_path / "cvat/annotations.xml").read_text()
    assert re.search(
        r"<name>colour</name>\s*<mutable>False</mutable>\s*<input_type>select</input_type>"
        r"\s*<default_value>grey</default_value>\s*<values>grey\nred</values>",
        text,
    )
    # Read back: the same tracks, every keyframe stating the declared values in force there.
    bundle = cvat_video.read(tmp_path / "cvat")
    frames = {m.metadata["frame"]: m.annotations[0].regions for m in bundle.media if m.annotations}
    (track,), _ = tracks_from_frames(frames, 5)
    keys = [
        (s.frame, dict(s.region.attributes)) for s in track.shapes if s.keyframe and not s.outside
    ]
    assert keys == [(0, {"moving": True, "colour": "red"}), (3, {"moving": False, "colour": "red"})]

    # Imported into another dataset, a project over it with a plain schema asks for them.
    report = ws.import_labels(tmp_path / "cvat", "cvat-video", "again")
    assert report is not None
    plain = LabelSchema.from_yaml_text(SCHEMA, "s.yaml")
    made = create_project(ws, "again", plain, "again", Workflow(overlap=1, review="none"))
    declared = made.schema.attributes()
    assert {
        label: [(d.name, d.type, d.mutable) for d in defs] for label, defs in declared.items()
    } == {
        "vehicle": [("moving", "checkbox", True), ("colour", "select", False)],
        "boat": [("moving", "checkbox", True)],
        "person": [("moving", "checkbox", True)],
    }
    assert declared["vehicle"][1].values == ["grey", "red"]

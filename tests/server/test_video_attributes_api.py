"""The video API with a schema that declares track attributes: changes stored per keyframe and
held on the frames after it, a value the schema does not allow refused naming the field."""

from __future__ import annotations

from pathlib import Path

from assay.domain.schema import LabelSchema
from assay.labeling import Workflow, create_project
from assay.workspace import Workspace
from labeling_world import Client, World
from video_world import flight_dataset, frame_answers

SCHEMA = """
controls:
  - name: label
    type: boxes
    attributes:
      - {name: moving, type: checkbox}
      - {name: heading, type: select, values: [north, south]}
    labels: [vehicle, boat]
"""


def frames(ws: Workspace) -> dict[int, dict[str, object]]:
    """Each frame's stored first region's attributes, by frame index."""
    return {i: dict(regions[0].attributes) for i, regions in frame_answers(ws).items()}


def test_attribute_changes_are_stored_on_their_keyframe_and_held_after_it(
    ws: Workspace, world: World, client: Client, tmp_path: Path
) -> None:
    flight_dataset(ws, tmp_path, seconds=4)
    schema = LabelSchema.from_yaml_text(SCHEMA, "s.yaml")
    create_project(ws, "moving", schema, "flight", Workflow(overlap=1, review="none"))
    ana = client("ana")
    declared = ana.get("/api/v1/projects/moving").json()["schema"]["controls"][0]["attributes"]
    assert [(a["name"], a["type"], a["mutable"]) for a in declared] == [
        ("moving", "checkbox", True),
        ("heading", "select", True),
    ]
    (video,) = ana.get("/api/v1/projects/moving/videos").json()
    url = f"/api/v1/projects/moving/videos/{video['video']}/tracks"

    def track(*shapes: dict[str, object]) -> dict[str, object]:
        return {"id": 1, "label": "vehicle", "interpolation": "linear", "shapes": list(shapes)}

    bad = track(
        {"frame": 0, "box": [10, 10, 20, 20]},
        {"frame": 2, "box": [30, 10, 20, 20], "attributes": {"heading": "west"}},
    )
    r = ana.post(url, json={"client_id": "bad", "tracks": [bad]})
    assert r.status_code == 422 and r.json() == {
        "error": "tracks[0] (#1 vehicle) frame 2: attribute 'heading': 'west' is not one of "
        "north, south"
    }
    assert frames(ws) == {}  # nothing written

    good = track(
        {"frame": 0, "box": [10, 10, 20, 20]},
        {"frame": 2, "box": [30, 10, 20, 20], "attributes": {"moving": True}},
    )
    r = ana.post(url, json={"client_id": "c1", "tracks": [good]})
    assert r.status_code == 200, r.text
    stored = frames(ws)
    want = [(False, "north", True), (False, "north", False)]
    want += [(True, "north", True), (True, "north", False)]
    assert [(a["moving"], a["heading"], a["keyframe"]) for _, a in sorted(stored.items())] == want
    # Read back, the keyframes state every declared attribute.
    shapes = ana.get(f"/api/v1/projects/moving/videos/{video['video']}").json()["tracks"][0]
    assert [(s["frame"], s["attributes"]) for s in shapes["shapes"]] == [
        (0, {"moving": False, "heading": "north"}),
        (2, {"moving": True, "heading": "north"}),
    ]

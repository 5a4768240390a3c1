"""The video API with a schema that declares track attributes: changes stored per keyframe and
held on the frames after it, a value the schema does not allow refused naming the field."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from assay.domain.labels import payload_from_json
from assay.domain.schema import LabelSchema
from assay.ingest.sensors.synth import write_flight
from assay.labeling import Workflow, create_project
from assay.store.schema import annotations_table, items
from assay.workspace import Workspace
from labeling_world import Client, World

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
    """Each frame's newest human answer's first region's attributes, by frame index."""
    t = annotations_table
    with ws.db.read() as conn:
        rows = conn.execute(
            select(items.c.derivation, t.c.payload)
            .join(items, items.c.id == t.c.item_id)
            .where(t.c.kind == "human")
            .order_by(t.c.created, t.c.id)
        ).all()
    return {
        round(json.loads(d)["time_s"]): dict(payload_from_json(p)[0].attributes) for d, p in rows
    }


def test_attribute_changes_are_stored_on_their_keyframe_and_held_after_it(
    ws: Workspace, world: World, client: Client, tmp_path: Path
) -> None:
    write_flight(tmp_path / "flight.ts", seconds=4, klv_hz=5)
    ws.ingest([tmp_path / "flight.ts"])
    ws.create_dataset("flight")
    ws.add_items("flight", "media_type=image/jpeg")
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

"""Need-to-know of the video and map routes: a CUI/FLOOD flight (project `fmv`) and a
SECRET/SAR flight (project `fmv-secret`); ana (CUI/FLOOD) sees the first only, low
(UNCLASSIFIED) neither."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from assay.domain.labels import Region
from assay.domain.schema import LabelSchema
from assay.ingest.sensors.synth import Flight, write_flight
from assay.labeling import Workflow, create_project
from assay.store.schema import annotations_table, items
from assay.versioning import LabelRecord
from labeling_world import Client, World

SCHEMA = "title: FMV\ncontrols:\n  - {name: label, type: boxes, labels: [vehicle]}\n"


def flights(world: World) -> dict[str, list[str]]:
    """Ingest the two flights once; the video and frame ids per marking."""
    ws = world.ws
    if "fmv" not in world.items:
        folder = ws.root.parent / "flights"
        folder.mkdir(exist_ok=True)
        write_flight(folder / "cui.ts", seconds=2, klv_hz=5)
        # Other pixels too: frames with the same bytes would be the same items.
        write_flight(folder / "secret.ts", seconds=2, klv_hz=5, width=352, flight=Flight(lat=29.8))
        ws.ingest([folder / "cui.ts"], marking="CUI/FLOOD")
        ws.ingest([folder / "secret.ts"], marking="SECRET/SAR")
        schema = LabelSchema.from_yaml_text(SCHEMA, "fmv.yaml")
        for name, marking in (("fmv", "CUI/FLOOD"), ("fmv-secret", "SECRET/SAR")):
            ws.create_dataset(name)
            ws.add_items(name, f"media_type=image/jpeg and marking={marking}")
            create_project(ws, name, schema, name, Workflow(overlap=1))
        world.items["fmv"] = ["done"]
    out: dict[str, list[str]] = {}
    with ws.db.read() as conn:
        for name, marking in (("cui", "CUI/FLOOD"), ("secret", "SECRET/SAR")):
            ids = conn.execute(select(items.c.id).where(items.c.marking == marking)).scalars()
            out[name] = [i for i in ids if i not in world.items.get(name, [])]
    return out


def _video(world: World, which: str) -> str:
    with world.ws.db.read() as conn:
        return str(
            conn.execute(
                select(items.c.id).where(items.c.name == f"{which}.ts", items.c.parent_id.is_(None))
            ).scalar()
        )


def _none_of(text: str, ids: list[str]) -> None:
    for i in ids:
        assert i not in text


def deny_videos(world: World, client: Client) -> None:
    ids = flights(world)
    ana = client("ana").get("/api/v1/projects/fmv/videos")
    assert [v["name"] for v in ana.json()] == ["cui.ts"]
    _none_of(ana.text, ids["secret"])
    assert client("low").get("/api/v1/projects/fmv/videos").status_code == 404
    hidden = client("ana").get("/api/v1/projects/fmv-secret/videos")
    missing = client("ana").get("/api/v1/projects/fmv-nothing/videos")
    assert hidden.status_code == missing.status_code == 404


def deny_video(world: World, client: Client) -> None:
    ids = flights(world)
    c = client("ana")
    secret = c.get(f"/api/v1/projects/fmv/videos/{_video(world, 'secret')}")
    missing = c.get(f"/api/v1/projects/fmv/videos/{'0' * 64}")
    assert secret.status_code == missing.status_code == 404
    assert secret.json()["error"].replace(_video(world, "secret")[:16], "") == missing.json()[
        "error"
    ].replace("0" * 16, "")
    other = c.get(f"/api/v1/projects/fmv-secret/videos/{_video(world, 'secret')}")
    assert other.status_code == 404
    mine = c.get(f"/api/v1/projects/fmv/videos/{_video(world, 'cui')}")
    assert mine.status_code == 200 and len(mine.json()["frames"]) == 2
    _none_of(mine.text, ids["secret"])


def deny_save_tracks(world: World, client: Client) -> None:
    flights(world)
    body = {
        "client_id": str(uuid.uuid4()),
        "tracks": [{"id": 0, "label": "vehicle", "shapes": [{"frame": 0, "box": [1, 2, 3, 4]}]}],
    }
    r = client("ana").post(
        f"/api/v1/projects/fmv/videos/{_video(world, 'secret')}/tracks", json=body
    )
    assert r.status_code == 404
    with world.ws.db.read() as conn:
        assert conn.execute(select(annotations_table.c.id)).first() is None


def deny_map_layers(world: World, client: Client) -> None:
    ids = flights(world)
    frames_of = {k: [i for i in v if i != _video(world, k)] for k, v in ids.items()}
    box = [Region(kind="box", label="vehicle", box=(10, 10, 20, 20))]
    world.ws.set_labels("fmv", [LabelRecord(frames_of["cui"][0], box)])
    world.ws.set_labels("fmv-secret", [LabelRecord(frames_of["secret"][0], box)])
    labels = client("ana").get("/api/v1/map/layers").json()["labels"]["features"]
    assert [f["properties"]["item"] for f in labels] == [frames_of["cui"][0]]
    assert client("root").get("/api/v1/map/layers").json()["labels"]["features"][1:] != []
    ana = client("ana").get("/api/v1/map/layers")
    frames = [f["properties"]["item"] for f in ana.json()["items"]["features"]]
    assert len(frames) == 2 and set(frames) < set(ids["cui"])  # the frames (the video has none)
    assert [t["properties"]["frames"] for t in ana.json()["tracks"]["features"]] == [2]
    _none_of(ana.text, ids["secret"])
    low = client("low").get("/api/v1/map/layers").json()
    assert low["items"]["features"] == [] and low["tracks"]["features"] == []

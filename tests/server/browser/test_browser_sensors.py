"""The video task view and the offline map in a real Chromium, against a generated drone
flight (MPEG-TS + KLV) and a generated aerial scene. Every test fails on a request that
leaves the machine and on any JavaScript error (see `ui_site.Site`)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select
from ui_site import Held, Site, serving

from assay.domain.labels import Region
from assay.domain.schema import LabelSchema
from assay.domain.tracks import Track, TrackShape
from assay.ingest.sensors.options import ChipOptions, SensorOptions
from assay.ingest.sensors.synth import write_flight, write_scene
from assay.labeling import Workflow, add_user, create_project
from assay.labeling.marks import raise_items
from assay.store.schema import items
from assay.versioning import LabelRecord
from assay.workspace import Workspace
from cli_support import FLOOD_TRAFFIC_SCHEMA
from labeling_world import PASSWORD, World
from video_world import MOVING_TRAFFIC_SCHEMA, frame_answers

SCHEMA = FLOOD_TRAFFIC_SCHEMA


@pytest.fixture(scope="module")
def sensor_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 5 s drone flight over the town and an aerial scene of it, made once per module."""
    folder = tmp_path_factory.mktemp("sensors")
    write_flight(folder / "flight.ts", seconds=5, klv_hz=5)
    write_scene(folder / "town.tif", size=1024)
    return folder


@pytest.fixture
def sensors(ws: Workspace, sensor_files: Path, browser: Browser) -> Iterator[Site]:
    ws.ingest([sensor_files / "flight.ts"])
    chips = SensorOptions(chips=ChipOptions(size=512, overlap=0))
    ws.ingest([sensor_files / "town.tif"], sensors=chips)
    ws.create_dataset("flight")
    ws.add_items("flight", "media_type=image/jpeg")
    ws.create_dataset("chips")
    ws.add_items("chips", "media_type=image/png")
    schema = LabelSchema.from_yaml_text(SCHEMA, "s.yaml")
    create_project(ws, "traffic", schema, "flight", Workflow(overlap=1, review="all"))
    world = World(ws, "traffic")
    world.users["ana"] = add_user(ws, "ana", "annotator", "UNCLASSIFIED", PASSWORD)
    world.users["rev"] = add_user(ws, "rev", "reviewer", "UNCLASSIFIED", PASSWORD)
    with serving(ws, world, browser) as s:
        yield s


def to_screen(page: Page, x: float, y: float) -> tuple[float, float]:
    """Page coordinates of frame pixel (x, y) (the frames are 320 x 240)."""
    box = page.locator("#frame").bounding_box()
    assert box is not None
    return box["x"] + x * box["width"] / 320, box["y"] + y * box["height"] / 240


def drag(page: Page, a: tuple[float, float], b: tuple[float, float]) -> None:
    page.mouse.move(*to_screen(page, *a))
    page.mouse.down()
    page.mouse.move(*to_screen(page, (a[0] + b[0]) / 2, (a[1] + b[1]) / 2), steps=3)
    page.mouse.move(*to_screen(page, *b), steps=3)
    page.mouse.up()


def shown(page: Page) -> list[dict]:  # type: ignore[type-arg]
    return json.loads(str(page.get_attribute("#frame", "data-boxes")))  # type: ignore[no-any-return]


def at_frame(page: Page, i: int) -> None:
    expect(page.locator("#frame")).to_have_attribute("data-frame", str(i))


def test_a_track_drawn_on_two_keyframes_is_stored_interpolated(sensors: Site) -> None:
    page = sensors.page()
    sensors.login(page, "ana", "/video/traffic")
    expect(page.locator("#frame[data-ready]")).to_be_attached()
    at_frame(page, 0)
    # Telemetry and the footprint map follow the playhead.
    expect(page.locator('#telemetry dd[data-field="platform lat"]')).to_have_text("29.760400°")
    expect(page.locator('#telemetry dd[data-field="heading"]')).to_have_text("90.0°")
    expect(page.locator("#minimap")).to_have_attribute("data-frame", "0")
    first_fp = page.get_attribute("#minimap .fp-current", "points")

    drag(page, (40, 60), (100, 100))  # a new track on frame 0
    key0 = shown(page)
    assert len(key0) == 1 and key0[0]["keyframe"] is True and key0[0]["label"] == "vehicle"
    assert key0[0]["box"] == pytest.approx([40, 60, 60, 40], abs=1)

    for _ in range(4):
        page.keyboard.press("ArrowRight")
    at_frame(page, 4)
    assert page.get_attribute("#minimap .fp-current", "points") != first_fp
    held = shown(page)[0]
    assert held["keyframe"] is False and held["box"] == key0[0]["box"]
    drag(page, (70, 80), (190, 110))  # move the held box: a keyframe on frame 4
    key4 = shown(page)[0]
    assert key4["keyframe"] is True
    assert key4["box"] == pytest.approx([160, 90, 60, 40], abs=1)

    page.keyboard.press("k")  # no keyframe after 4: stays
    page.keyboard.press("Shift+K")  # previous keyframe
    at_frame(page, 0)
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    at_frame(page, 2)
    between = shown(page)[0]
    assert between["keyframe"] is False
    page.keyboard.press("Control+s")
    expect(page.locator("#status")).to_have_attribute("data-saved", "1")

    frames = frame_answers(sensors.ws)
    assert sorted(frames) == [0, 1, 2, 3, 4]
    a, b = TrackShape(0, frames[0][0]), TrackShape(4, frames[4][0])
    want = Track(0, "vehicle", (a, b)).at(2)
    assert want is not None
    got = frames[2][0]
    assert got.attributes == {"track_id": 0, "keyframe": False}
    assert got.box == want.box == tuple(between["box"])  # stored exactly as shown
    assert frames[0][0].box == tuple(key0[0]["box"]) and frames[4][0].box == tuple(key4["box"])

    # Interpolation off for the track: frame 2 holds the first keyframe's box.
    page.click("#interp-0")
    assert shown(page)[0]["box"] == key0[0]["box"]
    # The object leaves the view on frame 3 and is back on frame 4 (its keyframe).
    page.keyboard.press("ArrowRight")
    at_frame(page, 3)
    page.keyboard.press("o")
    assert shown(page) == []
    page.click("#save")
    expect(page.locator("#status")).to_have_attribute("data-saved", "2")
    again = frame_answers(sensors.ws)
    assert again[2][0].box == frames[0][0].box
    assert again[3] == [] and again[4][0].box == frames[4][0].box

    # The reviewer sees which track each frame's boxes belong to.
    review = sensors.page()
    sensors.login(review, "rev", "/review/traffic")
    expect(review.locator("#annotations .track-summary")).to_have_text(
        re.compile(r"^tracks #0 vehicle( \(keyframe\))?$")
    )


def test_the_map_shows_footprints_labels_and_scene_tiles(sensors: Site) -> None:
    ws = sensors.ws
    with ws.db.read() as conn:
        chip = conn.execute(select(items.c.id).where(items.c.name.like("town.tif#%"))).scalar()
    ws.set_labels(
        "chips",
        [LabelRecord(str(chip), [Region(kind="box", label="building", box=(10, 10, 80, 60))])],
    )
    page = sensors.page()
    tiles: list[int] = []
    page.on("response", lambda r: tiles.append(r.status) if "/tiles/" in r.url else None)
    sensors.login(page, "ana", "/map")
    expect(page.locator("#map[data-ready]")).to_be_attached()
    expect(page.locator("#counts")).to_contain_text("5 frames, 1 flight tracks, 1 labels, 1 scenes")
    expect(page.locator("#overlay .f-frame")).to_have_count(5)
    expect(page.locator("#overlay .f-track")).to_have_count(1)
    expect(page.locator("#overlay .f-label")).to_have_count(1)
    assert page.locator("#overlay .f-item").count() >= 2  # the scene and its chips
    expect(page.locator("#tiles img[data-loaded]").first).to_be_attached()
    assert 200 in tiles
    # A click on the label shows its properties.
    page.locator("#overlay .f-label").click(force=True)
    expect(page.locator("#feature")).to_contain_text("building")
    # Zoom in: new tiles at the next zoom level load too.
    z = int(str(page.get_attribute("#map", "data-zoom")))
    page.click("#zoom-in")
    expect(page.locator("#map")).to_have_attribute("data-zoom", str(z + 1))
    expect(page.locator(f'#tiles img[data-loaded][data-key*="/{z + 1}/"]').first).to_be_attached()


def test_a_checkbox_attribute_ticked_on_a_later_frame_holds_from_that_keyframe(
    sensors: Site,
) -> None:
    schema = LabelSchema.from_yaml_text(MOVING_TRAFFIC_SCHEMA, "moving.yaml")
    create_project(sensors.ws, "moving", schema, "flight", Workflow(overlap=1, review="none"))
    page = sensors.page()
    sensors.login(page, "ana", "/video/moving")
    expect(page.locator("#frame[data-ready]")).to_be_attached()
    drag(page, (40, 60), (100, 100))  # a new vehicle track on frame 0
    moving = page.locator("#attr-0-moving")
    expect(moving).not_to_be_checked()
    expect(page.locator("#attr-0-colour")).to_have_value("grey")
    assert shown(page)[0]["attributes"] == {"moving": False, "colour": "grey"}

    for _ in range(3):
        page.keyboard.press("ArrowRight")
    at_frame(page, 3)
    assert shown(page)[0]["keyframe"] is False
    moving.check()  # the vehicle starts to move here: a keyframe on frame 3 holds it
    expect(moving).to_be_checked()
    assert shown(page)[0]["keyframe"] is True
    page.select_option("#attr-0-colour", "red")  # fixed: the whole track turns red
    page.keyboard.press("ArrowLeft")
    at_frame(page, 2)
    expect(page.locator("#attr-0-moving")).not_to_be_checked()
    expect(page.locator("#attr-0-colour")).to_have_value("red")
    page.click("#save")
    expect(page.locator("#status")).to_have_attribute("data-saved", "1")

    frames = frame_answers(sensors.ws)
    assert sorted(frames) == [0, 1, 2, 3, 4]
    got = {i: (r.attributes["moving"], r.attributes["colour"]) for i, (r,) in frames.items()}
    assert got == {
        0: (False, "red"),
        1: (False, "red"),
        2: (False, "red"),
        3: (True, "red"),
        4: (True, "red"),
    }
    assert [frames[i][0].attributes["keyframe"] for i in range(5)] == [
        True,
        False,
        False,
        True,
        False,
    ]


def test_a_save_asked_for_while_one_is_on_its_way_is_stored_after_it(sensors: Site) -> None:
    page = sensors.page()
    sensors.login(page, "ana", "/video/traffic")
    expect(page.locator("#frame[data-ready]")).to_be_attached()
    held = Held(limit=1)
    page.route("**/api/v1/projects/traffic/videos/*/tracks", held)
    drag(page, (40, 60), (100, 100))
    page.keyboard.press("Control+s")
    held.wait(page)  # the first save is slow on its way
    drag(page, (150, 120), (200, 160))  # a second track, saved again meanwhile
    assert len(shown(page)) == 2
    page.keyboard.press("Control+s")
    held.release()
    expect(page.locator("#status")).to_have_attribute("data-saved", "2")
    expect(page.locator("#status")).not_to_contain_text("unsaved")
    # the newest save is the one stored last: both tracks on every frame
    assert [len(boxes) for _, boxes in sorted(frame_answers(sensors.ws).items())] == [2] * 5


def test_the_video_page_is_marked_as_its_highest_frame_and_the_projects_declaration(
    sensors: Site,
) -> None:
    # One frame raised to CUI/FLOOD among UNCLASSIFIED ones: the banner is the highest frame's
    # (it was the longest marking text: "UNCLASSIFIED"); a project declared SECRET over the same
    # frames shows SECRET/FLOOD.
    ws = sensors.ws
    with ws.db.read() as conn:
        frame = conn.execute(
            select(items.c.id).where(items.c.media_type == "image/jpeg").order_by(items.c.id)
        ).scalar()
    raise_items(ws, f"id={frame}", "CUI/FLOOD")
    add_user(ws, "sec", "annotator", "SECRET/FLOOD", PASSWORD)
    schema = LabelSchema.from_yaml_text(SCHEMA, "s.yaml")
    create_project(ws, "declared", schema, "flight", marking="SECRET")
    page = sensors.page()
    sensors.login(page, "sec", "/video/traffic")
    expect(page.locator("#frame")).to_have_attribute("data-frame", "0")
    for where in ("top", "bottom"):
        expect(page.locator(f".marking-banner.{where}")).to_have_text("CUI/FLOOD")
    page.goto(sensors.url + "/video/declared")
    expect(page.locator("#frame")).to_have_attribute("data-frame", "0")
    for where in ("top", "bottom"):
        expect(page.locator(f".marking-banner.{where}")).to_have_text("SECRET/FLOOD")

"""The live map in a real Chromium: a picture's entities arrive over server-sent events, move
when a new version is saved, and open their provenance (the frame with its box, the model, the
commit). Fails on any request leaving the machine and on any JavaScript error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select
from ui_site import Held, Site, answer_read, record_answers, serving

from assay.domain.entity import Entity, Provenance, TrackPoint
from assay.domain.schema import LabelSchema
from assay.fusion import pictures
from assay.ingest.sensors.synth import write_flight
from assay.labeling import Workflow, add_user, create_project
from assay.labeling.prelabel import prelabel
from assay.models import CallableDetector
from assay.store.schema import annotations_table, items
from assay.workspace import Workspace
from labeling_world import PASSWORD, World

SCHEMA = "title: Traffic\ncontrols:\n  - {name: label, type: boxes, labels: [vehicle]}\n"


@pytest.fixture
def live_site(ws: Workspace, tmp_path: Path, browser: Browser) -> Iterator[Site]:
    write_flight(tmp_path / "flight.ts", seconds=2, klv_hz=5)
    ws.ingest([tmp_path / "flight.ts"])
    ws.create_dataset("flight")
    ws.add_items("flight", "media_type=image/jpeg")
    world = World(ws, "flight")
    world.users["ana"] = add_user(ws, "ana", "annotator", "CUI", PASSWORD)
    with serving(ws, world, browser) as s:
        yield s


def _entity(eid: str, label: str, cot: str, lon: float, **kw: object) -> Entity:
    data: dict[str, object] = dict(
        id=eid, label=label, cot_type=cot, lon=lon, lat=29.7604,
        covariance=(400.0, 100.0, 100.0), velocity=(3.0, 0.0),
        first_seen="2026-07-25T17:20:00Z", last_seen="2026-07-25T17:20:04Z",
        confidence=0.8, status="confirmed", detections=3, sensors=("drone-1",),
        track=(TrackPoint(time="2026-07-25T17:20:00Z", lon=lon - 0.0004, lat=29.7603),
               TrackPoint(time="2026-07-25T17:20:04Z", lon=lon, lat=29.7604)),
    )  # fmt: skip
    data.update(kw)
    return Entity.model_validate(data)


def test_the_map_follows_a_picture_live_and_opens_an_entitys_provenance(live_site: Site) -> None:
    ws = live_site.ws
    with ws.db.read() as conn:
        frame = str(
            conn.execute(
                select(items.c.id).where(items.c.media_type == "image/jpeg").order_by(items.c.id)
            ).scalar()
        )
    # A detector's boxes on the frames (model annotations), and a commit of the dataset.
    schema = LabelSchema.from_yaml_text(SCHEMA, "s.yaml")
    create_project(ws, "traffic", schema, "flight", Workflow(overlap=1))
    detector = CallableDetector(
        lambda batch: [[((100, 80, 40, 30), 0.9, "vehicle")] for _ in batch], ["vehicle"]
    )
    prelabel(ws, "traffic", model=detector, name="flood-boxes@3")
    commit = ws.commit("flight", "frames of the first scan")
    with ws.db.read() as conn:
        ann = str(
            conn.execute(
                select(annotations_table.c.id).where(annotations_table.c.item_id == frame)
            ).scalar()
        )
    prov = Provenance(
        items=(frame,), annotations=(ann,), models=("model:flood-boxes@3",), commits=(commit.id,)
    )
    car = _entity("ent-00000000000a", "vehicle", "a-u-G-E-V-C", -95.3698, provenance=prov)
    person = _entity("ent-00000000000b", "person", "a-u-G-U-C", -95.3690, marking="CUI")
    hidden = _entity("ent-00000000000c", "boat", "a-u-S-X", -95.3694, marking="SECRET")
    pictures.save(ws, "town", [car, person, hidden], message="first scan")

    page = live_site.page()
    live_site.login(page, "ana", "/map?picture=town")
    mapview = page.locator("#map")
    expect(mapview).to_have_attribute("data-version", "1")
    expect(page.locator("#overlay g.entity")).to_have_count(2)
    expect(page.locator("#overlay .sym-vehicle")).to_have_count(1)
    expect(page.locator("#overlay .sym-person")).to_have_count(1)
    expect(page.locator("#overlay .f-ellipse")).to_have_count(2)
    expect(page.locator("#overlay .f-entity-track")).to_have_count(2)
    expect(page.locator(".marking-banner.top")).to_have_text("CUI")
    assert "ent-00000000000c" not in page.content()
    before = page.get_attribute('#overlay g.entity[data-id="ent-00000000000a"] rect', "x")

    # A new version: the car moved east, the person is gone, a boat anyone may see appeared.
    moved = car.model_copy(update={"lon": -95.3680})
    boat = _entity("ent-00000000000d", "boat", "a-u-S-X", -95.3700)
    pictures.save(ws, "town", [moved, boat, hidden], message="second scan")
    expect(mapview).to_have_attribute("data-version", "2")
    expect(page.locator("#overlay g.entity")).to_have_count(2)
    expect(page.locator("#overlay .sym-other")).to_have_count(1)
    expect(page.locator("#overlay .sym-person")).to_have_count(0)
    after = page.get_attribute('#overlay g.entity[data-id="ent-00000000000a"] rect', "x")
    assert float(str(after)) > float(str(before))
    expect(page.locator(".marking-banner.top")).to_have_text("UNCLASSIFIED")

    # Click-through: the frame with its box, the model version, the commit.
    page.locator('#overlay g.entity[data-id="ent-00000000000a"] rect').click(force=True)
    expect(page.locator("#feature")).to_contain_text("model:flood-boxes@3")
    expect(page.locator("#feature")).to_contain_text(prov.commits[0])
    expect(page.locator(f'#entity-frames figure[data-item="{frame}"] .frame-box')).to_have_count(1)
    img = page.locator("#entity-frames img")
    expect(img).to_have_js_property("complete", True)
    assert int(str(img.evaluate("i => i.naturalWidth"))) > 0


def test_the_entity_clicked_last_is_shown_when_an_earlier_ones_answer_lands_later(
    live_site: Site,
) -> None:
    car = _entity("ent-00000000000a", "vehicle", "a-u-G-E-V-C", -95.3698)
    person = _entity("ent-00000000000b", "person", "a-u-G-U-C", -95.3690)
    pictures.save(live_site.ws, "town", [car, person], message="first scan")
    page = live_site.page()
    record_answers(page)
    live_site.login(page, "ana", "/map?picture=town")
    expect(page.locator("#overlay g.entity")).to_have_count(2)
    held = Held()
    page.route(f"**/api/v1/pictures/town/entities/{car.id}", held)
    page.locator(f'#overlay g.entity[data-id="{car.id}"] rect').click(force=True)
    held.wait(page)  # the car's provenance is slow to come
    page.locator(f'#overlay g.entity[data-id="{person.id}"] circle').click(force=True)
    feature = page.locator("#feature")
    expect(feature).to_contain_text(person.id)
    held.release()
    answer_read(page, f"/entities/{car.id}")
    expect(feature).to_contain_text(person.id)
    expect(feature).not_to_contain_text(car.id)

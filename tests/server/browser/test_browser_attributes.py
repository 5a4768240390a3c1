"""Declared shape attributes on the image label page, in a real Chromium: one control per
attribute under the selected shape, defaults on a new shape, values saved with it and shown
again when the task is reopened, and values the server would refuse named in the page."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update
from ui_site import Site, drag, image_to_screen, next_task_shown, task_id

from assay.domain.schema import LabelSchema
from assay.labeling import Workflow, create_project
from assay.store.schema import projects
from assay.versioning import LabelRecord
from labeling_world import box

SURVEY_YAML = """
title: Damage survey
controls:
  - name: label
    type: boxes
    attributes:
      - {name: flooded, type: checkbox}
    labels:
      - name: building
        attributes:
          - {name: floors, type: number, min: 1, max: 40, default: 1}
          - {name: roof, type: select, values: [intact, damaged, gone], default: intact}
          - {name: access, type: radio, values: [road, boat, air]}
          - {name: note, type: text}
      - name: vehicle
"""


def survey(site: Site, workflow: Workflow | None = None) -> Page:
    schema = LabelSchema.from_yaml_text(SURVEY_YAML, "survey.yaml")
    workflow = workflow or Workflow(overlap=1, review="none")
    create_project(site.ws, "damage", schema, "flood", workflow)
    page = site.page()
    site.login(page, "ana", "/label/damage")
    return page


def test_attributes_of_a_drawn_box_are_set_saved_and_shown_again(site: Site) -> None:
    page = survey(site)
    first = task_id(page)
    drag(page, image_to_screen(page, 4, 4), image_to_screen(page, 20, 16))
    attrs = page.locator(".region-attrs")
    expect(attrs).to_contain_text("Attributes of building (label 1)")
    # a new shape starts with every declared attribute at its default
    expect(page.locator("#attr-flooded")).not_to_be_checked()
    expect(page.locator("#attr-floors")).to_have_value("1")
    expect(page.locator("#attr-roof")).to_have_value("intact")
    expect(page.locator("#attr-access-0")).to_be_checked()
    expect(page.locator("#attr-note")).to_have_value("")

    page.focus("#attr-flooded")
    page.keyboard.press(" ")  # the field's own keys, not the editor's (space pans there)
    expect(page.locator("#attr-flooded")).to_be_checked()
    page.keyboard.press("Tab")  # next field, not the next shape
    expect(page.locator("#attr-floors")).to_be_focused()
    page.fill("#attr-floors", "45")
    page.keyboard.press("Tab")  # leaving the field stores the value; the focus moves on
    problem = attrs.locator("[data-attr=floors] ~ .attr-problem")
    expect(problem).to_have_text("45 is above the maximum 40")
    expect(page.locator("#attr-roof")).to_be_focused()
    page.click("#submit")
    status = page.locator("#status")
    expect(status).to_have_text(
        "Not submitted: building (label 1): attribute 'floors': 45 is above the maximum 40"
    )
    expect(status).to_have_attribute("data-kind", "error")
    assert task_id(page) == first and site.annotations("damage") == []

    page.fill("#attr-floors", "3")
    page.keyboard.press("Tab")
    expect(problem).to_be_hidden()
    page.select_option("#attr-roof", "damaged")
    page.focus("#attr-access-0")
    page.keyboard.press("ArrowDown")  # boat: the radio's arrow, not a nudge of the shape
    expect(page.locator("#attr-access-1")).to_be_checked()
    page.fill("#attr-note", "family on the roof")
    page.keyboard.press("Control+Enter")  # submits while typing, with the typed note
    next_task_shown(page, first)

    [ann] = site.annotations("damage")
    [box] = ann["regions"]
    assert box["label"] == "building"
    assert box["box"] == pytest.approx([4, 4, 16, 12], abs=0.5)  # no key moved it
    assert box["attributes"] == {
        "flooded": True,
        "floors": 3,
        "roof": "damaged",
        "access": "boat",
        "note": "family on the roof",
    }

    # reopened from the history, the shape's controls show what was saved
    page.keyboard.press("h")
    page.locator("#history-list li button").first.click()
    page.wait_for_selector(f"#stage[data-amending='{first}']")
    page.locator("[data-control=label] .region-list li").first.click()
    expect(page.locator("#attr-flooded")).to_be_checked()
    expect(page.locator("#attr-floors")).to_have_value("3")
    expect(page.locator("#attr-roof")).to_have_value("damaged")
    expect(page.locator("#attr-access-1")).to_be_checked()
    expect(page.locator("#attr-note")).to_have_value("family on the roof")


def test_relabelling_a_box_swaps_the_label_attributes(site: Site) -> None:
    page = survey(site)
    drag(page, image_to_screen(page, 4, 4), image_to_screen(page, 20, 16))
    page.locator("#attr-flooded").check()
    page.locator("[data-control=label] .region-list li").first.click()
    page.click("[data-control=label] [data-label=vehicle]")
    # the control's own attribute stays; building's go with the label
    expect(page.locator(".region-attrs")).to_contain_text("Attributes of vehicle (label 1)")
    expect(page.locator("#attr-flooded")).to_be_checked()
    expect(page.locator("#attr-floors")).to_have_count(0)
    first = task_id(page)
    page.click("#submit")
    next_task_shown(page, first)
    [ann] = site.annotations("damage")
    assert [(r["label"], r["attributes"]) for r in ann["regions"]] == [
        ("vehicle", {"flooded": True})
    ]


def test_a_value_the_server_refuses_is_named_in_the_page(site: Site) -> None:
    page = survey(site)
    first = task_id(page)
    drag(page, image_to_screen(page, 4, 4), image_to_screen(page, 20, 16))
    page.fill("#attr-floors", "30")
    page.keyboard.press("Tab")
    # the project's schema allows fewer floors now than when the page loaded it
    tighter = LabelSchema.from_yaml_text(SURVEY_YAML.replace("max: 40", "max: 20"), "s.yaml")
    with site.ws.db.begin() as conn:
        conn.execute(
            update(projects)
            .where(projects.c.name == "damage")
            .values(schema=tighter.model_dump_json())
        )
    page.click("#submit")
    expect(page.locator("#status")).to_have_text(
        "Refused by the server: regions[0] (building): attribute 'floors': 30 is above the "
        "maximum 20 (the answer is kept in this browser)"
    )
    expect(page.locator("#pending")).to_have_text("1 failed")
    assert site.annotations("damage") == []
    # the task is still ana's: it comes back, to answer again under the schema of today
    assert task_id(page) == first


def test_a_label_of_record_shows_defaults_and_untouched_stays_its_authors(site: Site) -> None:
    visible = site.world.items["public"] + site.world.items["cui"]
    old = box(4, 4, 10, 8).model_copy(update={"author": "user:cy", "attributes": {"floors": 2}})
    records = [LabelRecord(i, [old], [f"a-{i[:6]}"], ["user:cy"]) for i in visible]
    site.ws.set_labels("flood", records)
    page = survey(site, Workflow(from_labels=True))
    first = task_id(page)
    page.locator("[data-control=label] .region-list li.pre").click()
    # what it states, and the defaults of what it does not (as the server reads them)
    expect(page.locator("#attr-floors")).to_have_value("2")
    expect(page.locator("#attr-roof")).to_have_value("intact")
    expect(page.locator("#attr-flooded")).not_to_be_checked()
    page.click("#submit")
    next_task_shown(page, first)
    [ann] = site.annotations("damage")
    [kept] = ann["regions"]
    assert (kept["author"], kept["attributes"]) == ("user:cy", {"floors": 2})

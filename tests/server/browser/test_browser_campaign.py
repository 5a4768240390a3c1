"""Issue 13's traps in a real Chromium: required answers, class keys after drawing,
pre-annotations from labels of record, Markdown instructions, navigation and amendments,
HTML error pages, and the UI details."""

from __future__ import annotations

import json

from playwright.sync_api import Page, expect
from ui_site import STRICT_YAML, TRIAGE_YAML, Site, drag, image_to_screen, next_task_shown, task_id

from assay.domain.labels import Region
from assay.domain.schema import LabelSchema
from assay.labeling import Workflow, create_project, decide, next_task, review_next, submit
from assay.versioning import LabelRecord
from labeling_world import SCHEMA_YAML, box


def _labels(page: Page, control: str = "label") -> list[str]:
    return page.locator(f"[data-control={control}] .region-list .region-label").all_inner_texts()


def test_an_incomplete_answer_is_not_submitted_and_the_reason_is_shown(site: Site) -> None:
    schema = LabelSchema.from_yaml_text(STRICT_YAML, "strict.yaml")
    create_project(site.ws, "strict", schema, "flood", Workflow())
    page = site.page()
    site.login(page, "ana", "/label/strict")
    first = task_id(page)
    expect(page.locator("[data-control=damage] .required")).to_have_text("required")
    page.keyboard.press("Enter")  # a stray Enter: nothing chosen yet
    expect(page.locator("#status")).to_have_text("Not submitted: damage is required")
    expect(page.locator("section.control[data-control=damage]")).to_have_class("control missing")
    # The key press that shows this status would have queued the answer (and disabled Submit)
    # before it returned: nothing queued, nothing went out (no fixed wait for one on its way)
    assert page.locator("#submit").is_enabled()
    assert page.evaluate("() => localStorage.getItem('assay.outbox.v1.ana')") in (None, "[]")
    assert site.annotations("strict") == [] and task_id(page) == first
    page.keyboard.press("4")  # minor (keys: building 1, vehicle 2, none 3, minor 4, ...)
    page.keyboard.press("Enter")
    next_task_shown(page, first)
    [ann] = site.annotations("strict")
    assert [r["label"] for r in ann["regions"]] == ["minor"]


def test_a_class_key_after_drawing_sets_the_next_shape_and_relabels_only_a_chosen_one(
    site: Site,
) -> None:
    page = site.page()
    site.login(page, "ana", "/label/triage")
    task_id(page)
    drag(page, image_to_screen(page, 2, 2), image_to_screen(page, 14, 12))
    page.keyboard.press("2")  # right after drawing: the class of the NEXT box
    expect(page.locator("[data-control=label] .region-list li")).to_have_count(1)
    assert _labels(page) == ["building"]
    drag(page, image_to_screen(page, 24, 14), image_to_screen(page, 40, 28))
    expect(page.locator("[data-control=label] .region-list li")).to_have_count(2)
    assert _labels(page) == ["building", "vehicle"]
    # relabelling needs an explicit selection: a click ...
    page.mouse.click(*image_to_screen(page, 8, 7))
    page.keyboard.press("2")
    expect(page.locator("[data-control=label] .region-list .region-label").first).to_have_text(
        "vehicle"
    )
    # ... or Tab, which walks the shapes of the drawing control
    page.keyboard.press("Escape")
    page.keyboard.press("Tab")  # the first box
    page.keyboard.press("Tab")  # the second box
    page.keyboard.press("1")
    expect(page.locator("[data-control=label] .region-list .region-label")).to_have_text(
        ["vehicle", "building"]
    )
    page.keyboard.press("?")
    help_text = page.locator("[role=dialog][aria-label='Keyboard shortcuts']").inner_text()
    assert "NEXT shape" in help_text and "click or Tab" in help_text


def test_labels_of_record_are_shown_for_correction(site: Site) -> None:
    ws = site.ws
    visible = site.world.items["public"] + site.world.items["cui"]
    old = box(4, 4, 10, 8).model_copy(update={"author": "user:cy"})
    ws.set_labels("flood", [LabelRecord(i, [old], [f"a-{i[:6]}"], ["user:cy"]) for i in visible])
    triage = LabelSchema.from_yaml_text(TRIAGE_YAML, "triage.yaml")
    create_project(ws, "fix", triage, "flood", Workflow(from_labels=True))
    page = site.page()
    site.login(page, "ana", "/label/fix")
    first = task_id(page)
    pre = page.locator("[data-control=label] .region-list li.pre")
    expect(pre).to_have_count(1)
    expect(pre.locator(".badge")).to_have_text("record")
    drag(page, image_to_screen(page, 24, 14), image_to_screen(page, 40, 28))  # a missed one
    page.keyboard.press("Enter")
    next_task_shown(page, first)
    [ann] = site.annotations("fix")
    authors = sorted((r["author"], tuple(r["box"])) for r in ann["regions"] if r["kind"] == "box")
    assert authors[0][0] == "user:ana" and authors[1] == ("user:cy", (4, 4, 10, 8))


def test_instructions_are_markdown_and_remote_images_never_load(site: Site) -> None:
    text = "## How to\n\nBox **every** building.\n\n![pixel](http://198.51.100.9/p.png)\n"
    triage = LabelSchema.from_yaml_text(TRIAGE_YAML, "triage.yaml")
    create_project(site.ws, "md", triage, "flood", Workflow(), instructions=text)
    page = site.page()
    site.login(page, "ana", "/label/md")
    task_id(page)
    page.click("#instructions summary")
    box_ = page.locator(".instructions-text")
    expect(box_.locator("h2")).to_have_text("How to")
    expect(box_.locator("strong")).to_have_text("every")
    expect(box_.locator(".remote-image")).to_contain_text("image not shown: pixel")
    assert box_.locator("img").count() == 0  # the site fixture also fails on any foreign request


def test_the_instructions_are_reachable_from_the_keyboard(site: Site) -> None:
    # Tab belongs to the editor (shapes, then controls, round and round): I opens the
    # instructions and focuses them, I or Esc gives the keys back to the editor.
    page = site.page()
    site.login(page, "ana", "/label/triage")
    first = task_id(page)
    box_ = page.locator("#instructions")
    for _ in range(12):
        page.keyboard.press("Tab")
    expect(box_).not_to_have_attribute("open", "")
    page.keyboard.press("i")
    expect(box_).to_have_attribute("open", "")
    expect(box_.locator("summary")).to_be_focused()
    expect(box_.locator(".instructions-text")).to_contain_text("Box every building")
    page.keyboard.press("2")  # a label key while reading: not the editor's
    page.keyboard.press("Escape")
    expect(box_).not_to_have_attribute("open", "")
    expect(box_.locator("summary")).not_to_be_focused()
    page.keyboard.press("i")
    expect(box_).to_have_attribute("open", "")
    page.keyboard.press("i")
    expect(box_).not_to_have_attribute("open", "")
    # the 2 pressed while reading did not choose the next shape's class; the editor's keys
    # are its own again
    drag(page, image_to_screen(page, 2, 2), image_to_screen(page, 14, 12))
    expect(page.locator("[data-control=label] .region-list .region-label")).to_have_text(
        ["building"]
    )
    page.keyboard.press("Tab")
    page.keyboard.press("2")
    expect(page.locator("[data-control=label] .region-list .region-label")).to_have_text(
        ["vehicle"]
    )
    page.keyboard.press("?")
    help_text = page.locator("[role=dialog][aria-label='Keyboard shortcuts']").inner_text()
    assert "the instructions" in help_text
    assert task_id(page) == first


def test_task_n_of_m_history_and_amending_a_submitted_task(site: Site) -> None:
    page = site.page()
    site.login(page, "ana", "/label/triage")
    first = task_id(page)
    expect(page.locator("#progress")).to_have_text("task 1 of 8")  # ana sees 8 of the 9 items
    drag(page, image_to_screen(page, 2, 2), image_to_screen(page, 14, 12))
    page.keyboard.press("Enter")
    second = next_task_shown(page, first)
    expect(page.locator("#progress")).to_have_text("task 2 of 8")
    page.keyboard.press("h")
    entries = page.locator("#history-list li")
    expect(entries).to_have_count(1)
    entries.first.locator("button").click()
    page.wait_for_selector(f"#stage[data-amending='{first}']")
    regions = page.locator("[data-control=label] .region-list li")
    expect(regions).to_have_count(1)  # the answer as submitted
    drag(page, image_to_screen(page, 24, 14), image_to_screen(page, 40, 28))
    expect(regions).to_have_count(2)
    page.keyboard.press("Enter")  # saves the amendment, back to the waiting task
    page.wait_for_selector("#stage:not([data-amending])")
    assert task_id(page) == second
    expect(page.locator("#pending")).to_be_hidden()
    expect(page.locator("#progress")).to_have_text("task 2 of 8")
    old, new = site.annotations("triage")
    assert new["supersedes"] == old["id"] and new["author"] == old["author"] == "user:ana"
    assert len([r for r in new["regions"] if r["kind"] == "box"]) == 2
    assert site.assignment(first).annotation_id == new["id"]
    page.keyboard.press("h")
    expect(entries.first).to_contain_text("amended")


def test_the_history_shows_a_rejected_answer_and_why(site: Site) -> None:
    # A rejected answer vanished from the annotator's history list.
    ws, users = site.ws, site.world.users
    for n in range(2):
        lease = next_task(ws, users["ana"], "triage")
        assert lease is not None
        submit(ws, users["ana"], lease.task_id, f"hist-{n}", [box(2, 2, 8, 8)])
    task = review_next(ws, users["rev"], "triage")
    assert task is not None
    target = task["annotations"][0]["id"]
    decide(ws, users["rev"], task["task_id"], "rej-1", "reject", annotation_id=target,
           comment="the box misses the roof")  # fmt: skip
    page = site.page()
    site.login(page, "ana", "/label/triage")
    task_id(page)
    page.keyboard.press("h")
    entries = page.locator("#history-list li")
    expect(entries).to_have_count(2)
    rejected = page.locator("#history-list li[data-rejected]")
    expect(rejected).to_have_count(1)
    expect(rejected.locator(".rejected-mark")).to_have_text("rejected")
    expect(rejected.locator(".review-comment")).to_contain_text("the box misses the roof")
    expect(rejected.locator("button")).to_be_disabled()  # the reviewer's decision stands
    expect(page.locator("#history-list li:not([data-rejected]) button")).to_be_enabled()


def test_text_tasks_show_the_items_metadata(site: Site) -> None:
    page = site.page()
    site.login(page, "ana", "/label/reports")
    page.wait_for_selector(".text-view")
    meta = page.locator("#item-meta")
    expect(meta).to_be_visible()
    keys = meta.locator("dt").all_inner_texts()
    assert "line" in keys and "path" in keys and "responses" not in keys


def test_browser_pages_show_html_errors(site: Site) -> None:
    page = site.page()
    site.login(page, "ana", "/")
    page.goto(site.url + "/dashboard/triage")
    expect(page.locator("h1")).to_have_text("Not allowed")
    expect(page.locator(".error-card a[href='/']")).to_be_visible()
    page.goto(site.url + "/label/nope")
    expect(page.locator("h1")).to_have_text("Not found")
    assert "{" not in page.locator("body").inner_text()


def test_ui_details(site: Site) -> None:
    ws = site.ws
    # colours: an automatic colour never repeats a chosen one; letter keys shown in capitals
    page = site.page()
    site.login(page, "man", "/")
    colours = page.evaluate(
        """async () => {
          const { normalizeSchema } = await import('/static/js/schema.js');
          const s = normalizeSchema({ controls: [{ name: 'c', type: 'boxes', labels: [
            { name: 'a', color: '#3cb44b' }, 'b', 'c', { name: 'd', color: '#e6194b' }] }] });
          return s.controls[0].labels.map((l) => l.color.toLowerCase());
        }"""
    )
    assert len(set(colours)) == 4, colours
    # projects without review: no Review link, no review tiles; titles that collide show names
    survey = LabelSchema.from_yaml_text(SCHEMA_YAML, "survey.yaml")
    create_project(ws, "survey-north", survey, "flood", Workflow())
    page.reload()
    expect(page.locator("[data-project=reports] a", has_text="Review")).to_have_count(0)
    expect(page.locator("[data-project=triage] a", has_text="Review")).to_have_count(1)
    expect(page.locator("[data-project=survey-north] .project-name")).to_have_text(
        "Flood damage survey — survey-north"
    )
    page.goto(site.url + "/dashboard/reports")
    expect(page.locator(".kpi[data-kpi=throughput] .kpi-label")).to_have_text(
        "submitted in the last hour"
    )
    expect(page.locator(".kpi[data-kpi=review-pending]")).to_have_count(0)
    page.goto(site.url + "/label/survey")
    task_id(page)
    expect(page.locator("[data-control=label] [data-label=building] kbd")).to_have_text("B")

    # review: two annotators' boxes on the same corner, their choices side by side
    triage = LabelSchema.from_yaml_text(TRIAGE_YAML, "triage.yaml")
    create_project(ws, "pair", triage, "flood", Workflow(overlap=2, review="all"))
    users = site.world.users
    lease = next_task(ws, users["ana"], "pair")
    assert lease is not None
    for name, damage in (("ana", "minor"), ("root", "destroyed")):
        got = next_task(ws, users[name], "pair")
        assert got is not None and got.task_id == lease.task_id
        answer = [box(4, 4, 20, 12), Region(kind="choice", control="damage", label=damage)]
        submit(ws, users[name], got.task_id, f"pair-{name}", answer)
    page.goto(site.url + "/review/pair")
    task_id(page)
    expect(page.locator("#annotations li dl.answers dd")).to_have_text(["minor", "destroyed"])
    page.wait_for_selector("canvas.image-canvas[data-tags]")
    tags = json.loads(str(page.get_attribute("canvas.image-canvas", "data-tags")))
    assert len(tags) == 2
    (ax, ay, aw, ah), (bx, by, bw, bh) = tags
    assert not (ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah), tags

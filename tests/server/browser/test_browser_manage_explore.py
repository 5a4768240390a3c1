"""The data manager and the dataset explorer in a real Chromium: filter, open, bulk action,
item view, revision diff. The `site` fixture fails a test on any request that leaves the
machine and on any JavaScript error."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Route, expect
from sqlalchemy import select
from ui_site import Site

from assay.labeling import add_user, next_task, skip_task, submit
from assay.store.schema import assignments, tasks, users
from assay.versioning import LabelRecord
from labeling_world import HIDDEN, PASSWORD, box

SWEEP = HIDDEN["dataset"]  # every item of the world, the SECRET/SAR one too

# A manager cleared for every item of the test world (its `man` is not cleared for the
# SECRET/SAR item, so `sar-sweep` and `sar-ops` are hidden from him).
BOSS = "boss"


def _boss(site: Site) -> None:
    add_user(site.ws, BOSS, "manager", "TOP SECRET/FLOOD/SAR", PASSWORD)


def test_a_slower_earlier_load_never_puts_back_the_rows_it_asked_for(site: Site) -> None:
    # Clearing the filters while a filtered load is still on its way (as after a bulk action):
    # the list is what the newest request answered, whichever answer comes last.
    _boss(site)
    root = site.world.users["root"]
    lease = next_task(site.ws, root, "triage")
    assert lease is not None
    submit(site.ws, root, lease.task_id, "slow-0", [box(2, 2, 8, 8, "vehicle")])
    page = site.page()
    site.login(page, BOSS, "/manage/triage")
    rows = page.locator("#tasks tbody tr")
    expect(rows).to_have_count(8)
    page.select_option("select[name=status]", "done")
    held: list[Route] = []
    page.route(re.compile(r"/tasks\?.*status=done"), lambda route: held.append(route))
    page.click("#apply")
    for _ in range(200):  # the route handler runs while playwright waits
        if held:
            break
        page.wait_for_timeout(25)
    assert len(held) == 1
    page.click("button[type=reset]")
    expect(rows).to_have_count(8)
    with page.expect_response(re.compile(r"/tasks\?.*status=done")):
        held[0].continue_()
    page.wait_for_timeout(300)  # the stale answer has been read and dropped
    expect(rows).to_have_count(8)
    expect(page.locator("#count")).to_contain_text("8 task(s) match")


def test_data_manager_filters_opens_a_task_and_acts_in_bulk(site: Site) -> None:
    _boss(site)
    root = site.world.users["root"]
    answered = []
    for n in range(4):
        lease = next_task(site.ws, root, "triage")
        assert lease is not None
        label = "vehicle" if n == 0 else "building"
        submit(site.ws, root, lease.task_id, f"dm-{n}", [box(2, 2, 8, 8, label)])
        answered.append(lease.task_id)
    lease = next_task(site.ws, site.world.users["ana"], "triage")
    assert lease is not None
    skip_task(site.ws, site.world.users["ana"], lease.task_id, str(uuid.uuid4()), "too blurry")

    page = site.page()
    site.login(page, BOSS, "/manage/triage")
    rows = page.locator("#tasks tbody tr")
    expect(rows).to_have_count(8)
    expect(page.locator("#count")).to_contain_text("8 task(s) match")
    expect(page.locator(".marking-banner.top")).to_have_text("CUI/FLOOD")

    # status and class filters run on the server
    page.select_option("select[name=status]", "done")
    page.click("#apply")
    expect(rows).to_have_count(4)
    page.select_option("#f-label", "vehicle")
    page.click("#apply")
    expect(rows).to_have_count(1)
    assert "label=vehicle" in page.url
    page.click("button[type=reset]")
    page.fill("input[name=skip_reason]", "blurry")
    page.click("#apply")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("too blurry")

    # open a task: the answer, its author and the item with the drawn box
    page.fill("input[name=skip_reason]", "")
    page.select_option("select[name=status]", "done")
    page.click("#apply")
    expect(rows).to_have_count(4)
    rows.first.locator("button.open-task").click()
    view = page.locator("#task-view")
    expect(view).to_be_visible()
    expect(view.locator("#task-annotations li").first).to_contain_text("user:root")
    expect(view.locator("svg.overlay rect")).to_have_count(1)

    # bulk: reset two of them to the queue, reassign one to ana, mark one as gold
    page.locator("#tasks tbody tr").nth(0).locator("input[type=checkbox]").check()
    page.locator("#tasks tbody tr").nth(1).locator("input[type=checkbox]").check()
    page.click("#bulk-reset")
    expect(page.locator("#bulk-result")).to_contain_text("reset: 2 task(s) done")
    expect(rows).to_have_count(2)  # still filtered on done
    page.locator("#tasks tbody tr").nth(0).locator("input[type=checkbox]").check()
    page.click("#bulk-gold")
    expect(page.locator("#bulk-result")).to_contain_text("gold: 1 task(s) done")
    page.click("button[type=reset]")
    expect(rows).to_have_count(8)
    page.locator("#tasks tbody tr").nth(7).locator("input[type=checkbox]").check()
    page.select_option("#reassign-to", "ana")
    page.click("#bulk-reassign")
    expect(page.locator("#bulk-result")).to_contain_text("reassign: 1 task(s) done")

    with site.ws.db.read() as conn:
        states = dict(
            conn.execute(select(tasks.c.id, tasks.c.done).where(tasks.c.id.in_(answered))).all()
        )
        gold = conn.execute(select(tasks.c.id).where(tasks.c.is_gold == 1)).scalars().all()
        ana_leases = (
            conn.execute(
                select(assignments.c.task_id)
                .join(users, users.c.id == assignments.c.user_id)
                .where(users.c.name == "ana", assignments.c.state == "leased")
            )
            .scalars()
            .all()
        )
    assert sorted(states.values()) == [0, 0, 1, 1]
    assert len(gold) == 1 and gold[0] in answered
    assert len(ana_leases) == 1
    actions = [e.action for e in site.ws.audit_log()]
    assert {"tasks.reset", "tasks.gold", "tasks.reassign"} <= set(actions)


ATTRIBUTES_YAML = """
controls:
  - name: label
    type: boxes
    attributes: [{name: moving, type: checkbox}]
    labels:
      - building
      - vehicle
      - name: boat
        attributes:
          - {name: hull, type: select, values: [wood, steel], mutable: false}
"""


def test_manager_creates_a_project_with_a_live_schema_preview(site: Site) -> None:
    site.ws.create_dataset("pub")
    site.ws.add_items("pub", "name~scene_0*")
    site.ws.commit("pub", "public scenes")
    page = site.page()
    site.login(page, "man", "/projects/new")
    options = page.locator("#p-dataset option")
    expect(options).to_have_count(3)  # sar-sweep is above man's clearance
    assert sorted(options.evaluate_all("os => os.map(o => o.value)")) == ["flood", "pub", "reports"]
    page.select_option("#p-dataset", "pub")
    preview = page.locator("#schema-preview")
    expect(preview.locator(".control")).to_have_count(2)
    page.fill("#p-schema", "controls:\n  - name: damage\n    type: choicez\n")
    expect(preview.locator(".error")).to_contain_text("type")
    page.fill(
        "#p-schema",
        "controls:\n  - name: label\n    type: boxes\n    labels: [building, vehicle, boat]\n",
    )
    expect(preview.locator(".preview-chip")).to_have_count(3)
    expect(preview.locator(".attributes-preview")).to_have_count(0)
    page.fill("#p-schema", ATTRIBUTES_YAML)
    expect(preview.locator(".attributes-preview")).to_have_text(
        "attributes: moving (checkbox), hull (select, fixed; boat)"
    )
    page.fill("#p-name", "pub-boxes")
    page.select_option("#p-revision", index=1)
    page.fill("#w-overlap", "2")
    page.click("#create")
    page.wait_for_url("**/manage/pub-boxes**")
    expect(page.locator("#tasks tbody tr")).to_have_count(6)

    page.goto(site.url + "/projects/new")
    page.fill("#u-name", "cara")
    page.fill("#u-clearance", "CUI/FLOOD")
    page.fill("#u-password", "long enough pass")
    page.click("#add-user")
    expect(page.locator("#users li[data-user=cara]")).to_be_visible()


def test_explorer_grid_filter_item_view_and_diff(site: Site) -> None:
    _boss(site)
    ws, world = site.ws, site.world
    ids = sorted(world.items["public"] + world.items["cui"] + world.items["secret"])
    ws.set_labels(
        SWEEP,
        [
            LabelRecord(i, [box(2, 2, 10, 8, "vehicle" if n % 3 == 0 else "building")])
            for n, i in enumerate(ids)
        ],
    )
    ws.commit(SWEEP, "first boxes")
    ws.tag(SWEEP, "HEAD", "v1")
    ws.set_labels(SWEEP, [LabelRecord(ids[1], [box(2, 2, 10, 8, "vehicle")])])  # relabel
    ws.set_labels(SWEEP, [LabelRecord(ids[2], [box(4, 3, 10, 8, "building")])])  # move
    ws.commit(SWEEP, "fixes")
    ws.tag(SWEEP, "HEAD", "v2")

    page = site.page()
    site.login(page, BOSS, f"/explore/{SWEEP}?rev=v2")
    cells = page.locator("#grid-space .cell")
    expect(cells).to_have_count(len(ids))
    expect(page.locator(".marking-banner.bottom")).to_have_text("SECRET/FLOOD/SAR")
    page.wait_for_function("() => document.body.dataset.firstScreenMs !== undefined")
    first_screen = page.evaluate("() => document.body.dataset.firstScreenMs")
    print(f"explorer first screen of thumbnails: {first_screen} ms")
    expect(cells.first.locator("svg.overlay rect")).to_have_count(1)
    expect(cells.first.locator("img")).to_have_js_property("complete", True)

    page.select_option("#f-label", "vehicle")
    page.click("#apply")
    vehicles = 1 + sum(1 for n in range(len(ids)) if n % 3 == 0)
    expect(cells).to_have_count(vehicles)
    page.select_option("#f-label", "")
    page.fill("input[name=min_area]", "50")
    page.click("#apply")
    expect(cells).to_have_count(len(ids))
    page.fill("input[name=min_area]", "81")
    page.click("#apply")
    expect(cells).to_have_count(0)
    page.fill("input[name=min_area]", "")
    page.click("#apply")
    expect(cells).to_have_count(len(ids))

    # item view: the labels of record and where they came from
    page.locator(f"#grid-space .cell[data-item='{ids[1]}']").click()
    view = page.locator("#item-view")
    expect(view).to_be_visible()
    expect(view).to_contain_text("Labels of record")
    expect(view).to_contain_text("box vehicle")

    # diff v1 -> v2: two items changed, drawn before/after coloured by change kind
    page.click("#diff-open")
    page.select_option("#d-a", "v1")
    page.select_option("#d-b", "v2")
    page.click("#diff-run")
    items = page.locator(".diff-item")
    expect(items).to_have_count(2)
    relabeled = page.locator(f".diff-item[data-item='{ids[1]}']")
    expect(relabeled.locator("li[data-change=relabeled]")).to_have_count(1)
    expect(relabeled.locator("svg.overlay rect[stroke='#ef6c00']")).to_have_count(2)
    moved = page.locator(f".diff-item[data-item='{ids[2]}']")
    expect(moved.locator("svg.overlay rect[stroke='#1565c0']")).to_have_count(2)
    expect(page.locator("#diff-summary")).to_contain_text("2 item(s) differ")


def test_hidden_dataset_and_project_pages_look_missing(site: Site) -> None:
    page = site.page()
    site.login(page, "man", "/explore")
    expect(page.locator("#datasets article")).to_have_count(2)  # flood and reports
    expect(page.locator(f"#datasets article[data-dataset={SWEEP}]")).to_have_count(0)
    for path in (f"/manage/{HIDDEN['name']}", "/manage/nope", f"/explore/{SWEEP}", "/explore/nope"):
        r = page.goto(site.url + path)
        assert r is not None and r.status == 404, path
        assert HIDDEN["title"] not in page.content()

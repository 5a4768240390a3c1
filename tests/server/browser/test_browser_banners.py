"""Marking banners on the pages that list marked data: the project list, the dashboard, the
new-project page and the explorer's dataset list, top and bottom, at the highest marking of
what the page shows the user (the lowest level when it shows nothing marked)."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import update
from ui_site import Site, expect_banners, task_id

from assay.labeling import next_task, submit
from assay.labeling.task_refs import task_refs
from assay.store.schema import tasks
from labeling_world import box


def test_list_pages_and_the_dashboard_carry_the_marking_of_what_they_show(site: Site) -> None:
    # man (CUI/FLOOD) sees the flood projects and datasets, all CUI/FLOOD
    man = site.page()
    site.login(man, "man", "/")
    expect(man.locator("[data-project=survey]")).to_be_visible()
    expect_banners(man, "CUI/FLOOD")
    man.goto(site.url + "/dashboard/survey")
    expect(man.locator(".kpi[data-kpi=tasks]")).to_be_visible()
    expect_banners(man, "CUI/FLOOD")
    man.goto(site.url + "/projects/new")
    expect(man.locator("#p-dataset option")).not_to_have_count(0)
    expect_banners(man, "CUI/FLOOD")
    man.goto(site.url + "/explore")
    expect(man.locator("[data-dataset=flood]")).to_be_visible()
    expect_banners(man, "CUI/FLOOD")

    # root also sees the SECRET/SAR project and its dataset: every list says so
    root = site.page()
    site.login(root, "root", "/")
    expect(root.locator("[data-project=sar-ops]")).to_be_visible()
    expect_banners(root, "SECRET/FLOOD/SAR")
    for path in ("/projects/new", "/explore", "/dashboard/sar-ops"):
        root.goto(site.url + path)
        expect_banners(root, "SECRET/FLOOD/SAR")

    # low (UNCLASSIFIED) knows of no project: nothing marked, the lowest banner
    low = site.page()
    site.login(low, "low", "/")
    expect(low.locator("#projects")).to_contain_text("No project is open to you yet.")
    expect_banners(low, "UNCLASSIFIED")


def test_the_label_page_is_marked_at_least_as_the_history_it_lists(site: Site) -> None:
    # ana submitted the two CUI/FLOOD tasks of `survey` and is on an UNCLASSIFIED one: her
    # history lists the CUI/FLOOD items' names (and would list a reviewer's comments) on the
    # same page, so the banner is CUI/FLOOD; it was the item's UNCLASSIFIED.
    ws, ana = site.ws, site.world.users["ana"]
    cui = site.world.items["cui"]
    with ws.db.begin() as conn:  # the queue serves the CUI/FLOOD tasks first
        conn.execute(update(tasks).where(tasks.c.item_id.in_(cui)).values(priority=-1.0))
    for _ in cui:
        lease = next_task(ws, ana, "survey")
        assert lease is not None and lease.item["id"] in cui
        submit(ws, ana, lease.task_id, f"c{lease.task_id}", [box(1, 1, 4, 4)])
    held = next_task(ws, ana, "survey")  # the task the page will show
    assert held is not None and held.item["id"] in site.world.items["public"]
    page = site.page()
    site.login(page, "ana", "/label/survey")
    assert task_refs(ws.db).decode(task_id(page)) == held.task_id
    expect(page.locator("#history-list li")).not_to_have_count(0)
    expect_banners(page, "CUI/FLOOD")

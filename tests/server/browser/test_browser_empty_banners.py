"""Marking banners on the pages that show nothing marked: the data manager of a project without
tasks, the label and review pages with an empty queue. Each shows a banner, top and bottom,
instead of none: the lowest level where nothing marked is shown, as the list pages do, and on
the label and review pages at least the project's marking (its title and instructions are
shown, as the project list shows them). A page showing a task is marked at least as the project
declares (its title and instructions are beside the task)."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from ui_site import TRIAGE_YAML, Site, declared_project, expect_banners, task_id

from assay.domain.schema import LabelSchema
from assay.labeling import Workflow, create_project, next_task, submit
from assay.labeling.task_refs import task_refs
from labeling_world import box


def test_pages_showing_nothing_marked_carry_the_lowest_banner(site: Site) -> None:
    site.ws.create_dataset("nothing")
    schema = LabelSchema.from_yaml_text(TRIAGE_YAML, "blank.yaml")
    create_project(site.ws, "blank", schema, "nothing", Workflow(overlap=1, review="all"))
    page = site.page()
    site.login(page, "man", "/manage/blank")
    expect(page.locator("#count")).to_contain_text("0 task(s) match")
    expect_banners(page, "UNCLASSIFIED")
    page.goto(site.url + "/label/blank")
    expect(page.locator("body")).to_have_attribute("data-state", "empty")
    expect_banners(page, "UNCLASSIFIED")
    page.goto(site.url + "/review/blank")
    expect(page.locator("#stage")).to_contain_text("Nothing to review")
    expect_banners(page, "UNCLASSIFIED")


def test_an_empty_review_queue_carries_the_projects_marking(site: Site) -> None:
    # nothing submitted yet in `survey` (CUI/FLOOD items): nothing to review, the project's
    # title and marking still on the page
    page = site.page()
    site.login(page, "rev", "/review/survey")
    expect(page.locator("#stage")).to_contain_text("Nothing to review")
    expect_banners(page, "CUI/FLOOD")


def test_a_task_page_is_marked_at_least_as_the_project_declares(site: Site) -> None:
    # A project declared CUI/FLOOD (its instructions say more than its items) over UNCLASSIFIED
    # items: the label and review pages show those instructions beside the task, so their
    # banner is the project's declared marking, not the item's alone.
    declared_project(site.ws)
    page = site.page()
    site.login(page, "ana", "/label/declared")
    expect(page.locator("#stage")).to_have_attribute("data-task-id", re.compile(".+"))
    expect_banners(page, "CUI/FLOOD")


def test_a_review_page_is_marked_at_least_as_the_project_declares(site: Site) -> None:
    # The same project, one UNCLASSIFIED task submitted: the reviewer sees it beside the
    # project's title, so the banner is the declared CUI/FLOOD, not the item's UNCLASSIFIED.
    declared_project(site.ws)
    ws, users = site.ws, site.world.users
    lease = next_task(ws, users["ana"], "declared")
    assert lease is not None
    submit(ws, users["ana"], lease.task_id, "declared-1", [box(2, 2, 8, 8)])
    page = site.page()
    site.login(page, "rev", "/review/declared")
    shown = task_id(page)
    assert task_refs(ws.db).decode(shown) == lease.task_id
    expect_banners(page, "CUI/FLOOD")


def test_the_data_manager_is_marked_at_least_as_the_project_declares(site: Site) -> None:
    # The data manager names the project (its title) over a table of UNCLASSIFIED tasks: the
    # banner is the declared CUI/FLOOD; it showed the tasks' UNCLASSIFIED.
    declared_project(site.ws)
    page = site.page()
    site.login(page, "man", "/manage/declared")
    expect(page.locator("#count")).to_contain_text("task(s) match")
    expect(page.locator("#title")).to_contain_text("Flood triage")
    expect_banners(page, "CUI/FLOOD")

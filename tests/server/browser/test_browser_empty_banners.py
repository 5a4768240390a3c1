"""Marking banners on the pages that show nothing marked: the data manager of a project without
tasks, the label and review pages with an empty queue. Each shows a banner, top and bottom,
instead of none: the lowest level where nothing marked is shown, as the list pages do, and on
the label and review pages at least the project's marking (its title and instructions are
shown, as the project list shows them). A page showing a task is marked at least as the project
declares (its title and instructions are beside the task)."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from ui_site import TRIAGE_YAML, Site

from assay.domain.schema import LabelSchema
from assay.labeling import Workflow, create_project


def _banners(page: Page, marking: str = "UNCLASSIFIED") -> None:
    banners = page.locator(".marking-banner")
    expect(banners).to_have_count(2)
    for where in ("top", "bottom"):
        expect(page.locator(f".marking-banner.{where}")).to_have_text(marking)
        expect(page.locator(f".marking-banner.{where}")).to_be_visible()


def test_pages_showing_nothing_marked_carry_the_lowest_banner(site: Site) -> None:
    site.ws.create_dataset("nothing")
    schema = LabelSchema.from_yaml_text(TRIAGE_YAML, "blank.yaml")
    create_project(site.ws, "blank", schema, "nothing", Workflow(overlap=1, review="all"))
    page = site.page()
    site.login(page, "man", "/manage/blank")
    expect(page.locator("#count")).to_contain_text("0 task(s) match")
    _banners(page)
    page.goto(site.url + "/label/blank")
    expect(page.locator("body")).to_have_attribute("data-state", "empty")
    _banners(page)
    page.goto(site.url + "/review/blank")
    expect(page.locator("#stage")).to_contain_text("Nothing to review")
    _banners(page)


def test_an_empty_review_queue_carries_the_projects_marking(site: Site) -> None:
    # nothing submitted yet in `survey` (CUI/FLOOD items): nothing to review, the project's
    # title and marking still on the page
    page = site.page()
    site.login(page, "rev", "/review/survey")
    expect(page.locator("#stage")).to_contain_text("Nothing to review")
    _banners(page, "CUI/FLOOD")


def test_a_task_page_is_marked_at_least_as_the_project_declares(site: Site) -> None:
    # A project declared CUI/FLOOD (its instructions say more than its items) over UNCLASSIFIED
    # items: the label and review pages show those instructions beside the task, so their
    # banner is the project's declared marking, not the item's alone.
    site.ws.create_dataset("pub")
    site.ws.add_items("pub", "marking=UNCLASSIFIED")
    schema = LabelSchema.from_yaml_text(TRIAGE_YAML, "declared.yaml")
    create_project(
        site.ws,
        "declared",
        schema,
        "pub",
        Workflow(overlap=1, review="all"),
        instructions="Levee breach reported at the north pumping station.",
        marking="CUI/FLOOD",
    )
    page = site.page()
    site.login(page, "ana", "/label/declared")
    expect(page.locator("#stage")).to_have_attribute("data-task-id", re.compile(".+"))
    _banners(page, "CUI/FLOOD")

"""Marking banners on the pages that list marked data: the project list, the dashboard, the
new-project page and the explorer's dataset list, top and bottom, at the highest marking of
what the page shows the user (the lowest level when it shows nothing marked)."""

from __future__ import annotations

from playwright.sync_api import expect
from ui_site import Site, expect_banners


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

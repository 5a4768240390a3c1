"""The explorer's banner while its diff is open: the diff lists items of two revisions, which
may be above the revision the grid shows (added since, removed since)."""

from __future__ import annotations

from playwright.sync_api import expect
from ui_site import Site, expect_banners


def test_the_explorer_is_marked_as_the_revisions_its_open_diff_lists(site: Site) -> None:
    # `growing` tagged v1 with the UNCLASSIFIED items, the CUI/FLOOD ones added since: the grid
    # at v1 is UNCLASSIFIED; the diff from v1 to the working state lists the CUI/FLOOD items
    # (names, pictures, labels), so the page says CUI/FLOOD while it is open; it said
    # UNCLASSIFIED
    ws = site.ws
    ws.create_dataset("growing")
    ws.add_items("growing", "marking=UNCLASSIFIED")
    ws.tag("growing", ws.commit("growing", "the public scenes").id, "v1")
    ws.add_items("growing", "marking=CUI/FLOOD")
    page = site.page()
    site.login(page, "man", "/explore/growing?rev=v1")
    expect(page.locator("#status")).to_contain_text("item")
    expect_banners(page, "UNCLASSIFIED")
    page.click("#diff-open")
    added = page.locator(".diff-item[data-change=added]")
    cui = [*site.world.items["cui"], *site.world.items["reports"]]  # the CUI/FLOOD items
    expect(added).to_have_count(len(cui))
    expect_banners(page, "CUI/FLOOD")
    page.click("#diff-close")  # the grid alone again
    expect(page.locator("#diff-view")).to_be_hidden()
    expect_banners(page, "UNCLASSIFIED")

"""Answers that arrive out of order in a real Chromium: a page shows the answer to what was
asked last, never an older one that landed later. Each test holds an answer back
(`page.route`) to force the order a slow server or network gives now and then."""

from __future__ import annotations

from playwright.sync_api import expect
from ui_site import Held, Site, answer_read, record_answers

from assay.versioning import LabelRecord
from labeling_world import box


def test_the_explorer_shows_the_last_filter_when_an_earlier_answer_lands_later(
    site: Site,
) -> None:
    ids = sorted(site.world.items["public"] + site.world.items["cui"])
    vehicles = [i for n, i in enumerate(ids) if n % 3 == 0]
    site.ws.set_labels(
        "flood",
        [
            LabelRecord(i, [box(2, 2, 10, 8, "vehicle" if i in vehicles else "building")])
            for i in ids
        ],
    )
    page = site.page()
    record_answers(page)
    site.login(page, "man", "/explore/flood")
    cells = page.locator("#grid-space .cell")
    expect(cells).to_have_count(len(ids))

    held = Held()
    page.route("**/api/v1/explore/flood?*label=vehicle*", held)
    page.select_option("#f-label", "vehicle")
    page.click("#apply")
    held.wait(page)  # the vehicles are slow to come
    page.select_option("#f-label", "")
    page.click("#apply")  # ... and the user asks for everything again meanwhile
    expect(page.locator("#status")).to_contain_text(f"{len(ids)} item(s)")
    expect(cells).to_have_count(len(ids))

    held.release()
    answer_read(page, "label=vehicle")  # the older answer is in the page now
    expect(cells).to_have_count(len(ids))
    expect(page.locator("#status")).to_contain_text(f"{len(ids)} item(s)")
    assert page.evaluate("() => new URLSearchParams(location.search).get('label')") is None

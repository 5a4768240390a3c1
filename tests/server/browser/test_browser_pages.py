"""The outbox under a flaky connection, review and dashboard pages, and no foreign requests."""

from __future__ import annotations

import time

from playwright.sync_api import Route, expect
from sqlalchemy import select
from ui_site import Site, drag, image_to_screen, next_task_shown, task_id

from assay.labeling import dashboard, next_task, submit
from assay.store.schema import tasks
from labeling_world import box


def test_outbox_retries_until_acknowledged_and_stores_once(site: Site) -> None:
    page = site.page()
    site.login(page, "ana", "/label/triage")
    first = task_id(page)
    sent: list[str] = []

    def flaky(route: Route) -> None:
        sent.append(route.request.post_data_json["client_id"])
        if len(sent) == 1:
            route.abort("connectionreset")  # lost on the way to the server
        elif len(sent) == 2:
            route.fetch()  # the server stores it, but the answer is lost on the way back
            route.abort("connectionreset")
        else:
            route.fallback()

    page.route("**/api/v1/tasks/*/submit", flaky)
    drag(page, image_to_screen(page, 5, 5), image_to_screen(page, 15, 12))
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    expect(page.locator("#pending")).to_have_text("1 pending")
    queued = page.evaluate("() => JSON.parse(localStorage.getItem('assay.outbox.v1.ana'))")
    # The outbox keeps the entry before it sends it: wait for the first attempt to arrive.
    deadline = time.monotonic() + 15
    while not sent and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert [e["body"]["client_id"] for e in queued] == sent[:1]

    next_task_shown(page, first)
    expect(page.locator("#pending")).to_be_hidden(timeout=15_000)
    assert len(sent) >= 3 and len(set(sent)) == 1  # every retry reuses the client_id
    [ann] = site.annotations("triage")  # stored exactly once
    assert ann["item_id"] == site.task(first).item_id
    assert page.evaluate("() => localStorage.getItem('assay.outbox.v1.ana')") == "[]"


def test_every_page_works_offline_review_and_dashboard(site: Site) -> None:
    # the guard itself: a request to another host is caught (and would fail the test)
    # (on a blank page: on our pages the Content-Security-Policy stops such a request first,
    # which the fixture records as an error, tried here as well)
    probe = site.page()
    probe.goto("about:blank")
    probe.evaluate("() => { new Image().src = 'http://198.51.100.7/pixel.png'; }")
    deadline = time.monotonic() + 5
    while not site.foreign and time.monotonic() < deadline:
        probe.wait_for_timeout(50)
    assert site.foreign and "198.51.100.7" in site.foreign[0]
    site.foreign.clear()
    probe.goto(site.url + "/login")
    probe.evaluate("() => { new Image().src = 'http://198.51.100.7/pixel.png'; }")
    while not site.errors and time.monotonic() < deadline + 5:
        probe.wait_for_timeout(50)
    assert site.errors and "Content Security Policy" in site.errors[0], site.errors
    assert site.foreign == []
    site.errors.clear()

    # ana labels one task in the browser; two more answers come through the service
    ana = probe
    site.login(ana, "ana", "/")
    expect(ana.locator("[data-project=triage]")).to_be_visible()
    ana.click("[data-project=triage] a.primary")
    first = task_id(ana)
    drag(ana, image_to_screen(ana, 2, 2), image_to_screen(ana, 12, 10))
    ana.keyboard.press("Enter")
    next_task_shown(ana, first)
    user = site.world.users["ana"]
    for n in range(2):
        lease = next_task(site.ws, user, "triage")
        assert lease is not None
        submit(site.ws, user, lease.task_id, f"svc-{n}", [box(1, 1, 5, 5)], lead_time=2.0)

    # the manager answers one task too: the review page never serves it back to them
    own = next_task(site.ws, site.world.users["man"], "triage")
    assert own is not None
    submit(site.ws, site.world.users["man"], own.task_id, "own-work", [box(3, 3, 4, 4)])

    # the manager reviews: accept, fix, reject
    man = site.page()
    site.login(man, "man", "/review/triage")
    items = man.locator("#annotations li")
    expect(items).to_have_count(1)
    expect(man.locator(".marking-banner").first).not_to_be_empty()
    done = [task_id(man)]
    man.keyboard.press("1")
    expect(items.first).to_have_attribute("aria-selected", "true")
    man.keyboard.press("Enter")
    done.append(next_task_shown(man, done[-1]))
    man.keyboard.press("1")
    man.keyboard.press("e")
    expect(man.locator("#review-mode")).to_contain_text("Editing")
    man.keyboard.press("2")  # vehicle, for the box drawn next
    drag(man, image_to_screen(man, 20, 10), image_to_screen(man, 30, 20))
    man.keyboard.press("Enter")
    done.append(next_task_shown(man, done[-1]))
    man.keyboard.press("r")
    man.locator(".prompt input").fill("the box misses the roof")
    man.keyboard.press("Enter")
    expect(man.locator(".empty")).to_contain_text("Nothing to review")
    expect(man.locator("#pending")).to_be_hidden()
    expect(man.locator("#task-info")).to_have_text("")  # no stale file name ...
    expect(man.locator("#review-mode")).to_have_text("")  # ... nor "Editing" hint

    decisions = [(r.decision, r.comment) for r in site.reviews()]
    assert decisions == [("accept", ""), ("fix", ""), ("reject", "the box misses the roof")]
    with site.ws.db.read() as conn:
        assert (
            conn.execute(select(tasks.c.review).where(tasks.c.id == own.task_id)).scalar()
            == "pending"
        )  # left for another reviewer
    [fixed] = [
        a for a in site.annotations("triage", kind="review") if a["source_id"] == "review:fix"
    ]
    labels = sorted(r["label"] for r in fixed["regions"] if r["kind"] == "box")
    assert labels == ["building", "vehicle"]

    # the dashboard shows what its endpoint says about ana's work
    want = dashboard(site.ws, site.world.users["man"], "triage")
    [stats] = [a for a in want["annotators"] if a["name"] == "ana"]
    man.goto(site.url + "/dashboard/triage")
    row = man.locator("tr[data-annotator=ana]")
    expect(row).to_be_visible()
    expect(row.locator("td").nth(1)).to_have_text(str(stats["submitted"]))
    expect(row.locator("td").nth(2)).to_have_text(str(stats["rejected"]))
    # ana's three answers were all submitted; the reviewer rejected one (counted apart)
    assert (stats["submitted"], stats["rejected"]) == (3, 1)
    expect(man.locator(".kpi[data-kpi=done] .kpi-value")).to_contain_text(f"{want['done']} (")
    assert man.locator("svg.chart").count() >= 1
    # the site fixture then fails the test if any of these pages (login, index, label, review,
    # dashboard) asked another host for anything

"""The review page when what it asks for cannot be had, in a real Chromium: the next task after
a decision, or the image a key press asks for. Nothing of the task stays on screen to decide
on, the page says why, and Retry (or Enter) brings the task back."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, Route, expect
from ui_site import TRIAGE_YAML, Held, Site, next_task_shown, task_id

from assay.domain.schema import LabelSchema
from assay.labeling import Workflow, create_project, next_task, submit
from labeling_world import box


def _answered(site: Site, answers: int) -> None:
    """Project `pair`: two tasks, each answered by `answers` annotators (ana, then root)."""
    ws, users = site.ws, site.world.users
    schema = LabelSchema.from_yaml_text(TRIAGE_YAML, "triage.yaml")
    create_project(ws, "pair", schema, "flood", Workflow(overlap=answers, review="all"))
    annotators = [users[name] for name in ("ana", "root")[:answers]]
    for _ in range(2):
        leases = [(user, next_task(ws, user, "pair")) for user in annotators]
        for n, (user, lease) in enumerate(leases):
            assert lease is not None
            submit(ws, user, lease.task_id, f"{lease.task_id}-{n}", [box(2 + n, 2, 8, 8)])


def _nothing_to_decide(page: Page, why: str) -> None:
    """The stage says `why` with a Retry; nothing of the task is shown or offered."""
    expect(page.locator("#stage .empty")).to_contain_text(f"Could not load a review task: {why}")
    expect(page.locator("#status")).to_contain_text("Could not load a review task")
    expect(page.locator("#retry")).to_be_visible()
    expect(page.locator("#stage canvas")).to_have_count(0)
    expect(page.locator("#annotations li")).to_have_count(0)
    expect(page.locator("#task-info")).to_have_text("")
    for button in ("#accept", "#fix", "#reject"):
        expect(page.locator(button)).to_be_disabled()


def _server_error(route: Route) -> None:
    route.fulfill(status=500, json={"error": "the database is busy"})


@pytest.mark.parametrize("retry", ["click", "Enter"])
def test_a_next_task_that_fails_to_load_leaves_nothing_of_the_decided_one(
    site: Site, retry: str
) -> None:
    # The decided task's image and annotations stayed on screen under "Could not load a review
    # task", and nothing on the page asked again.
    _answered(site, answers=1)
    page = site.page()
    site.login(page, "rev", "/review/pair")
    first = task_id(page)
    expect(page.locator("#accept")).to_be_enabled()
    page.route("**/api/v1/projects/pair/review/next", _server_error)
    page.keyboard.press("Enter")  # accepts; the next task does not come
    _nothing_to_decide(page, "the database is busy")
    expect(page.locator("#pending")).to_be_hidden()  # the decision itself went out

    page.unroute("**/api/v1/projects/pair/review/next")
    if retry == "click":
        page.locator("#retry").click()
    else:
        page.keyboard.press("Enter")
    second = next_task_shown(page, first)
    expect(page.locator("#annotations li")).to_have_count(1)
    page.keyboard.press("Enter")  # the task shown again is one to decide on
    expect(page.locator("#stage .empty")).to_contain_text("Nothing to review")
    assert [r.decision for r in site.reviews()] == ["accept", "accept"]
    assert second != first


@pytest.mark.parametrize(("answers", "key"), [(2, "1"), (1, "e")])
def test_an_image_a_key_asks_for_that_cannot_load_is_named_and_retried(
    site: Site, answers: int, key: str
) -> None:
    # Picking an annotation (1) or starting a fix (E) whose image could not be loaded left an
    # unhandled promise rejection and nothing on the page saying so.
    _answered(site, answers=answers)
    page = site.page()
    images = Held()
    page.route("**/api/v1/items/*/blob", images)
    site.login(page, "rev", "/review/pair")
    expect(page.locator("#annotations li")).to_have_count(answers)
    images.wait(page)  # the task's image is on its way ...
    page.keyboard.press(key)  # ... the key asks for it again (one request for both) ...
    images.fail()  # ... and it never comes
    _nothing_to_decide(page, "the image could not be loaded")

    page.unroute("**/api/v1/items/*/blob")
    page.keyboard.press("Enter")  # retries: the task held for this reviewer comes back
    shown = task_id(page)
    expect(page.locator("#annotations li")).to_have_count(answers)
    page.wait_for_selector("canvas.image-canvas[data-ready]")
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    next_task_shown(page, shown)
    assert [r.decision for r in site.reviews()] == ["accept"]

"""The review page when two actions overlap in a real Chromium: what it says and offers is the
last action's, never that of an earlier one whose image landed later. A pick and a fix show
the same item, so Chromium loads its image once for both and tells them in an order of its
own; each test holds the earlier action's image back (`HeldImages`) to force the bad order."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from ui_site import TRIAGE_YAML, Held, HeldImages, Site, next_task_shown, task_id

from assay.domain.schema import LabelSchema
from assay.labeling import Workflow, create_project, next_task, submit
from labeling_world import box

PICKED = "Enter accepts · E edits · R rejects"
EDITING = "Editing: Enter accepts the fix · Esc cancels"


def _review(site: Site, answers: int) -> tuple[Page, HeldImages]:
    """rev on the review page of project `pair`, whose tasks are answered by `answers`
    annotators each (ana, then root); its first task waits for a decision."""
    ws, users = site.ws, site.world.users
    schema = LabelSchema.from_yaml_text(TRIAGE_YAML, "triage.yaml")
    create_project(ws, "pair", schema, "flood", Workflow(overlap=answers, review="all"))
    annotators = [users[name] for name in ("ana", "root")[:answers]]
    for _ in range(2):  # two tasks to review
        leases = [(user, next_task(ws, user, "pair")) for user in annotators]
        assert len({lease.task_id for _, lease in leases if lease}) == 1  # one task for all
        for n, (user, lease) in enumerate(leases):
            assert lease is not None
            submit(ws, user, lease.task_id, f"{lease.task_id}-{n}", [box(2 + n, 2, 8, 8)])
    page = site.page()
    images = HeldImages(page)
    site.login(page, "rev", "/review/pair")
    task_id(page)
    expect(page.locator("#annotations li")).to_have_count(answers)
    return page, images


def _offers(page: Page, mode: str, fix: bool) -> None:
    """The page says `mode` and its Fix button is enabled if `fix`, Accept in every case."""
    expect(page.locator("#review-mode")).to_have_text(mode)
    expect(page.locator("#fix")).to_be_enabled(enabled=fix)
    expect(page.locator("#accept")).to_be_enabled()


def test_e_pressed_while_the_picked_annotation_loads_leaves_the_page_editing(
    site: Site,
) -> None:
    page, images = _review(site, answers=2)
    expect(page.locator("#review-mode")).to_have_text("Pick an annotation with its number key.")
    with images.holding():
        page.keyboard.press("1")
    images.wait()  # the picked annotation's image is slow to be shown
    page.keyboard.press("e")  # ... and the reviewer starts fixing it meanwhile
    _offers(page, EDITING, fix=False)

    images.release()  # the pick's image is shown now
    _offers(page, EDITING, fix=False)


def test_esc_pressed_while_the_fix_loads_leaves_the_page_picking(site: Site) -> None:
    page, images = _review(site, answers=2)
    shown = task_id(page)
    page.keyboard.press("1")
    expect(page.locator("#review-mode")).to_have_text(PICKED)
    with images.holding():
        page.keyboard.press("e")
    images.wait()  # the fix's image is slow to be shown
    page.keyboard.press("Escape")  # ... and the reviewer leaves the fix meanwhile
    _offers(page, PICKED, fix=True)

    images.release()  # the fix's image is shown now
    _offers(page, PICKED, fix=True)
    page.keyboard.press("Enter")  # accepts the pick as it is, not a fix
    next_task_shown(page, shown)
    assert [r.decision for r in site.reviews()] == ["accept"]


def test_e_pressed_while_the_next_task_loads_leaves_the_page_editing(site: Site) -> None:
    page, images = _review(site, answers=1)  # one answer: it is picked as the task loads
    first = task_id(page)
    expect(page.locator("#review-mode")).to_have_text(PICKED)
    with images.holding():
        page.keyboard.press("Enter")  # accepts; the next task's image is slow to be shown
        images.wait()
    page.keyboard.press("e")  # ... and the reviewer starts fixing its one answer meanwhile
    _offers(page, EDITING, fix=False)

    images.release()  # the next task's image is shown now
    next_task_shown(page, first)
    _offers(page, EDITING, fix=False)


def test_a_decided_task_offers_no_decision_while_its_answer_is_on_its_way(site: Site) -> None:
    page, _ = _review(site, answers=1)
    first = task_id(page)
    expect(page.locator("#accept")).to_be_enabled()
    held = Held(method="POST")
    page.route("**/api/v1/tasks/*/review", held)
    page.keyboard.press("Enter")  # accepts
    held.wait(page)  # ... and the server is slow to take the decision
    for button in ("#accept", "#fix", "#reject"):
        expect(page.locator(button)).to_be_disabled()
    expect(page.locator("#review-mode")).not_to_contain_text("Enter accepts")
    page.keyboard.press("Enter")  # the task is decided: a second Enter sends nothing
    page.keyboard.press("r")  # ... nor asks for a comment to reject it

    expect(page.locator(".prompt")).to_have_count(0)
    held.release()
    next_task_shown(page, first)
    expect(page.locator("#accept")).to_be_enabled()
    assert [r.decision for r in site.reviews()] == ["accept"]

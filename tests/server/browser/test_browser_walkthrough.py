"""Traps met walking a campaign as an annotator and a reviewer at a laptop's screen size
(1366x768): the history key, and a review decision the server refuses."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from ui_site import STRICT_YAML, TRIAGE_YAML, Site, drag, image_to_screen, next_task_shown, task_id

from assay.domain.schema import LabelSchema
from assay.labeling import Workflow, amend, create_project, next_task, skip_task, submit
from assay.labeling.task_refs import task_refs
from labeling_world import box

LAPTOP = {"width": 1366, "height": 768}


def _laptop(site: Site) -> Page:
    page = site.page()
    page.set_viewport_size(LAPTOP)
    return page


def _first_submitted(site: Site) -> tuple[Page, str, str]:
    """ana at 1366x768 on `triage`, her first task answered with a box and submitted: the page,
    that task's id and the next one's."""
    page = _laptop(site)
    site.login(page, "ana", "/label/triage")
    first = task_id(page)
    drag(page, image_to_screen(page, 2, 2), image_to_screen(page, 14, 12))
    page.keyboard.press("Enter")
    return page, first, next_task_shown(page, first)


def test_h_shows_the_history_and_a_submitted_task_reopens_from_the_keyboard(site: Site) -> None:
    # At 1366x768 the history sat below the panel's fold: H opened it out of sight, and Enter
    # then submitted the task on screen instead of reopening anything.
    page, first, second = _first_submitted(site)
    page.keyboard.press("h")
    entry = page.locator("#history-list li button").first
    expect(entry).to_be_in_viewport()
    expect(entry).to_be_focused()
    page.keyboard.press("Enter")  # reopens the entry, does not submit the task on screen
    page.wait_for_selector(f"#stage[data-amending='{first}']", state="attached")
    expect(page.locator("#progress")).to_contain_text("amending")
    assert len(site.annotations("triage")) == 1
    page.keyboard.press("Escape")  # back to the queue's task
    page.wait_for_selector("#stage:not([data-amending])", state="attached")
    assert task_id(page) == second
    # H again, then H (or Esc) closes it and the keys are the editor's again
    page.keyboard.press("h")
    expect(entry).to_be_focused()
    page.keyboard.press("h")
    expect(page.locator("#history")).not_to_have_attribute("open", "")
    expect(entry).not_to_be_focused()


def test_a_review_decision_the_server_refuses_is_named_on_the_page(site: Site) -> None:
    # The reviewer saw "Accepted" while the server refused the decision (the annotator had
    # amended the answer meanwhile); the same task came back with no word of why.
    ws, users = site.ws, site.world.users
    schema = LabelSchema.from_yaml_text(TRIAGE_YAML, "triage.yaml")
    create_project(ws, "pair", schema, "flood", Workflow(overlap=1, review="all"))
    lease = next_task(ws, users["ana"], "pair")
    assert lease is not None
    submit(ws, users["ana"], lease.task_id, "pair-1", [box(2, 2, 8, 8)])
    page = _laptop(site)
    site.login(page, "rev", "/review/pair")
    shown = task_id(page)
    assert task_refs(ws.db).decode(shown) == lease.task_id
    page.keyboard.press("1")
    expect(page.locator("#accept")).to_be_enabled()
    amend(ws, users["ana"], lease.task_id, "pair-1-amended", [box(3, 3, 8, 8)])
    page.keyboard.press("Enter")
    status = page.locator("#status")
    expect(status).to_contain_text("Refused by the server:")
    expect(status).to_contain_text("is not a current answer to the task")
    expect(page.locator("#pending")).to_have_text("1 failed")
    assert site.reviews() == []


def _height(page: Page, selector: str) -> float:
    bounds = page.locator(selector).first.bounding_box()
    assert bounds is not None, selector
    return bounds["height"]


def test_the_action_bar_keeps_each_button_on_one_line_while_amending(site: Site) -> None:
    # Amending at 1366x768, "Back to the queue", "Skip" and "Save amendment" broke their key
    # hints onto a second line and the bar grew.
    page, first, _second = _first_submitted(site)
    one_line = _height(page, "#undo")
    page.keyboard.press("h")
    expect(page.locator("#history-list li button").first).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#stage[data-amending='{first}']", state="attached")
    expect(page.locator("#submit")).to_contain_text("Save amendment")
    for button in ("#back", "#skip", "#submit"):
        assert _height(page, button) == one_line, button


def test_a_task_state_stays_on_one_line_beside_the_open_task(site: Site) -> None:
    # With a task opened in the data manager at 1366x768, "in progress" broke over two lines.
    ws, users = site.ws, site.world.users
    lease = next_task(ws, users["ana"], "triage")
    assert lease is not None
    skip_task(ws, users["ana"], lease.task_id, "skip-1", "cannot see enough to decide")
    taken = next_task(ws, users["root"], "triage")  # the skipped task, now in root's hands
    assert taken is not None and taken.task_id == lease.task_id
    page = _laptop(site)
    site.login(page, "man", "/manage/triage")
    page.locator(".task-table button.open-task").first.click()
    expect(page.locator("#task-view")).to_be_visible()
    states = page.locator(".task-table .state")
    expect(states.filter(has_text="in progress")).to_have_count(1)
    one_line = _height(page, ".state[data-state=new]")
    assert _height(page, ".state[data-state=in_progress]") == one_line


def test_a_lost_connection_clears_the_sent_task_and_enter_retries(site: Site) -> None:
    # With the server out of reach after a submit, the page still named the sent task and kept
    # its answer editable beside "Could not load a task", and Enter did nothing.
    page = _laptop(site)
    site.login(page, "ana", "/label/triage")
    first = task_id(page)
    page.route("**/api/v1/**", lambda route: route.abort())
    drag(page, image_to_screen(page, 2, 2), image_to_screen(page, 14, 12))
    page.keyboard.press("Enter")
    expect(page.locator("#stage .empty")).to_contain_text("Could not load a task")
    expect(page.locator("#pending")).to_have_text("1 pending")
    expect(page.locator("#task-info")).to_have_text("")
    expect(page.locator("#panel section.control")).to_have_count(0)
    expect(page.locator("#undo")).to_be_disabled()
    page.unroute("**/api/v1/**")
    page.keyboard.press("Enter")  # retries: the answer goes out, the next task comes
    next_task_shown(page, first)
    expect(page.locator("#pending")).to_be_hidden()
    assert len(site.annotations("triage")) == 1


def test_the_keys_scroll_the_help_that_does_not_fit_the_screen(site: Site) -> None:
    # At 1366x768 the shortcut list runs past the dialog's bottom; every key but ? and Esc was
    # swallowed, so the keys at its end could only be read after scrolling with a mouse wheel.
    page = _laptop(site)
    site.login(page, "ana", "/label/triage")
    task_id(page)
    page.keyboard.press("?")
    last = page.locator(".help dt", has_text="Alt+↑")  # the end of the longest column
    expect(last).not_to_be_in_viewport()
    page.keyboard.press("End")
    expect(last).to_be_in_viewport()
    page.keyboard.press("Home")
    expect(last).not_to_be_in_viewport()
    for _ in range(12):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("PageDown")
    expect(last).to_be_in_viewport()
    page.keyboard.press("Escape")
    expect(page.locator(".help-backdrop")).to_be_hidden()


def test_answering_a_required_control_clears_its_not_submitted_mark(site: Site) -> None:
    # After "Not submitted: damage is required", choosing a damage level left the red outline
    # and the red status on screen until the next Enter, as if the choice had not counted.
    schema = LabelSchema.from_yaml_text(STRICT_YAML, "strict.yaml")
    create_project(site.ws, "strict", schema, "flood", Workflow())
    page = _laptop(site)
    site.login(page, "ana", "/label/strict")
    task_id(page)
    page.keyboard.press("Enter")
    status = page.locator("#status")
    expect(status).to_have_text("Not submitted: damage is required")
    damage = page.locator("section.control[data-control=damage]")
    expect(damage).to_have_class("control missing")
    page.keyboard.press("4")  # minor
    expect(damage).to_have_class("control")
    expect(status).to_have_text("")
    assert site.annotations("strict") == []  # answering does not submit

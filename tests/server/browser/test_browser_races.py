"""Answers that arrive out of order in a real Chromium: a page shows the answer to what was
asked last, never an older one that landed later. Each test holds an answer back
(`page.route`) to force the order a slow server or network gives now and then."""

from __future__ import annotations

from dataclasses import dataclass

from playwright.sync_api import Page, expect
from ui_site import (
    Held,
    Site,
    answer_read,
    image_loaded,
    pixel,
    record_answers,
    record_images,
    task_id,
)

from assay.labeling import next_task, submit
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


def test_the_last_history_entry_chosen_is_the_one_amended(site: Site) -> None:
    ws, ana = site.ws, site.world.users["ana"]
    for n in range(2):  # two answers of ana's to amend
        lease = next_task(ws, ana, "triage")
        assert lease is not None
        submit(ws, ana, lease.task_id, f"race-{n}", [box(2, 2, 8, 8)])
    page = site.page()
    record_answers(page)
    site.login(page, "ana", "/label/triage")
    task_id(page)
    page.keyboard.press("h")
    entries = page.locator("#history-list li")
    expect(entries).to_have_count(2)
    first, second = entries.evaluate_all("lis => lis.map((li) => li.dataset.taskId)")
    names = entries.locator("button span:first-child").all_inner_texts()

    held = Held()
    page.route(f"**/api/v1/tasks/{first}/mine", held)
    entries.nth(0).locator("button").click()
    held.wait(page)  # the first answer chosen is slow to come
    entries.nth(1).locator("button").click()  # ... and the user picks the other meanwhile
    page.wait_for_selector(f"#stage[data-amending='{second}']", state="attached")
    expect(page.locator("#task-info")).to_have_text(names[1])

    held.release()
    answer_read(page, f"/tasks/{first}/mine")
    expect(page.locator("#task-info")).to_have_text(names[1])
    expect(page.locator("#stage")).to_have_attribute("data-amending", second)
    expect(page.locator("#progress")).to_have_text(f"amending {names[1]}")


def _scene_colour(name: str) -> tuple[int, int, int]:
    """Pixel (0, 0) of test scene `scene_NNNN.png` (labeling_world.ingest makes each unique)."""
    n = int(name.removeprefix("scene_").removesuffix(".png"))
    return (n % 256, n // 256, 7)


@dataclass
class _Reopening:
    page: Page
    held: Held  # holds the reopened answer's image
    queued: str  # the queue's task, on screen before the reopen
    name: str  # its item's name
    amended: str  # the submitted task being reopened
    media: str  # its image's address


def _reopen_with_its_image_held(site: Site, *, images: bool = False) -> _Reopening:
    """ana's one submitted answer reopened from the history while its image is held back
    (`images`: the page records the images it loads)."""
    ws, ana = site.ws, site.world.users["ana"]
    lease = next_task(ws, ana, "triage")
    assert lease is not None
    submit(ws, ana, lease.task_id, "race-0", [box(20, 12, 8, 8)])
    page = site.page()
    if images:
        record_images(page)
    site.login(page, "ana", "/label/triage")
    queued = task_id(page)
    name = page.locator("#task-info").inner_text()
    assert pixel(page, 0, 0) == _scene_colour(name)
    page.keyboard.press("h")
    entry = page.locator("#history-list li")
    expect(entry).to_have_count(1)
    amended = str(entry.get_attribute("data-task-id"))
    media = page.evaluate(
        "id => fetch(`/api/v1/tasks/${id}/mine`).then((r) => r.json()).then((t) => t.media_url)",
        amended,
    )
    held = Held()
    page.route(lambda url: url.endswith(media), held)
    entry.locator("button").click()
    held.wait(page)  # the submitted task's image is slow to come
    return _Reopening(page, held, queued, name, amended, media)


def test_leaving_an_amendment_before_its_image_came_shows_the_queues_task_and_image(
    site: Site,
) -> None:
    r = _reopen_with_its_image_held(site, images=True)
    page = r.page
    page.keyboard.press("Escape")  # folds the history
    expect(page.locator("#history")).not_to_have_attribute("open", "")
    page.keyboard.press("Escape")  # ... and the user goes back to the queue meanwhile
    expect(page.locator("#task-info")).to_have_text(r.name)
    page.wait_for_selector("canvas.image-canvas[data-ready]", state="attached")
    assert task_id(page) == r.queued

    r.held.release()
    image_loaded(page, site.url + r.media)  # the amended task's image is in the page now
    assert pixel(page, 0, 0) == _scene_colour(r.name)
    expect(page.locator("#stage")).not_to_have_attribute("data-amending", r.amended)
    expect(page.locator("#back")).to_be_hidden()
    expect(page.locator("#task-info")).to_have_text(r.name)


def test_the_list_of_users_shows_every_user_added_when_an_older_list_lands_later(
    site: Site,
) -> None:
    page = site.page()
    record_answers(page)
    site.login(page, "man", "/projects/new")
    expect(page.locator("#users li[data-user=man]")).to_be_visible()
    held = Held(limit=1, method="GET", answered=True)
    page.route("**/api/v1/users", held)
    for name in ("cara", "dan"):
        page.fill("#u-name", name)
        page.fill("#u-clearance", "CUI/FLOOD")
        page.fill("#u-password", "long enough pass")
        page.click("#add-user")
        if name == "cara":
            held.wait(page)  # the list asked for after cara was added is slow to come
    expect(page.locator("#users li[data-user=dan]")).to_be_visible()
    expect(page.locator("#users li[data-user=cara]")).to_be_visible()
    held.release()
    answer_read(page, "/api/v1/users", times=3)  # the first list, dan's and the late one
    expect(page.locator("#users li[data-user=dan]")).to_be_visible()


def test_an_answer_whose_image_cannot_load_is_named_and_the_queues_task_stays(
    site: Site,
) -> None:
    # Reopening a submitted answer whose image fails (a lost connection): the page says so and
    # goes on with the queue's task; before, the failure was an uncaught error (the `site`
    # fixture fails on one) and the page was left half in amend mode.
    r = _reopen_with_its_image_held(site)
    page = r.page
    r.held.fail()
    expect(page.locator("#status")).to_contain_text("Could not open your submitted answer")
    expect(page.locator("#status")).to_have_attribute("data-kind", "error")
    expect(page.locator("#task-info")).to_have_text(r.name)
    expect(page.locator("#stage")).not_to_have_attribute("data-amending", r.amended)
    expect(page.locator("#back")).to_be_hidden()
    page.wait_for_selector("canvas.image-canvas[data-ready]", state="attached")
    assert task_id(page) == r.queued
    assert pixel(page, 0, 0) == _scene_colour(r.name)

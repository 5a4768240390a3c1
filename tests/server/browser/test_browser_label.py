"""The annotation page in a real Chromium: drawing, keys, text spans, ranking, submission."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from ui_site import REPORTS, Site, drag, image_to_screen, next_task_shown, task_id, view

from labeling_world import box as model_box

# The page coordinates of code units [start, end) of the text view's text.
RANGE_RECT_JS = """([start, end]) => {
  const root = document.querySelector('.text-view');
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  let pos = 0;
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const len = n.data.length;
    if (start >= pos && start <= pos + len) range.setStart(n, start - pos);
    if (end >= pos && end <= pos + len) { range.setEnd(n, end - pos); break; }
    pos += len;
  }
  const rects = range.getClientRects();
  const a = rects[0], b = rects[rects.length - 1];
  return [a.left + 1, a.top + a.height / 2, b.right - 1, b.top + b.height / 2];
}"""


def select_text(page: Page, text: str, word: str) -> tuple[int, int]:
    """Select `word` in the text view with the mouse; return its code-point [start, end)."""
    start = text.index(word)
    end = start + len(word)

    def units(i: int) -> int:  # JavaScript counts UTF-16 code units
        return len(text[:i].encode("utf-16-le")) // 2

    x0, y0, x1, y1 = page.evaluate(RANGE_RECT_JS, [units(start), units(end)])
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y1, steps=5)
    page.mouse.up()
    assert page.evaluate("getSelection().toString()") == word
    return start, end


def test_box_drawn_classed_by_number_key_and_submitted_with_enter(site: Site) -> None:
    page = site.page()
    site.login(page, "ana", "/label/triage")
    first = task_id(page)
    regions = page.locator("[data-control=label] .region-list li")

    # zoom with + and the wheel, pan with space-drag and the middle button: no shape drawn
    s0, _, _ = view(page)
    page.keyboard.press("+")
    s1, _, _ = view(page)
    assert s1 == pytest.approx(s0 * 1.25)
    page.mouse.move(*image_to_screen(page, 24, 16))
    page.mouse.wheel(0, 200)
    s2, tx2, ty2 = view(page)
    assert s2 < s1
    centre = image_to_screen(page, 24, 16)
    page.keyboard.down(" ")
    drag(page, centre, (centre[0] + 40, centre[1] + 30))
    page.keyboard.up(" ")
    _, tx3, ty3 = view(page)
    assert (tx3 - tx2, ty3 - ty2) == pytest.approx((40, 30), abs=1)
    drag(page, centre, (centre[0] - 20, centre[1] - 10), button="middle")
    _, tx4, ty4 = view(page)
    assert (tx4 - tx3, ty4 - ty3) == pytest.approx((-20, -10), abs=1)
    expect(regions).to_have_count(0)

    page.keyboard.press("2")  # vehicle, for the next box
    drag(page, image_to_screen(page, 10, 6), image_to_screen(page, 30, 22))
    expect(page.locator("[data-control=label] .region-list li")).to_contain_text("vehicle")
    page.keyboard.press("5")  # damage: minor (water=3, none=4, minor=5, destroyed=6)
    expect(page.locator("[data-control=damage] [data-label=minor]")).to_have_attribute(
        "aria-checked", "true"
    )
    page.fill("[data-control=notes] textarea", "roof partly under water")
    page.keyboard.press("Escape")  # leave the text box; keys are shortcuts again
    banners = page.locator(".marking-banner")
    expect(banners).to_have_count(2)
    marking = banners.first.inner_text()
    expect(banners.last).to_have_text(marking)

    page.keyboard.press("Enter")
    second = next_task_shown(page, first)
    assert second != first
    expect(page.locator("#pending")).to_be_hidden()
    expect(regions).to_have_count(0)

    [ann] = site.annotations("triage")
    assert ann["author"] == "user:ana"
    assert ann["lead_time"] > 0
    assert ann["item_id"] == site.task(first).item_id
    assert site.task(first).marking == marking
    boxes = [r for r in ann["regions"] if r["kind"] == "box"]
    assert len(boxes) == 1 and boxes[0]["label"] == "vehicle"
    assert boxes[0]["box"] == pytest.approx([10, 6, 20, 16], abs=0.25)
    choices = [r["label"] for r in ann["regions"] if r["kind"] == "choice"]
    assert choices == ["minor"]
    notes = [r["text"] for r in ann["regions"] if r["kind"] == "text"]
    assert notes == ["roof partly under water"]
    assert site.assignment(first).model_assisted == 0


def test_prelabels_polygon_edit_undo_redo_and_skip(site: Site) -> None:
    for item in site.world.items["public"] + site.world.items["cui"]:
        site.add_model_labels(item, [model_box(4, 4, 10, 8)])
    page = site.page()
    site.login(page, "ana", "/label/triage")
    first = task_id(page)
    pre = page.locator("[data-control=label] .region-list li.pre")
    expect(pre).to_have_count(1)  # the model's box, shown for correction

    # polygon: three clicks, Enter closes it
    page.click("[data-control=area] .control-head")
    for x, y in [(20, 20), (40, 20), (40, 30)]:
        page.mouse.click(*image_to_screen(page, x, y))
    page.keyboard.press("Enter")
    polys = page.locator("[data-control=area] .region-list li")
    expect(polys).to_have_count(1)
    page.keyboard.press("Control+z")
    expect(polys).to_have_count(0)
    page.keyboard.press("Control+Shift+z")
    expect(polys).to_have_count(1)
    page.keyboard.press("Control+z")
    page.keyboard.press("Control+y")
    expect(polys).to_have_count(1)

    # a point: pick the points control, click once
    page.click("[data-control=people] .control-head")
    page.mouse.click(*image_to_screen(page, 10, 28))
    expect(page.locator("[data-control=people] .region-list li")).to_have_count(1)

    # delete the model box and bring it back
    page.mouse.click(*image_to_screen(page, 8, 8))
    page.keyboard.press("Delete")
    expect(pre).to_have_count(0)
    page.keyboard.press("Control+z")
    expect(pre).to_have_count(1)

    # correct it: move by (+2, +1), then drag the bottom-right handle to (20, 16)
    drag(page, image_to_screen(page, 8, 8), image_to_screen(page, 10, 9))
    expect(pre).to_have_count(0)  # corrected: no longer a raw pre-label
    drag(page, image_to_screen(page, 16, 13), image_to_screen(page, 20, 16))
    page.keyboard.press("Enter")
    second = next_task_shown(page, first)

    [ann] = site.annotations("triage")
    [bx] = [r for r in ann["regions"] if r["kind"] == "box"]
    assert bx["box"] == pytest.approx([6, 5, 14, 11], abs=0.25)
    [poly] = [r for r in ann["regions"] if r["kind"] == "polygon"]
    assert poly["label"] == "water"
    flat = [v for point in poly["points"] for v in point]
    assert flat == pytest.approx([20, 20, 40, 20, 40, 30], abs=0.25)
    [point] = [r for r in ann["regions"] if r["kind"] == "point"]
    assert (point["label"], point["control"]) == ("person", "people")
    assert point["points"][0] == pytest.approx([10, 28], abs=0.25)
    assert site.assignment(first).model_assisted == 1

    # help overlay, then skip with a reason picked by its number
    page.keyboard.press("?")
    expect(page.locator(".help")).to_be_visible()
    expect(page.locator(".help")).to_contain_text("Ctrl+Z")
    page.keyboard.press("Escape")
    expect(page.locator(".help")).to_be_hidden()
    page.keyboard.press("s")
    expect(page.locator(".prompt")).to_be_visible()
    page.keyboard.press("2")
    next_task_shown(page, second)
    assert site.assignment(second).state == "skipped"
    assert len(site.annotations("triage")) == 1


def test_text_spans_ranking_and_rating(site: Site) -> None:
    page = site.page()
    site.login(page, "ana", "/label/reports")
    page.wait_for_selector(".text-view")
    first = task_id(page)
    text = page.inner_text(".text-view")
    row = next(r for r in REPORTS if r["text"] == text)
    expect(page.locator(".marking-banner").first).to_have_text("CUI/FLOOD")

    hazard = select_text(page, text, "Levee breach")
    page.keyboard.press("2")  # HAZARD
    loc = select_text(page, text, "Riverton")  # after an emoji: offsets in code points
    page.keyboard.press("1")  # LOC
    expect(page.locator(".text-view mark")).to_have_count(2)

    # ranking: pick response C, make it best (key 1), then move A down with Alt+Down
    page.click(".rank-item[data-pos='2']")
    page.keyboard.press("1")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Alt+ArrowDown")
    expect(page.locator(".rank-item .rank-id")).to_have_text(["C", "B", "A"])
    page.drag_and_drop(".rank-item[data-pos='0']", ".rank-item[data-pos='2']")  # C to last
    expect(page.locator(".rank-item .rank-id")).to_have_text(["B", "A", "C"])

    page.keyboard.press("Tab")  # to the rating
    page.keyboard.press("4")
    expect(page.locator("[data-control=quality] .star.on")).to_have_count(4)
    page.keyboard.press("Enter")
    next_task_shown(page, first)

    [ann] = site.annotations("reports")
    assert ann["lead_time"] > 0
    spans = {r["label"]: r for r in ann["regions"] if r["kind"] == "span"}
    assert spans["HAZARD"]["span"] == list(hazard)
    assert spans["LOC"]["span"] == list(loc)
    assert spans["LOC"]["text"] == "Riverton" == row["text"][loc[0] : loc[1]]
    [ranking] = [r for r in ann["regions"] if r["kind"] == "ranking"]
    assert ranking["ranking"] == ["1", "0", "2"]
    [rating] = [r for r in ann["regions"] if r["kind"] == "rating"]
    assert rating["value"] == 4

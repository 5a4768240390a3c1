"""Pre-labels in the browser: shown dashed for correction, submitted, counted on the dashboard."""

from __future__ import annotations

from playwright.sync_api import expect
from ui_site import Site, next_task_shown, task_id

from assay.labeling.prelabel import prelabel
from assay.models import CallableDetector


def test_an_annotator_accepts_prelabels_and_the_dashboard_counts_them(site: Site) -> None:
    det = CallableDetector(
        lambda x: [[((2.0, 2.0, 10.0, 8.0), 0.8, "building")] for _ in range(len(x))],
        ["building", "vehicle"],
        name="boxer",
    )
    report = prelabel(site.ws, "triage", model=det, name="boxer@1")
    assert report.labelled == report.open_tasks and report.regions == report.labelled
    ana = site.page()
    site.login(ana, "ana", "/label/triage")
    first = task_id(ana)
    expect(ana.locator(".badge", has_text="model")).to_have_count(1)  # the pre-label, dashed
    ana.keyboard.press("Enter")  # accepted unchanged
    next_task_shown(ana, first)
    [ann] = site.annotations("triage")
    assert [(r["label"], r["box"]) for r in ann["regions"]] == [("building", [2, 2, 10, 8])]
    man = site.page()
    site.login(man, "man", "/dashboard/triage")
    row = man.locator("table.prelabels tr[data-model='boxer@1'] td")
    expect(row.nth(0)).to_have_text("boxer@1")
    expect(row.nth(1)).to_have_text(str(report.labelled))  # tasks showing its pre-labels
    expect(row.nth(2)).to_have_text("1")  # answered
    expect(row.nth(4)).to_have_text("1")  # accepted unchanged
    expect(row.nth(8)).to_have_text("100%")

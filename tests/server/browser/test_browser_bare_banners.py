"""Marking banners on the pages that show no data: the log-in page and the error pages (403, 404,
500). A system handling marked data shows its marking on every screen; a page that reveals
nothing shows the workspace's lowest level, top and bottom, whoever looks at it (never the
highest level a user is cleared for or the workspace holds), and shows it from the server's
HTML, script or none. An error page naming a project is marked as the project declares."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy import update
from ui_site import Site, declared_project, expect_banners

from assay.store.schema import projects


def _error(page: Page, status: int) -> None:
    expect(page.locator(f".error-card[data-status='{status}']")).to_be_visible()


def test_the_login_page_shows_the_lowest_level_with_or_without_script(site: Site) -> None:
    # the workspace holds SECRET/SAR data; the log-in form reveals none of it
    page = site.page()
    page.goto(site.url + "/label/sar-ops")
    page.wait_for_url("**/login**")
    expect_banners(page, "UNCLASSIFIED")
    bare = site.browser.new_context(java_script_enabled=False)
    site.contexts.append(bare)
    no_script = bare.new_page()
    no_script.goto(site.url + "/login")
    expect_banners(no_script, "UNCLASSIFIED")


def test_error_pages_show_the_lowest_level_to_any_clearance(site: Site) -> None:
    root = site.page()  # cleared to SECRET
    site.login(root, "root", "/")
    expect(root.locator("[data-project=sar-ops]")).to_be_visible()
    root.goto(site.url + "/no/such/page")
    _error(root, 404)
    expect_banners(root, "UNCLASSIFIED")

    ana = site.page()  # an annotator: the dashboard is not for her
    site.login(ana, "ana", "/")
    ana.goto(site.url + "/dashboard/survey")
    _error(ana, 403)
    expect_banners(ana, "UNCLASSIFIED")

    low = site.page()  # a project above the user is not found
    site.login(low, "low", "/")
    low.goto(site.url + "/label/sar-ops")
    _error(low, 404)
    expect_banners(low, "UNCLASSIFIED")

    anonymous = site.page()  # no session at all
    anonymous.goto(site.url + "/nowhere")
    _error(anonymous, 404)
    expect_banners(anonymous, "UNCLASSIFIED")


def test_a_server_fault_shows_the_marked_error_page_and_not_the_fault(site: Site) -> None:
    # a project row damaged in the database: opening it fails where nothing foresaw it
    man = site.page()
    site.login(man, "man", "/")
    with site.ws.db.begin() as conn:
        conn.execute(update(projects).where(projects.c.name == "triage").values(workflow="{"))
    man.goto(site.url + "/label/triage")
    _error(man, 500)
    expect(man.locator("h1")).to_have_text("Something went wrong")
    expect_banners(man, "UNCLASSIFIED")


def test_an_error_page_naming_a_project_is_marked_as_the_project_declares(site: Site) -> None:
    # the video view of a project with no video names the project: it carries the project's
    # declared marking, as the project list naming it does
    declared_project(site.ws)
    page = site.page()
    site.login(page, "ana", "/video/declared")
    _error(page, 404)
    expect(page.locator(".error-message")).to_contain_text("'declared' has no video")
    expect_banners(page, "CUI/FLOOD")

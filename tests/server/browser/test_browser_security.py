"""The pages under the Content-Security-Policy, and no open redirect after log-in."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from ui_site import Site

from labeling_world import PASSWORD

# Each is a way to write "another host" that a naive "starts with one slash" check lets through.
FOREIGN_NEXT = [
    "/%09/evil.example/",
    "/%0A/evil.example/",
    "/%5Cevil.example/",
    "//evil.example/",
    "/\\\\evil.example/",
    "https://evil.example/",
]


def _login_with_next(site: Site, nxt: str) -> Page:
    page = site.page()
    page.goto(f"{site.url}/login?next={nxt}")
    page.fill("#username", "ana")
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    return page


@pytest.mark.parametrize("nxt", FOREIGN_NEXT)
def test_login_never_redirects_to_another_site(site: Site, nxt: str) -> None:
    page = _login_with_next(site, nxt)
    page.wait_for_url(site.url + "/")
    expect(page.locator("#projects")).to_be_visible()
    assert site.foreign == []


def test_login_follows_a_same_site_path(site: Site) -> None:
    page = _login_with_next(site, "/label/triage%3Fx%3D1")
    page.wait_for_url(site.url + "/label/triage?x=1")

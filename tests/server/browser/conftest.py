"""Browser tests: the real server (uvicorn in a thread) driven by a real headless Chromium.

A test fails on any request to a host other than the test server and on any JavaScript error
(see `ui_site.Site`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, expect, sync_playwright
from ui_site import CHROMIUM, CHROMIUM_ARGS, Site, populate, serving

from assay.workspace import Workspace

# a loaded 2-core machine can take seconds for what is instant on a quiet one
expect.set_options(timeout=15_000)


# Module-scoped: Playwright's sync API keeps an event loop running on this thread while it is
# open, and `asyncio.run` refuses to start beside it; a session-long one failed whichever test
# of another suite (a feed, a stream) the same xdist worker ran after the first browser test.
# Pytest closes it when the worker moves on to another module, at one Chromium launch a module.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield b
    b.close()


@pytest.fixture
def site(ws: Workspace, tmp_path: Path, browser: Browser) -> Iterator[Site]:
    with serving(ws, populate(ws, tmp_path), browser) as s:
        yield s

"""Helpers of the browser tests: a populated workspace, the running site, mouse and text helpers.

Every page a test opens goes through a guard that records requests to any host other than
the test server and aborts them; a test fails if any was made, and on any JavaScript error or
anything the Content-Security-Policy blocked.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from playwright.sync_api import (
    APIResponse,
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Route,
    expect,
)
from sqlalchemy import select

from assay.domain.labels import Region, payload_to_json
from assay.domain.schema import LabelSchema
from assay.labeling import Workflow, create_project
from assay.labeling.task_refs import task_refs
from assay.store.schema import annotations_table, assignments, reviews, tasks
from assay.timeutil import now_iso
from assay.workspace import Workspace
from labeling_world import PASSWORD, LiveServer, World, build_world

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

# An image project with number keys for the box classes, and a text project with spans,
# a ranking of candidate responses and a rating.
TRIAGE_YAML = """
title: Flood triage
controls:
  - name: label
    type: boxes
    labels: [building, vehicle]
  - name: area
    type: polygons
    labels: [water]
  - name: damage
    type: choices
    labels: [none, minor, destroyed]
  - name: notes
    type: text
  - name: people
    type: points
    labels: [person]
"""

# A required choice beside boxes: a task without the choice is not submitted.
STRICT_YAML = """
title: Flood damage survey
controls:
  - {name: label, type: boxes, labels: [building, vehicle]}
  - {name: damage, type: choices, labels: [none, minor, destroyed], required: true}
"""

REPORTS_YAML = """
title: Field reports
controls:
  - name: ner
    type: spans
    labels: [LOC, HAZARD]
  - name: preference
    type: ranking
    candidates_field: responses
  - name: quality
    type: rating
    max: 5
"""

REPORTS = [
    {
        "text": "Levee breach near Oak Bridge 🌊 flooded Riverton overnight.",
        "responses": [
            "Wait at home for the water to drop.",
            "Drive across Oak Bridge to the north.",
            "Walk to the Lincoln School shelter on high ground.",
        ],
    },
    {
        "text": "Shelter at the sports hall in Millbrook needs blankets.",
        "responses": ["Send blankets.", "Send nothing."],
    },
]


@dataclass
class Site:
    """A running server over a populated workspace, and the pages opened against it."""

    url: str
    world: World
    browser: Browser
    foreign: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    contexts: list[BrowserContext] = field(default_factory=list)

    @property
    def ws(self) -> Workspace:
        return self.world.ws

    def page(self) -> Page:
        """A fresh browser context (own cookies and localStorage) with the host guard."""
        ctx = self.browser.new_context(viewport={"width": 1280, "height": 800})
        ctx.set_default_timeout(15_000)
        ctx.route("**/*", self._guard)
        self.contexts.append(ctx)
        page = ctx.new_page()
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        # What the Content-Security-Policy blocked is an error too: the UI must need none of it.
        page.on("console", self._csp_violation)
        return page

    def _csp_violation(self, msg: ConsoleMessage) -> None:
        if msg.type == "error" and "Content Security Policy" in msg.text:
            self.errors.append(msg.text)

    def _guard(self, route: Route) -> None:
        parts = urlsplit(route.request.url)
        if parts.scheme in ("data", "blob") or parts.hostname == "127.0.0.1":
            route.fallback()
        else:
            self.foreign.append(route.request.url)
            route.abort()

    def login(self, page: Page, user: str, path: str = "/") -> None:
        """Open `path`, get sent to the log-in form, log in, land back on `path`."""
        page.goto(self.url + path)
        page.wait_for_url("**/login**")
        page.fill("#username", user)
        page.fill("#password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_url(self.url + path)

    def annotations(self, project: str, kind: str = "human") -> list[dict[str, Any]]:
        t = annotations_table
        with self.ws.db.read() as conn:
            rows = conn.execute(
                select(t).where(t.c.project == project, t.c.kind == kind).order_by(t.c.created)
            ).all()
        return [{**r._asdict(), "regions": json.loads(r.payload)} for r in rows]

    def task(self, task_id: str) -> Any:
        """The task row behind the reference `task_id` that the page shows."""
        row_id = task_refs(self.ws.db).decode(task_id)
        with self.ws.db.read() as conn:
            return conn.execute(select(tasks).where(tasks.c.id == row_id)).one()

    def assignment(self, task_id: str) -> Any:
        row_id = task_refs(self.ws.db).decode(task_id)
        with self.ws.db.read() as conn:
            return conn.execute(select(assignments).where(assignments.c.task_id == row_id)).one()

    def reviews(self) -> list[Any]:
        with self.ws.db.read() as conn:
            return list(conn.execute(select(reviews).order_by(reviews.c.id)).all())

    def add_model_labels(self, item_id: str, regions: list[Region]) -> None:
        with self.ws.db.begin() as conn:
            conn.execute(
                annotations_table.insert().values(
                    id=f"model-{item_id[:16]}",
                    item_id=item_id,
                    project=None,
                    author="model:flood-det@1",
                    kind="model",
                    payload=payload_to_json(regions),
                    created=now_iso(),
                    lead_time=None,
                    supersedes=None,
                    source_id="test",
                )
            )


@contextmanager
def serving(ws: Workspace, world: World, browser: Browser) -> Iterator[Site]:
    """The real server over `ws` and a `Site` driving it; on the way out, fail on any request
    that left the machine and on any JavaScript error the pages raised."""
    from assay.server import Settings, create_app

    with LiveServer(create_app(Settings(), ws)) as url:
        s = Site(url, world, browser)
        yield s
        for ctx in s.contexts:
            ctx.close()
    assert s.foreign == [], f"requests left the machine: {s.foreign}"
    assert s.errors == [], f"JavaScript errors: {s.errors}"


def populate(ws: Workspace, root: Path) -> World:
    """build_world's users, items and `survey` project, plus `triage` and `reports`."""
    world = build_world(ws, root / "data", workflow=Workflow(overlap=1, review="all"))
    create_project(
        ws,
        "triage",
        LabelSchema.from_yaml_text(TRIAGE_YAML, "triage.yaml"),
        "flood",
        Workflow(overlap=1, review="all"),
        instructions="Box every building; mark flood water with a polygon.",
    )
    reports = root / "reports" / "reports.jsonl"
    reports.parent.mkdir(parents=True)
    reports.write_text("".join(json.dumps(r) + "\n" for r in REPORTS), encoding="utf-8")
    world.items["reports"] = sorted(ws.ingest([reports], marking="CUI/FLOOD").new)
    ws.create_dataset("reports")
    ws.add_items("reports", "media_type~text/*")
    create_project(ws, "reports", LabelSchema.from_yaml_text(REPORTS_YAML, "r.yaml"), "reports")
    return world


def expect_banners(page: Page, marking: str) -> None:
    """The page's two marking banners, top and bottom, both showing `marking` in its colour."""
    expect(page.locator(".marking-banner")).to_have_count(2)
    for where in ("top", "bottom"):
        banner = page.locator(f".marking-banner.{where}")
        expect(banner).to_have_text(marking)
        expect(banner).to_be_visible()
        expect(banner).to_have_attribute("data-level", marking.split("/")[0])


def declared_project(ws: Workspace) -> None:
    """Project `declared`, declared CUI/FLOOD (its instructions say more than its items), over
    dataset `pub` of the UNCLASSIFIED items, every task reviewed."""
    ws.create_dataset("pub")
    ws.add_items("pub", "marking=UNCLASSIFIED")
    create_project(
        ws,
        "declared",
        LabelSchema.from_yaml_text(TRIAGE_YAML, "declared.yaml"),
        "pub",
        Workflow(overlap=1, review="all"),
        instructions="Levee breach reported at the north pumping station.",
        marking="CUI/FLOOD",
    )


def task_id(page: Page) -> str:
    """The id of the task on screen (the stage carries it)."""
    page.wait_for_selector("#stage[data-task-id]", state="attached")
    return str(page.get_attribute("#stage", "data-task-id"))


def next_task_shown(page: Page, previous: str) -> str:
    """Wait until a different task is on screen; return its id."""
    page.wait_for_function(
        "prev => { const s = document.querySelector('#stage');"
        " return s.dataset.taskId && s.dataset.taskId !== prev; }",
        arg=previous,
    )
    return task_id(page)


def image_to_screen(page: Page, x: float, y: float) -> tuple[float, float]:
    """Page coordinates of image pixel (x, y) on the label canvas."""
    canvas = page.locator("canvas.image-canvas")
    scale, tx, ty = view(page)
    box = canvas.bounding_box()
    assert box is not None
    return box["x"] + tx + x * scale, box["y"] + ty + y * scale


def view(page: Page) -> tuple[float, float, float]:
    """The canvas's image-to-screen mapping: (scale, tx, ty)."""
    page.wait_for_selector("canvas.image-canvas[data-ready]")
    raw = str(page.get_attribute("canvas.image-canvas", "data-view"))
    scale, tx, ty = (float(v) for v in raw.split())
    return scale, tx, ty


def drag(
    page: Page,
    a: tuple[float, float],
    b: tuple[float, float],
    button: Literal["left", "middle", "right"] = "left",
) -> None:
    page.mouse.move(*a)
    page.mouse.down(button=button)
    page.mouse.move((a[0] + b[0]) / 2, (a[1] + b[1]) / 2, steps=4)
    page.mouse.move(*b, steps=4)
    page.mouse.up(button=button)


# Records every JSON answer the page has read (its URL), in the order read: a test that holds
# an answer back (page.route) and lets it go later waits here until the page has it. The page's
# own code that awaited the answer runs in the same turn, before any later check.
_ANSWERS_READ = """(() => {
  const json = Response.prototype.json;
  window.__answersRead = [];
  Response.prototype.json = async function () {
    const value = await json.call(this);
    window.__answersRead.push(this.url);
    return value;
  };
})()"""


def record_answers(page: Page) -> None:
    """Record the JSON answers `page` reads from now on (see `answer_read`)."""
    page.add_init_script(_ANSWERS_READ)


def answer_read(page: Page, url_part: str, times: int = 1) -> None:
    """Wait until the page has read `times` JSON answers whose URL contains `url_part`."""
    page.wait_for_function(
        "([part, times]) => window.__answersRead.filter((u) => u.includes(part)).length >= times",
        arg=[url_part, times],
    )


@dataclass
class Held:
    """Requests held back by a page.route handler until the test lets them go, to make the
    order in which answers arrive the one under test."""

    routes: list[Route] = field(default_factory=list)
    limit: int | None = None  # hold this many, let the later ones through
    method: str | None = None  # hold only requests of this method
    # ask the server at once and hold back its answer (else the request itself waits, and the
    # server answers later with what is true then)
    answered: bool = False
    answers: list[APIResponse] = field(default_factory=list)
    seen: int = 0
    failed: bool = False  # `fail` was called: later requests fail at once too

    def __call__(self, route: Route) -> None:
        if self.method is not None and route.request.method != self.method:
            route.fallback()
            return
        if self.failed:
            route.abort()
            return
        self.seen += 1
        if self.limit is not None and self.seen > self.limit:
            route.fallback()
        else:
            if self.answered:
                self.answers.append(route.fetch())
            self.routes.append(route)

    def wait(self, page: Page, n: int = 1) -> None:
        """Wait until `n` requests are held (the page goes on running meanwhile)."""
        deadline = time.monotonic() + 15
        while len(self.routes) < n:
            assert time.monotonic() < deadline, f"{len(self.routes)} of {n} requests held"
            page.wait_for_timeout(20)  # lets Playwright call the route handler

    def release(self) -> None:
        for n, route in enumerate(self.routes):
            if self.answered:
                route.fulfill(response=self.answers[n])
            else:
                route.continue_()
        self.routes.clear()
        self.answers.clear()

    def fail(self) -> None:
        """Let the held requests, and any made later, fail as a lost connection does."""
        self.failed = True
        for route in self.routes:
            route.abort()
        self.routes.clear()
        self.answers.clear()


# Records the address of every image the page's code made (new Image()) once it has loaded; the
# page's own onload runs in the same event, before any later check.
_IMAGES_LOADED = """(() => {
  const Native = window.Image;
  window.__imagesLoaded = [];
  window.Image = function (...args) {
    const img = new Native(...args);
    img.addEventListener("load", () => window.__imagesLoaded.push(img.src));
    return img;
  };
})()"""


def record_images(page: Page) -> None:
    """Record the images `page` loads from now on (see `image_loaded`)."""
    page.add_init_script(_IMAGES_LOADED)


def image_loaded(page: Page, url: str) -> None:
    """Wait until the page has loaded the image at `url` (its onload has run)."""
    page.wait_for_function("url => window.__imagesLoaded.includes(url)", arg=url)


# Holds back the onload of the images the page's code makes (new Image()) while holding is on,
# until the test lets them go: two loads of one address share one request in Chromium (the one
# in flight, or the image it keeps in memory) and it tells the two images in an order of its
# own, so holding the request (`Held`) cannot order them. The page's own onload (and the code
# that awaited it) runs inside `release`, before any later check.
_IMAGE_LOADS = """(() => {
  const Native = window.Image;
  const loads = { hold: false, held: [] };
  loads.release = () => loads.held.splice(0).forEach((run) => run());
  window.__imageLoads = loads;
  window.Image = function (...args) {
    const img = new Native(...args);
    const held = loads.hold;
    let onload = null;
    Object.defineProperty(img, "onload", { get: () => onload, set: (f) => { onload = f; } });
    img.addEventListener("load", (ev) => {
      if (!onload) return;
      if (held) loads.held.push(() => onload.call(img, ev));
      else onload.call(img, ev);
    });
    return img;
  };
})()"""


@dataclass
class HeldImages:
    """The onload of images made while `holding` is on waits for `release` (see _IMAGE_LOADS);
    made before the page is opened."""

    page: Page

    def __post_init__(self) -> None:
        self.page.add_init_script(_IMAGE_LOADS)

    @contextmanager
    def holding(self) -> Iterator[None]:
        """Hold the images the page asks for inside the block."""
        self.page.evaluate("() => { window.__imageLoads.hold = true; }")
        try:
            yield
        finally:
            self.page.evaluate("() => { window.__imageLoads.hold = false; }")

    def wait(self, n: int = 1) -> None:
        """Wait until `n` images have come and wait to be told (their onload not yet run)."""
        self.page.wait_for_function("n => window.__imageLoads.held.length >= n", arg=n)

    def release(self) -> None:
        self.page.evaluate("() => window.__imageLoads.release()")


def pixel(page: Page, x: int, y: int) -> tuple[int, int, int]:
    """The colour the label canvas shows at image pixel (x, y)."""
    scale, tx, ty = view(page)
    rgb = page.evaluate(
        "([cx, cy]) => [...document.querySelector('canvas.image-canvas').getContext('2d')"
        ".getImageData(cx, cy, 1, 1).data.slice(0, 3)]",
        [round(tx + (x + 0.5) * scale), round(ty + (y + 0.5) * scale)],
    )
    return (rgb[0], rgb[1], rgb[2])

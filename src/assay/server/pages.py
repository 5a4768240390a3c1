"""Server-rendered page shells; the pages' behaviour lives in static/*.js.

Templates (templates/*.html, Jinja2) get: `request`, `user` ({name, role,
clearance} or None), `csrf_token`, `project` (name or None), `project_title`,
`api` ("/api/v1"), `static` ("/static"), `marking_levels` (the workspace's marking
levels, lowest first: the pages that list marked things put the highest of them in their
banners, ui.js `highestMarking`) and `page_marking`, the least every banner of the page shows
(_marking.html renders it before any script runs; ui.js `setMarking` never shows less): the
project's declared marking on a page of a project (its title is on the page), else the
workspace's lowest level (the log-in and error pages show no data).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from assay.errors import AssayError, MissingExtra, PermissionDenied
from assay.labeling._tx import tx_for
from assay.labeling.catalog import declared_marking, visible_project
from assay.labeling.users import Capability, User
from assay.labeling.video import is_video_project
from assay.server.deps import optional_user
from assay.server.token_scopes import ScopeDenied

router = APIRouter(include_in_schema=False)
TEMPLATES = Path(__file__).parent / "templates"


def _render(
    request: Request, name: str, user: User | None, *, page_marking: str = "", **extra: Any
) -> Response:
    try:
        from fastapi.templating import Jinja2Templates
    except (ImportError, AssertionError) as exc:  # pragma: no cover - jinja2 is in the extra
        raise MissingExtra("jinja2 is not installed; pip install 'assay[server]'") from exc
    templates = request.app.state.__dict__.setdefault(
        "_templates", Jinja2Templates(directory=str(TEMPLATES))
    )
    ws = getattr(request.app.state, "workspace", None)
    levels = list(ws.scheme.levels) if ws is not None else []
    context = {
        "user": user.to_dict() if user else None,
        "csrf_token": getattr(request.state, "csrf_token", None),
        "project": None,
        "project_title": None,
        "api": "/api/v1",
        "static": "/static",
        "marking_levels": levels,
        "page_marking": page_marking or (levels[0] if levels else ""),
        **extra,
    }
    if not (TEMPLATES / name).is_file():
        return HTMLResponse(_fallback(name, context))
    return templates.TemplateResponse(request, name, context)  # type: ignore[no-any-return]


_HEADINGS = {
    401: ("Please log in", "Your session has ended or you are not logged in."),
    403: ("Not allowed", "Your role or clearance does not cover this page; ask a manager."),
    404: ("Not found", "It does not exist, or you are not cleared to see it."),
    409: ("Conflict", "Reload the page and try again."),
    422: ("Cannot do that", "Check what was asked and try again."),
    429: ("Too many attempts", "Wait a minute and try again."),
}


def wants_html(request: Request) -> bool:
    """A browser page (not the API, not a static file): errors become HTML pages."""
    path = request.url.path
    return not path.startswith(("/api/", "/static/"))


def as_sentence(message: str, *, opens_with_name: bool = False) -> str:
    """`message` with a capital first letter, unless it opens with a name, shown as spelt: a
    library (`opens_with_name`: `pyproj is not installed`), or a first word that is more
    than lowercase letters (a file, a model `flood-clf@2:`, an option, a quoted name).

    Example:
        >>> as_sentence("no project named 'x'"), as_sentence("flood-clf@2: no such version")
        ("No project named 'x'", 'flood-clf@2: no such version')
    """
    first = message.split(" ", 1)[0]
    if opens_with_name or not (first.isascii() and first.isalpha() and first.islower()):
        return message
    return message[:1].upper() + message[1:]


def error_page(
    request: Request, status: int, message: str, *, opens_with_name: bool = False
) -> Response:
    """An error as a page in the app's style; the API keeps its JSON errors."""
    heading, advice = _HEADINGS.get(status, ("Something went wrong", "Try again later."))
    # the service messages end with a hint for the command line (`; see `assay ...``): a
    # browser user gets the page's own advice instead
    text = message.split("; see `")[0].split("; run `")[0]
    text = as_sentence(text, opens_with_name=opens_with_name)  # a sentence on a page
    try:
        user = optional_user(request)
    except AssayError:
        user = None
    resp = _render(
        request, "error.html", user, heading=heading, message=text, advice=advice, status=status
    )
    resp.status_code = status
    return resp


def server_error_page(request: Request) -> Response:
    """The page for an error nothing foresaw (500): the app's error page, marked as every page
    is, saying nothing of the error (its text may quote data; the server's log has it). The
    user is not looked up: whatever failed may fail again."""
    resp = _render(
        request,
        "error.html",
        None,
        heading="Something went wrong",
        message="The server met an error it did not expect; its log says which.",
        advice="Try again later; if it happens again, tell whoever runs this server.",
        status=500,
    )
    resp.status_code = 500
    return resp


def _fallback(name: str, context: dict[str, Any]) -> str:
    from html import escape

    title = escape(str(context.get("project_title") or "assay"))
    return f"<!doctype html><title>{title}</title><p>{escape(name)}: template missing</p>"


def _page(
    request: Request,
    name: str,
    project: str | None,
    need: Capability,
    *,
    video: bool | None = None,
    **more: Any,
) -> Response:
    """The page `name` for a logged-in user allowed `need` (and able to see `project`).

    `video`: the page is the video view (True) or the item-by-item labeling view (False): a
    video project's labeling view redirects to its video view, and the video view of a
    project without video says where to label it instead.
    """
    try:
        user = optional_user(request)
    except ScopeDenied:
        raise
    except AssayError:
        user = None
    if user is None:
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(back, safe='/')}", status_code=303)
    if not user.can(need):
        raise PermissionDenied(f"user {user.name!r} ({user.role}) may not open this page")
    extra: dict[str, Any] = dict(more)
    if project is not None:
        ws = request.app.state.workspace
        with ws.db.read() as conn:
            p = visible_project(conn, ws, user, project)
            is_video = video is not None and is_video_project(tx_for(conn), p.id)
            # the page names the project (its title on the data pages): marked at least so
            declared = ws.scheme.render(declared_marking(tx_for(conn), ws.scheme, p))
        if video is False and is_video:
            query = f"?{request.url.query}" if request.url.query else ""
            return RedirectResponse(f"/video/{quote(p.name, safe='')}{query}", status_code=307)
        if video and not is_video:
            message = (
                f"Project {p.name!r} has no video: its tasks are not all frames of a video, "
                f"so it is labelled item by item at /label/{p.name}."
            )
            resp = _render(
                request, "error.html", user, heading="Not a video project", message=message,
                advice="Open the project from the project list.", status=404,
                page_marking=declared,
            )  # fmt: skip
            resp.status_code = 404
            return resp
        extra.update(project=p.name, project_title=p.title, page_marking=declared)
    return _render(request, name, user, **extra)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    return _render(request, "login.html", None)


@router.get("/", response_class=HTMLResponse)
def index_page(request: Request) -> Response:
    return _page(request, "index.html", None, "label")


@router.get("/label/{project}", response_class=HTMLResponse)
def label_page(request: Request, project: str) -> Response:
    return _page(request, "label.html", project, "label", video=False)


@router.get("/review/{project}", response_class=HTMLResponse)
def review_page(request: Request, project: str) -> Response:
    return _page(request, "review.html", project, "review")


@router.get("/dashboard/{project}", response_class=HTMLResponse)
def dashboard_page(request: Request, project: str) -> Response:
    return _page(request, "dashboard.html", project, "manage")


@router.get("/manage/{project}", response_class=HTMLResponse)
def manage_page(request: Request, project: str) -> Response:
    """The data manager: a project's tasks with filters, task view and bulk actions."""
    from assay.labeling.tasklist import manageable_project

    user = optional_user(request)
    if user is not None and user.can("review"):
        with request.app.state.workspace.db.read() as conn:
            manageable_project(request.app.state.workspace, conn, user, project)
    return _page(request, "manage.html", project, "review")


@router.get("/projects/new", response_class=HTMLResponse)
def new_project_page(request: Request) -> Response:
    """Create a project (dataset revision, schema with live preview, workflow) and add users."""
    return _page(request, "project_new.html", None, "manage")


@router.get("/explore", response_class=HTMLResponse)
def explore_index_page(request: Request) -> Response:
    return _page(request, "explore.html", None, "review")


@router.get("/explore/{dataset}", response_class=HTMLResponse)
def explore_page(request: Request, dataset: str) -> Response:
    """The dataset explorer: grid, filters, item view and revision diff."""
    from assay.labeling.setup import visible_dataset

    user = optional_user(request)
    if user is not None and user.can("review"):
        ws = request.app.state.workspace
        with ws.db.read() as conn:
            visible_dataset(ws, conn, user, dataset)
    return _page(request, "explore.html", None, "review", dataset=dataset)

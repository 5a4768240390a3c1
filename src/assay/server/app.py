"""The FastAPI app factory: REST API under /api/v1 and the web UI, from one workspace."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from assay import __version__, audit
from assay._extras import as_missing_extra
from assay.errors import AssayError, MissingExtra
from assay.server import _openapi, token_scopes
from assay.server._hardening import harden, not_json_sent
from assay.server._stream_slots import StreamSlots
from assay.server.api_models import ANY_ROUTE
from assay.server.pages import error_page, server_error_page, wants_html
from assay.server.pages import router as pages_router
from assay.server.routes import ROUTERS
from assay.server.sensor_pages import router as sensor_pages_router
from assay.server.settings import Settings
from assay.workspace import Workspace

API = "/api/v1"
log = logging.getLogger(__name__)
HERE = Path(__file__).parent


def create_app(settings: Settings, workspace: Workspace) -> FastAPI:
    """Build the app. No global state: everything hangs off `app.state`.

    Example:
        >>> import tempfile
        >>> from assay import Workspace
        >>> app = create_app(Settings(), Workspace.init(tempfile.mkdtemp()))
        >>> app.openapi_url
        '/api/v1/openapi.json'
    """
    app = FastAPI(
        lifespan=_checkpoints(workspace, settings.checkpoint_seconds),
        title="assay labeling API",
        version=__version__,
        openapi_url=f"{API}/openapi.json",
        docs_url=None,  # the stock docs page loads scripts from a CDN; air-gapped means none
        redoc_url=None,
        **_no_telemetry(),
    )
    app.state.settings = settings
    app.state.workspace = workspace
    app.state.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="assay-writer")
    # The hot writes (next task, submit) of this process share group-committed transactions;
    # made on first use (`deps.hot_write`), so building the app touches no database.
    app.state.committer = None
    app.state.streams = StreamSlots(settings.max_streams_per_user)
    for router in ROUTERS:
        app.include_router(router, prefix=API, responses=ANY_ROUTE)
    app.include_router(pages_router)
    app.include_router(sensor_pages_router)
    app.state.token_scopes = token_scopes.bind(
        [
            *((API, r) for router in ROUTERS for r in router.routes),
            *(("", r) for r in (*pages_router.routes, *sensor_pages_router.routes)),
        ],
        token_scopes.API_SCOPES | token_scopes.PAGE_SCOPES,
    )
    _openapi.install(app, API)
    harden(app, settings.max_body_bytes, settings.max_json_depth)
    static = HERE / "static"
    static.mkdir(exist_ok=True)
    app.mount("/static", StaticFiles(directory=static), name="static")

    @app.exception_handler(AssayError)
    async def assay_error(request: Request, exc: AssayError) -> Response:
        # The one place AssayError classes become HTTP statuses (an HTML page for browser
        # pages, JSON for the API).
        if isinstance(exc, token_scopes.ScopeDenied):  # audited once, off the event loop
            await run_in_threadpool(exc.record, workspace)
        if wants_html(request):  # the page looks up the caller: off the event loop
            # a missing library's message opens with its name: as spelt, not capitalised
            named = isinstance(exc, MissingExtra)
            return await run_in_threadpool(
                error_page, request, exc.http_status, str(exc), opens_with_name=named
            )
        return JSONResponse({"error": str(exc)}, status_code=exc.http_status)

    @app.exception_handler(ModuleNotFoundError)
    async def missing_library(request: Request, exc: ModuleNotFoundError) -> Response:
        # A library of an extra this server lacks, imported where nothing named the extra:
        # a 501 naming it, as `MissingExtra` is; any other missing module stays a fault.
        missing = as_missing_extra(exc)
        if missing is None:
            raise exc
        return await assay_error(request, missing)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if wants_html(request) and exc.status_code >= 400:
            message = f"no page at {request.url.path}"
            return await run_in_threadpool(error_page, request, exc.status_code, message)
        # Framework errors (unknown route, wrong method) in the same shape as ours.
        if exc.status_code == 400 and request.url.path.startswith(API):
            return JSONResponse({"error": "request body: not valid JSON"}, status_code=422)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_allowed(request.app, request.url.path))
        return JSONResponse(
            {"error": str(exc.detail)}, status_code=exc.status_code, headers=headers
        )

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        # An error nothing foresaw (Starlette logs it after this answer): a browser page gets
        # the app's error page, marked as every page is, instead of bare text.
        if wants_html(request):
            try:
                return await run_in_threadpool(server_error_page, request)
            except Exception:  # the page itself failed: the plain answer, as before
                log.exception("the error page for %s failed", request.url.path)
        return PlainTextResponse("Internal Server Error", status_code=500)

    @app.exception_handler(RequestValidationError)
    async def bad_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        loc = tuple(first.get("loc", ()))
        if first.get("type") == "json_invalid":
            return JSONResponse({"error": "request body: not valid JSON"}, status_code=422)
        sent = not_json_sent(request.headers.get("content-type", ""))
        if loc[:1] == ("body",) and sent is not None:
            return JSONResponse(
                {
                    "error": "request body: must be JSON sent with Content-Type: "
                    f"application/json (this request had {sent})"
                },
                status_code=422,
            )
        where = ".".join(str(x) for x in loc)
        return JSONResponse(
            {"error": f"{where}: {first.get('msg', 'invalid request')}"}, status_code=422
        )

    return app


def _checkpoints(workspace: Workspace, every: float) -> Any:
    """While serving, sign a checkpoint of the audit head whenever it moved; again at exit.

    Events are signed as they are written; these checkpoints, kept outside the database,
    are what reveal events cut off the end of the trail.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                await asyncio.sleep(every)
                await asyncio.to_thread(_checkpoint_quietly, workspace)

        task = asyncio.create_task(loop())
        try:
            yield
        finally:
            task.cancel()
            await asyncio.to_thread(_checkpoint_quietly, workspace)

    return lifespan


def _checkpoint_quietly(workspace: Workspace) -> None:
    try:
        audit.checkpoint_if_new(workspace.db, workspace.root)
    except Exception as exc:  # a failed checkpoint must not stop the server; verify shows it
        log.warning("no audit checkpoint written: %s", exc)


def _allowed(app: FastAPI, path: str) -> list[str]:
    """The methods of the routes `path` is meant for: among those whose pattern matches, the
    ones with the fewest parameters (``/tasks/bulk`` is the bulk route, not a task named
    "bulk"), so a 405's Allow header says what the OpenAPI document says."""
    found: dict[int, set[str]] = {}
    for route in app.routes:
        if isinstance(route, APIRoute) and route.path_regex.match(path):
            found.setdefault(len(route.param_convertors), set()).update(route.methods or ())
    return sorted(found[min(found)]) if found else []


def _no_telemetry() -> dict[str, Any]:
    """Air-gapped: no OpenTelemetry hooks (FastAPI >= 0.160 checks them on every request)."""
    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    off = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
    return {"telemetry": off}


def app_from_env() -> FastAPI:
    """The factory uvicorn workers call (`--factory`): workspace and settings from env."""
    ws = Workspace.open(os.environ.get("ASSAY_WORKSPACE"))
    settings = Settings(
        secure_cookies=os.environ.get("ASSAY_SECURE_COOKIES", "") == "1",
    )
    return create_app(settings, ws)

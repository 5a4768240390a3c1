"""Request authentication: bearer tokens (no CSRF; their scopes checked against the route,
`assay.server.token_scopes`) or session cookies (CSRF on writes)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from assay.errors import PermissionDenied, Unauthenticated
from assay.labeling._tx import Tx, write_tx
from assay.labeling.sessions import csrf_ok, session_user
from assay.labeling.users import User, user_for_token
from assay.server import token_scopes
from assay.server._group_commit import GroupCommit
from assay.server.settings import Settings
from assay.workspace import Workspace

COOKIE = "assay_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
T = TypeVar("T")


async def in_writer(request: Request, fn: Callable[[], T]) -> T:
    """Run a write service call off the event loop.

    SQLite takes one writer at a time anyway: there one thread does all writes in turn,
    which avoids lock convoys among pool threads. PostgreSQL runs writers side by side
    (row locks where they meet), so there writes go to the shared thread pool.
    """
    import asyncio

    ws: Workspace = request.app.state.workspace
    if not ws.db.is_sqlite:
        return await run_in_threadpool(fn)
    executor: ThreadPoolExecutor = request.app.state.writer
    return await asyncio.get_running_loop().run_in_executor(executor, fn)


async def hot_write(request: Request, op: Callable[[Tx], T]) -> T:
    """Run a short write in this process's next group commit (SQLite), else on the writer.

    `op` runs on the event loop thread inside a shared transaction; it is answered only once
    that transaction has committed.
    """
    state = request.app.state
    ws: Workspace = state.workspace
    committer: GroupCommit | None = state.committer
    if committer is None and ws.db.is_sqlite:
        committer = state.committer = GroupCommit(ws.db)
    if committer is not None:
        return await committer.run(op)

    def alone() -> T:
        with write_tx(ws.db) as tx:
            return op(tx)

    return await in_writer(request, alone)


async def workspace(request: Request) -> Workspace:
    ws: Workspace = request.app.state.workspace
    return ws


def settings(request: Request) -> Settings:
    s: Settings = request.app.state.settings
    return s


def require_admin(user: User) -> User:
    user.require("admin")
    return user


async def current_admin(request: Request) -> User:
    return require_admin(await current_user(request))


def optional_user(request: Request) -> User | None:
    """The caller, or None; a cookie-authenticated write without the CSRF header is refused."""
    ws: Workspace = request.app.state.workspace
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        # Read fresh on every request (one indexed join): a revoked or expired token, or a
        # disabled user, is refused from the very next request, in every worker process.
        token = auth[7:].strip()
        user = user_for_token(ws, token)
        if user is None:
            raise Unauthenticated("the API token is unknown, expired or revoked")
        token_scopes.check(request, user, token)
        request.state.bearer = token
        return user
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    found = session_user(ws, cookie)
    if found is None:
        return None
    user, csrf = found
    request.state.csrf_token = csrf
    if request.method not in SAFE_METHODS and not csrf_ok(csrf, request.headers.get(CSRF_HEADER)):
        raise PermissionDenied(f"missing or wrong {CSRF_HEADER} header (cross-site request?)")
    return user


async def current_user(request: Request) -> User:
    # On SQLite this runs on the event loop: one indexed read of a local file, no thread hop.
    # A database server's round trip never blocks the loop: that read goes to the pool.
    ws: Workspace = request.app.state.workspace
    user = (
        optional_user(request)
        if ws.db.is_sqlite
        else await run_in_threadpool(optional_user, request)
    )
    if user is None:
        raise Unauthenticated("log in first (POST /api/v1/auth/login) or send a bearer token")
    return user


CurrentUser = Annotated[User, Depends(current_user)]
CurrentAdmin = Annotated[User, Depends(current_admin)]
WorkspaceDep = Annotated[Workspace, Depends(workspace)]

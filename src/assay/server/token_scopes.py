"""Which token scope each route needs: the one table, and the one check the auth makes.

A request with a scoped API token (`assay token create NAME --scope read,label`) reaches a
route only when the route's scope is among the token's: else 403 naming the scope it needs,
and a ``token.denied`` audit event. Tokens with all of their user's role and browser
sessions pass unchecked. The check only narrows: the role and clearance checks of the route
itself run as before. A route missing from these tables answers scoped tokens 403
(`tests/server/test_token_scopes.py` fails for such a route).

Every GET of the labeling server is ``read``; the writes are ``label``, ``review`` or
``manage``; the model routes of `assay serve-model` are ``serve``; ``any`` marks the routes
every token may call (logging in, and logging out, which revokes the token itself).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from fastapi import Request
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from assay import audit
from assay.errors import PermissionDenied
from assay.labeling.scopes import Scope, record_refusal, scopes_text
from assay.labeling.users import User, token_digest
from assay.workspace import Workspace

Need = Scope | Literal["any"]
Route = tuple[str, str]  # method, path as the OpenAPI document spells it

API_SCOPES: dict[Route, Need] = {
    ("POST", "/api/v1/auth/login"): "any",
    ("POST", "/api/v1/auth/logout"): "any",
    ("GET", "/api/v1/me"): "read",
    ("GET", "/api/v1/projects"): "read",
    ("POST", "/api/v1/projects"): "manage",
    ("GET", "/api/v1/projects/{project}"): "read",
    ("GET", "/api/v1/projects/{project}/mine"): "read",
    ("GET", "/api/v1/projects/{project}/dashboard"): "read",
    ("POST", "/api/v1/projects/{project}/next"): "label",
    ("POST", "/api/v1/projects/{project}/review/next"): "review",
    ("GET", "/api/v1/projects/{project}/tasks"): "read",
    ("GET", "/api/v1/projects/{project}/tasks/{task_id}"): "read",
    ("POST", "/api/v1/projects/{project}/tasks/bulk"): "manage",
    ("GET", "/api/v1/projects/{project}/videos"): "read",
    ("GET", "/api/v1/projects/{project}/videos/{video_id}"): "read",
    ("POST", "/api/v1/projects/{project}/videos/{video_id}/tracks"): "label",
    ("POST", "/api/v1/tasks/{task_id}/submit"): "label",
    ("POST", "/api/v1/tasks/{task_id}/skip"): "label",
    ("POST", "/api/v1/tasks/{task_id}/amend"): "label",
    ("GET", "/api/v1/tasks/{task_id}/mine"): "read",
    ("POST", "/api/v1/tasks/{task_id}/review"): "review",
    ("GET", "/api/v1/items/{item_id}"): "read",
    ("GET", "/api/v1/items/{item_id}/blob"): "read",
    ("GET", "/api/v1/items/{item_id}/thumb"): "read",
    ("GET", "/api/v1/map/layers"): "read",
    ("GET", "/api/v1/pictures/{name}/entities"): "read",
    ("GET", "/api/v1/pictures/{name}/entities/{entity_id}"): "read",
    ("GET", "/api/v1/pictures/{name}/lattice"): "read",
    ("GET", "/api/v1/pictures/{name}/cot"): "read",
    ("GET", "/api/v1/pictures/{name}/stream"): "read",
    ("GET", "/api/v1/datasets"): "read",
    ("POST", "/api/v1/schema/preview"): "manage",
    ("GET", "/api/v1/explore/{dataset}"): "read",
    ("GET", "/api/v1/explore/{dataset}/items/{item_id}"): "read",
    ("GET", "/api/v1/explore/{dataset}/diff"): "read",
    ("GET", "/api/v1/explore/{dataset}/runs"): "read",
    ("GET", "/api/v1/users"): "read",
    ("POST", "/api/v1/users"): "manage",
    ("GET", "/api/v1/users/{name}"): "read",
    ("POST", "/api/v1/users/{name}/password"): "manage",
    ("POST", "/api/v1/users/{name}/disable"): "manage",
    ("POST", "/api/v1/users/{name}/enable"): "manage",
    ("POST", "/api/v1/users/{name}/role"): "manage",
    ("POST", "/api/v1/users/{name}/clearance"): "manage",
    ("GET", "/api/v1/tokens"): "read",
    ("POST", "/api/v1/users/{name}/tokens"): "manage",
    ("POST", "/api/v1/tokens/{token_id}/revoke"): "manage",
}

# The browser pages: what they show, the API's GET routes show too.
PAGE_SCOPES: dict[Route, Need] = {
    ("GET", path): "read"
    for path in (
        "/login",
        "/",
        "/label/{project}",
        "/review/{project}",
        "/dashboard/{project}",
        "/manage/{project}",
        "/projects/new",
        "/explore",
        "/explore/{dataset}",
        "/video/{project}",
        "/map",
        "/tiles/{item_id}/{z}/{x}/{y}.png",
    )
}

# `assay serve-model` (`assay.server.openai_api`).
MODEL_SCOPES: dict[Route, Need] = {
    ("GET", "/v1/models"): "serve",
    ("GET", "/v1/models/{name}"): "serve",
    ("POST", "/v1/chat/completions"): "serve",
    ("POST", "/v1/completions"): "serve",
}

Bound = dict[tuple[str, Any], tuple[Need, str]]  # (method, endpoint) -> (scope, path)


def bind(routes: Iterable[tuple[str, BaseRoute]], table: dict[Route, Need]) -> Bound:
    """Each (method, endpoint) of `routes` (with the prefix each is mounted under) mapped to
    its scope in `table`; a route missing from it is left out (scoped tokens get 403)."""
    bound: Bound = {}
    for prefix, route in routes:
        if not isinstance(route, APIRoute):
            continue
        path = prefix + route.path
        for method in route.methods or ():
            if (method, path) in table:
                bound[(method, route.endpoint)] = (table[(method, path)], path)
    return bound


class ScopeDenied(PermissionDenied):
    """A scoped token sent to a route outside its scopes; `record` audits the refusal."""

    def __init__(self, user: User, token: str, method: str, path: str, need: Need | None) -> None:
        held = scopes_text(user.scopes)
        if need is None:
            text = "only a token with all of its user's role may call it"
        else:
            text = f"it needs the {need!r} scope"
        super().__init__(
            f"this API token (scopes: {held}) may not call {method} {path}: {text}; "
            "an admin makes one with `assay token create USER --scope SCOPE`"
        )
        self.user, self.route, self.need, self.held = user, f"{method} {path}", need, held
        self.token = audit.fingerprint(token_digest(token))

    def record(self, ws: Workspace) -> None:
        record_refusal(ws, self.user.actor, self.route, self.need, self.held, self.token)


def check(request: Request, user: User, token: str) -> None:
    """Refuse (`ScopeDenied`) a token whose scopes lack the route's; None scopes pass."""
    if user.scopes is None:
        return
    method = "GET" if request.method == "HEAD" else request.method
    bound: Bound = request.app.state.token_scopes
    need, path = bound.get((method, request.scope.get("endpoint")), (None, request.url.path))
    if need == "any" or (need is not None and need in user.scopes):
        return
    raise ScopeDenied(user, token, method, path, need)

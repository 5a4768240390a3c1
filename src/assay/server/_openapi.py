"""The OpenAPI document, with how callers authenticate stated on every route that needs it.

Authentication is resolved by `deps.current_user` (also called directly on the hot routes),
not by FastAPI's security classes, so the schemes are added here: a bearer token, or the
session cookie set by ``POST /auth/login`` (then writes also need the X-CSRF-Token header).
Each operation's ``x-token-scope`` names the token scope it needs (`token_scopes`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from assay.server.deps import COOKIE
from assay.server.token_scopes import API_SCOPES

PUBLIC = {("/auth/login", "post")}  # what answers without credentials
# OpenAPI links: where an answer's ids lead (clients and schemathesis' stateful phase follow them)
LINKS = {
    ("/projects/{project}/next", "post"): {
        "Submit": ("/tasks/{task_id}/submit", "post", {"task_id": "$response.body#/task_id"}),
        "Skip": ("/tasks/{task_id}/skip", "post", {"task_id": "$response.body#/task_id"}),
        "Item": ("/items/{item_id}", "get", {"item_id": "$response.body#/item/id"}),
    },
    ("/projects/{project}/review/next", "post"): {
        "Review": ("/tasks/{task_id}/review", "post", {"task_id": "$response.body#/task_id"}),
        "Blob": ("/items/{item_id}/blob", "get", {"item_id": "$response.body#/item/id"}),
    },
    ("/projects", "get"): {
        "Project": ("/projects/{project}", "get", {"project": "$response.body#/0/name"}),
        "Next": ("/projects/{project}/next", "post", {"project": "$response.body#/0/name"}),
        "ReviewNext": (
            "/projects/{project}/review/next",
            "post",
            {"project": "$response.body#/0/name"},
        ),
        "Dashboard": (
            "/projects/{project}/dashboard",
            "get",
            {"project": "$response.body#/0/name"},
        ),
    },
}
SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "`assay token create NAME`"},
    "session": {"type": "apiKey", "in": "cookie", "name": COOKIE},
}


def install(app: FastAPI, prefix: str) -> None:
    """Make `app.openapi()` return the generated document with the security schemes."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title, version=app.version, routes=app.routes, description=app.description
            )
            doc.setdefault("components", {})["securitySchemes"] = SCHEMES
            for path, operations in doc.get("paths", {}).items():
                for method, op in operations.items():
                    public = (path.removeprefix(prefix), method) in PUBLIC
                    op["security"] = [] if public else [{"bearer": []}, {"session": []}]
                    need = API_SCOPES.get((method.upper(), path))
                    if need is not None:
                        op["x-token-scope"] = need
            _link(doc, prefix)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _link(doc: dict[str, Any], prefix: str) -> None:
    paths = doc.get("paths", {})
    for (path, method), links in LINKS.items():
        op = paths.get(prefix + path, {}).get(method)
        if op is None:
            continue
        out = {}
        for name, (target, target_method, parameters) in links.items():
            target_op = paths.get(prefix + target, {}).get(target_method)
            if target_op is not None:
                out[name] = {"operationId": target_op["operationId"], "parameters": parameters}
        op["responses"]["200"]["links"] = out

"""The OpenAPI document, with how callers authenticate stated on every route that needs it.

Authentication is resolved by `deps.current_user` (also called directly on the hot routes),
not by FastAPI's security classes, so the schemes are added here: a bearer token, or the
session cookie set by ``POST /auth/login`` (then writes also need the X-CSRF-Token header).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from assay.server.deps import COOKIE

PUBLIC = {("/auth/login", "post")}  # what answers without credentials
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
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

"""Login, logout and who-am-I."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from assay.labeling import sessions
from assay.labeling.accounts import revoke_bearer
from assay.server.api_models import LoggedOut, LoginResult, Me, statuses
from assay.server.deps import COOKIE, CurrentUser, WorkspaceDep, settings

router = APIRouter(tags=["auth"])


class LoginBody(BaseModel):
    # Bounded before any work: an unknown name is never stored as given (see `shown_name`).
    username: str = Field(max_length=200)
    password: str = Field(max_length=1024)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/auth/login", response_model=LoginResult, responses=statuses(429))
def login(body: LoginBody, request: Request, response: Response, ws: WorkspaceDep) -> Any:
    """Open a cookie session; 401 on a wrong password, 429 after too many failures."""
    s = settings(request)
    session = sessions.login(ws, body.username, body.password, _client(request), s.login)
    response.set_cookie(
        COOKIE,
        session.cookie,
        max_age=int(s.login.session_seconds),
        httponly=True,
        samesite="strict",
        secure=s.secure_cookies,
        path="/",
    )
    return {**session.user.to_dict(), "user": session.user.name, "csrf_token": session.csrf_token}


@router.post("/auth/logout", response_model=LoggedOut, responses=statuses(403))
def logout(request: Request, response: Response, ws: WorkspaceDep, user: CurrentUser) -> Any:
    """End the session; a request with a bearer token revokes that token."""
    bearer = getattr(request.state, "bearer", None)
    if bearer:
        return {"logged_out": True, "token_revoked": revoke_bearer(ws, bearer)}
    cookie = request.cookies.get(COOKIE)
    if cookie:
        sessions.logout(ws, cookie)
    response.delete_cookie(COOKIE, path="/")
    return {"logged_out": True, "token_revoked": False}


@router.get("/me", response_model=Me)
def me(request: Request, user: CurrentUser) -> Any:
    return {**user.to_dict(), "csrf_token": getattr(request.state, "csrf_token", None)}

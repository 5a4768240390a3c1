"""Accounts for admins: users (password, disable, enable, role, clearance) and API tokens.

Each route is the CLI's `assay user ...` / `assay token ...` over HTTP; each change is one
audit event with the admin as actor, and counts from the next request.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from assay.labeling import accounts, create_token
from assay.labeling.scopes import SCOPES, parse_scopes, scopes_text
from assay.labeling.users import MIN_PASSWORD, Role
from assay.server.deps import CurrentAdmin, CurrentUser, WorkspaceDep


class ErrorOut(BaseModel):
    error: str


class UserOut(BaseModel):
    name: str
    role: str
    clearance: str
    disabled: bool


_SCOPES_OUT = f'Its scopes (of {", ".join(SCOPES)}), or ["all"]: all of its user\'s role.'


class TokenOut(BaseModel):
    id: str = Field(description="The token's public id: its fingerprint's first 12 hex digits.")
    user: str
    label: str
    created: str
    expires: float | None = Field(description="Unix time; null: never.")
    revoked: bool
    live: bool
    scopes: list[str] = Field(description=_SCOPES_OUT)


class NewTokenOut(BaseModel):
    user: str
    token: str = Field(description="The token itself, shown this once.")
    label: str
    scopes: list[str] = Field(description=_SCOPES_OUT)


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "not logged in"},
    403: {"model": ErrorOut, "description": "needs the admin role"},
    404: {"model": ErrorOut, "description": "no such user or token"},
    409: {"model": ErrorOut, "description": "it would leave no active admin"},
    422: {"model": ErrorOut, "description": "bad input"},
}
router = APIRouter(tags=["accounts"], responses=_ERRORS)


class PasswordBody(BaseModel):
    password: str = Field(min_length=MIN_PASSWORD, max_length=1024)


class RoleBody(BaseModel):
    role: Role


class ClearanceBody(BaseModel):
    clearance: str = Field(max_length=256)


class TokenBody(BaseModel):
    label: str = Field(default="", max_length=200)
    expires_days: float | None = Field(
        default=90.0, gt=0, description="Lifetime in days; null for a token that never expires."
    )
    scopes: list[str] | None = Field(
        default=None,
        max_length=len(SCOPES),
        description=f"What the token may do: any of {', '.join(SCOPES)}; null, [] or "
        '["all"]: all of the user\'s role. Never more than the role and clearance.',
    )


@router.get("/users/{name}", response_model=UserOut)
def user(name: str, ws: WorkspaceDep, admin: CurrentAdmin) -> Any:
    return accounts.user_state(ws, name)


@router.post("/users/{name}/password", response_model=UserOut)
def password(name: str, body: PasswordBody, ws: WorkspaceDep, admin: CurrentAdmin) -> Any:
    """Set a new password; the user's browser sessions end."""
    accounts.set_password(ws, name, body.password, actor=admin.actor)
    return accounts.user_state(ws, name)


@router.post("/users/{name}/disable", response_model=UserOut)
def disable(name: str, ws: WorkspaceDep, admin: CurrentAdmin) -> Any:
    """Disable a user: no login, no token, sessions ended, from the next request."""
    accounts.set_disabled(ws, name, True, actor=admin.actor)
    return accounts.user_state(ws, name)


@router.post("/users/{name}/enable", response_model=UserOut)
def enable(name: str, ws: WorkspaceDep, admin: CurrentAdmin) -> Any:
    accounts.set_disabled(ws, name, False, actor=admin.actor)
    return accounts.user_state(ws, name)


@router.post("/users/{name}/role", response_model=UserOut)
def role(name: str, body: RoleBody, ws: WorkspaceDep, admin: CurrentAdmin) -> Any:
    accounts.set_role(ws, name, body.role, actor=admin.actor)
    return accounts.user_state(ws, name)


@router.post("/users/{name}/clearance", response_model=UserOut)
def clearance(name: str, body: ClearanceBody, ws: WorkspaceDep, admin: CurrentAdmin) -> Any:
    accounts.set_clearance(ws, name, body.clearance, actor=admin.actor)
    return accounts.user_state(ws, name)


@router.get("/tokens", response_model=list[TokenOut])
def tokens(ws: WorkspaceDep, user: CurrentUser) -> Any:
    """Every token for an admin; one's own tokens for anyone else."""
    owner = None if user.can("admin") else user.name
    return [t.to_dict() for t in accounts.list_tokens(ws, owner)]


@router.post("/users/{name}/tokens", response_model=NewTokenOut)
def new_token(name: str, body: TokenBody, ws: WorkspaceDep, admin: CurrentAdmin) -> Any:
    """Make a token for a user; the token is in this answer only."""
    seconds = None if body.expires_days is None else body.expires_days * 86400.0
    scopes = parse_scopes(body.scopes)
    value = create_token(ws, name, body.label, actor=admin.actor, expires_in=seconds, scopes=scopes)
    listed = scopes_text(scopes).split(",")
    return {"user": name, "token": value, "label": body.label, "scopes": listed}


@router.post("/tokens/{token_id}/revoke", response_model=TokenOut)
def revoke(token_id: str, ws: WorkspaceDep, user: CurrentUser) -> Any:
    """Revoke a token by id: an admin any token, anyone else only their own."""
    owner = None if user.can("admin") else user.name
    return accounts.revoke_token(ws, token_id, actor=user.actor, owner=owner).to_dict()

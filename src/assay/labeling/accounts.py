"""Changing accounts: password, disable/enable, role, clearance; listing and revoking tokens.

Every change is one transaction with one audit event that carries what it set (secrets as
fingerprints), so `assay audit verify` can replay the trail and compare it with the tables.
Nothing is cached: the server reads the user and token on every request, so a change here
counts from the very next request. A new password or disabling also ends the user's
browser sessions.

Example:
    >>> import tempfile
    >>> from assay import Workspace
    >>> from assay.labeling import add_user
    >>> ws = Workspace.init(tempfile.mkdtemp())
    >>> _ = add_user(ws, "ana", "annotator", "UNCLASSIFIED", "correct horse battery")
    >>> set_role(ws, "ana", "reviewer").role
    'reviewer'
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Connection

from assay import audit
from assay.errors import Conflict, InvalidInput, NotFound
from assay.labeling._db import write
from assay.labeling.scopes import scopes_of, scopes_text
from assay.labeling.users import (
    MIN_PASSWORD,
    ROLES,
    User,
    password_hasher,
    row_to_user,
    token_digest,
)
from assay.store.schema import api_tokens, sessions, users
from assay.workspace import Workspace


def _row(conn: Connection, name: str) -> Any:
    row = conn.execute(select(users).where(users.c.name == name)).first()
    if row is None:
        raise NotFound(f"no user named {name!r}; `assay user list` shows who exists")
    return row


def _change(
    ws: Workspace,
    name: str,
    action: str,
    values: dict[str, Any],
    details: dict[str, Any],
    actor: str | None,
    *,
    end_sessions: bool = False,
) -> User:
    with write(ws.db) as conn:
        row = _row(conn, name)
        conn.execute(update(users).where(users.c.id == row.id).values(**values))
        if row.role == "admin" and not row.disabled and not _admins_left(conn):
            raise Conflict(
                f"{name!r} is the last active admin; make another admin first "
                "(`assay user set-role NAME admin`)"
            )
        if end_sessions:
            conn.execute(delete(sessions).where(sessions.c.user_id == row.id))
            details = {**details, "sessions_ended": True}
        audit.append(conn, actor or ws.actor, action, f"user:{name}", details)
        return row_to_user(ws, _row(conn, name))


def _admins_left(conn: Connection) -> int:
    q = (
        select(func.count())
        .select_from(users)
        .where(users.c.role == "admin", users.c.disabled == 0)
    )
    return int(conn.execute(q).scalar_one())


def set_password(ws: Workspace, name: str, password: str, *, actor: str | None = None) -> User:
    """A new password (argon2id); the user's browser sessions end."""
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"the password must have at least {MIN_PASSWORD} characters")
    digest = password_hasher().hash(password)
    return _change(
        ws,
        name,
        "user.passwd",
        {"password_hash": digest},
        {"password": audit.fingerprint(digest)},
        actor,
        end_sessions=True,
    )


def set_disabled(ws: Workspace, name: str, disabled: bool, *, actor: str | None = None) -> User:
    """Disable (no login, no token, sessions ended) or enable a user again."""
    action = "user.disable" if disabled else "user.enable"
    return _change(ws, name, action, {"disabled": int(disabled)}, {}, actor, end_sessions=disabled)


def set_role(ws: Workspace, name: str, role: str, *, actor: str | None = None) -> User:
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; roles are: {', '.join(ROLES)}")
    with ws.db.read() as conn:
        old = _row(conn, name).role
    return _change(ws, name, "user.set-role", {"role": role}, {"old": old, "new": role}, actor)


def set_clearance(ws: Workspace, name: str, clearance: str, *, actor: str | None = None) -> User:
    text = ws.scheme.render(ws.scheme.parse(clearance))
    with ws.db.read() as conn:
        old = _row(conn, name).clearance
    details = {"old": old, "new": text}
    return _change(ws, name, "user.set-clearance", {"clearance": text}, details, actor)


def user_state(ws: Workspace, name: str) -> dict[str, Any]:
    with ws.db.read() as conn:
        row = _row(conn, name)
    return {**row_to_user(ws, row).to_dict(), "disabled": bool(row.disabled)}


@dataclass(frozen=True)
class TokenInfo:
    """An API token as listed: never the token itself."""

    id: str  # the fingerprint's first 12 hex digits
    user: str
    label: str
    created: str
    expires: float | None
    revoked: bool
    scopes: str  # "all" or scopes such as "read,label" (`assay.labeling.scopes`)

    @property
    def live(self) -> bool:
        return not self.revoked and (self.expires is None or self.expires > time.time())

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user": self.user,
            "label": self.label,
            "created": self.created,
            "expires": self.expires,
            "revoked": self.revoked,
            "live": self.live,
            "scopes": self.scopes.split(","),
        }


def _token_rows(conn: Connection, user: str | None) -> list[Any]:
    q = select(api_tokens, users.c.name).join(users, users.c.id == api_tokens.c.user_id)
    if user is not None:
        q = q.where(users.c.name == user)
    return list(conn.execute(q.order_by(api_tokens.c.id)).all())


def _info(r: Any) -> TokenInfo:
    fp = audit.fingerprint(r.token_hash)[:12]
    scopes = scopes_text(scopes_of(r.scopes))
    return TokenInfo(fp, r.name, r.label, r.created, r.expires, bool(r.revoked), scopes)


def list_tokens(ws: Workspace, user: str | None = None) -> list[TokenInfo]:
    """Every token (or one user's), oldest first.

    Raises:
        NotFound: `user` names no user (a user without tokens answers an empty list).
    """
    with ws.db.read() as conn:
        if (
            user is not None
            and conn.execute(select(users.c.id).where(users.c.name == user)).first() is None
        ):
            raise NotFound(f"no user named {user!r}; `assay user list` shows the users")
        return [_info(r) for r in _token_rows(conn, user)]


def revoke_token(
    ws: Workspace, token_id: str, *, actor: str | None = None, owner: str | None = None
) -> TokenInfo:
    """Revoke the token with this id (from `list_tokens`); `owner` limits it to one user."""
    wanted = token_id.strip().lower()
    with write(ws.db) as conn:
        row = next((r for r in _token_rows(conn, owner) if _info(r).id == wanted), None)
        if row is None:
            raise NotFound(f"no API token with id {token_id!r}; `assay token list` shows the ids")
        _revoke(conn, row.id, row.token_hash, row.name, actor or ws.actor)
    return replace(_info(row), revoked=True)


def revoke_bearer(ws: Workspace, token: str) -> bool:
    """Revoke the token a request came with (logout); False when it was not live."""
    digest = token_digest(token)
    with write(ws.db) as conn:
        row = conn.execute(
            select(api_tokens.c.id, users.c.name)
            .join(users, users.c.id == api_tokens.c.user_id)
            .where(api_tokens.c.token_hash == digest, api_tokens.c.revoked == 0)
        ).first()
        if row is None:
            return False
        _revoke(conn, row.id, digest, row.name, f"user:{row.name}")
    return True


def _revoke(conn: Connection, row_id: int, digest: str, user: str, actor: str) -> None:
    conn.execute(update(api_tokens).where(api_tokens.c.id == row_id).values(revoked=1))
    audit.append(conn, actor, "token.revoke", f"user:{user}", {"token": audit.fingerprint(digest)})

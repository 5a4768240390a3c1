"""Login with rate limiting, cookie sessions with CSRF tokens, logout."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import delete, func, select

from assay import audit
from assay.errors import RateLimited, Unauthenticated
from assay.labeling._db import write
from assay.labeling.users import User, check_password, row_to_user
from assay.store.schema import login_failures, sessions, users
from assay.timeutil import now_iso
from assay.workspace import Workspace


@dataclass(frozen=True)
class Session:
    """A logged-in browser: the cookie value (given once) and its CSRF token."""

    cookie: str
    csrf_token: str
    user: User
    expires: float


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int = 5
    window_seconds: float = 60.0
    session_seconds: float = 12 * 3600.0


def _digest(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


def login(
    ws: Workspace, name: str, password: str, client: str, policy: LoginPolicy | None = None
) -> Session:
    """Check a password and open a session; too many failures per name and address -> 429."""
    policy = policy or LoginPolicy()
    key = f"{name}\x00{client}"
    now = time.time()
    with ws.db.read() as conn:
        failures = conn.execute(
            select(func.count())
            .select_from(login_failures)
            .where(login_failures.c.key == key, login_failures.c.at > now - policy.window_seconds)
        ).scalar_one()
    if failures >= policy.max_failures:
        raise RateLimited(
            f"too many failed logins for {name!r} from this address; "
            f"wait {int(policy.window_seconds)} seconds"
        )
    user = check_password(ws, name, password)
    if user is None:
        with write(ws.db) as conn:
            conn.execute(login_failures.insert().values(key=key, at=now))
            audit.append(conn, f"user:{name}", "login.failed", f"user:{name}", {"client": client})
        raise Unauthenticated("wrong user name or password")
    with write(ws.db) as conn:
        conn.execute(delete(login_failures).where(login_failures.c.at < now - 3600))
        cookie = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(24)
        expires = now + policy.session_seconds
        conn.execute(
            sessions.insert().values(
                id=_digest(cookie),
                user_id=user.id,
                csrf_token=csrf,
                created=now_iso(),
                expires=expires,
            )
        )
        audit.append(conn, user.actor, "login", f"user:{name}", {"client": client})
    return Session(cookie, csrf, user, expires)


def session_user(ws: Workspace, cookie: str) -> tuple[User, str] | None:
    """The user and CSRF token of a live session cookie, or None."""
    with ws.db.read() as conn:
        row = conn.execute(
            select(users, sessions.c.csrf_token)
            .join(sessions, sessions.c.user_id == users.c.id)
            .where(
                sessions.c.id == _digest(cookie),
                sessions.c.expires > time.time(),
                users.c.disabled == 0,
            )
        ).first()
    if row is None:
        return None
    return row_to_user(ws, row), str(row.csrf_token)


def csrf_ok(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


def logout(ws: Workspace, cookie: str) -> None:
    with write(ws.db) as conn:
        row = conn.execute(
            select(users.c.name)
            .join(sessions, sessions.c.user_id == users.c.id)
            .where(sessions.c.id == _digest(cookie))
        ).first()
        if row is None:
            return
        conn.execute(delete(sessions).where(sessions.c.id == _digest(cookie)))
        audit.append(conn, f"user:{row.name}", "logout", f"user:{row.name}")

"""Login with rate limiting, cookie sessions with CSRF tokens, logout."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import delete, func, select, text

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
    """Failed logins allowed per window: per user name and address, and per address.

    A new user name does not buy a fresh allowance: every name tried from one address
    counts against `max_failures_per_address` too.
    """

    max_failures: int = 5
    max_failures_per_address: int = 20
    window_seconds: float = 60.0
    session_seconds: float = 12 * 3600.0


def _digest(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


def shown_name(name: str) -> str:
    """A user name as it may be stored or shown: a valid name as is, anything else hashed.

    Failed logins come from anyone; a 2 MB name or one full of terminal escapes must not
    land in the database or the audit trail as given.
    """
    if 0 < len(name) <= 100 and all(c.isalnum() or c in "-_." for c in name):
        return name
    return f"sha256:{hashlib.sha256(name.encode('utf-8', 'replace')).hexdigest()[:16]}"


def _limit_keys(name: str, client: str) -> tuple[str, str]:
    pair = hashlib.sha256(f"{name}\0{client}".encode("utf-8", "replace")).hexdigest()[:40]
    return f"pair:{pair}", f"addr:{client[:200]}"


def _reserve(ws: Workspace, name: str, client: str, policy: LoginPolicy) -> list[int]:
    """Count recent failures and reserve this attempt in one write transaction.

    The attempt counts as a failure from the start (it is dropped again on success), so
    concurrent wrong passwords queue on the write lock and at most the limit get checked.
    """
    pair, addr = _limit_keys(name, client)
    now = time.time()
    with write(ws.db) as conn:
        if conn.dialect.name == "postgresql":  # SQLite's BEGIN IMMEDIATE already serializes
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": addr})
        counts: dict[str, int] = dict(
            conn.execute(
                select(login_failures.c.key, func.count())
                .where(
                    login_failures.c.key.in_((pair, addr)),
                    login_failures.c.at > now - policy.window_seconds,
                )
                .group_by(login_failures.c.key)
            ).all()
        )
        if (
            counts.get(pair, 0) >= policy.max_failures
            or counts.get(addr, 0) >= policy.max_failures_per_address
        ):
            raise RateLimited(
                f"too many failed logins for {shown_name(name)!r} from this address; "
                f"wait {int(policy.window_seconds)} seconds"
            )
        conn.execute(delete(login_failures).where(login_failures.c.at < now - 3600))
        ids = []
        for key in (pair, addr):
            made = conn.execute(login_failures.insert().values(key=key, at=now))
            ids.append(int(made.inserted_primary_key[0]))  # type: ignore[index]
        return ids


def login(
    ws: Workspace, name: str, password: str, client: str, policy: LoginPolicy | None = None
) -> Session:
    """Check a password and open a session; too many failures per name and address -> 429."""
    policy = policy or LoginPolicy()
    reserved = _reserve(ws, name, client, policy)
    user = check_password(ws, name, password)
    if user is None:
        shown = shown_name(name)
        with write(ws.db) as conn:
            audit.append(conn, "anonymous", "login.failed", f"user:{shown}", {"client": client})
        raise Unauthenticated("wrong user name or password")
    now = time.time()
    with write(ws.db) as conn:
        conn.execute(delete(login_failures).where(login_failures.c.id.in_(reserved)))
        cookie = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(24)
        expires = round(now + policy.session_seconds, 3)
        conn.execute(
            sessions.insert().values(
                id=_digest(cookie),
                user_id=user.id,
                csrf_token=csrf,
                created=now_iso(),
                expires=expires,
            )
        )
        audit.append(
            conn,
            user.actor,
            "login",
            f"user:{name}",
            {
                "client": client,
                "session": audit.fingerprint(_digest(cookie)),
                "expires": expires,
            },
        )
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
        audit.append(
            conn,
            f"user:{row.name}",
            "logout",
            f"user:{row.name}",
            {"session": audit.fingerprint(_digest(cookie))},
        )

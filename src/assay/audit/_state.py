"""Security state checked against the trail: replay account events, compare with the tables.

Users, their role, clearance, password and disabled flag, API tokens and browser sessions
change only through services that append an event in the same transaction, and each event
carries what it set (secrets as fingerprints). Replaying the signed trail therefore gives
the state the tables must hold; a row changed behind assay's back (`UPDATE users SET
role='admin'`, a token or session row inserted by hand, a revoked token revived, a
token's scopes widened) differs.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from assay.store.schema import api_tokens, audit, sessions, users

ACCOUNT_ACTIONS = (
    "user.add",
    "user.passwd",
    "user.disable",
    "user.enable",
    "user.set-role",
    "user.set-clearance",
    "token.create",
    "token.revoke",
    "login",
    "logout",
)


def fingerprint(secret_hash: str) -> str:
    """A short, one-way name for a stored secret hash, safe to keep in the audit trail."""
    return hashlib.sha256(f"assay-fp\0{secret_hash}".encode()).hexdigest()[:32]


@dataclass
class _User:
    role: str
    clearance: str
    password: str | None  # fingerprint; None for users added before fingerprints were kept
    disabled: bool = False


@dataclass
class _Grant:
    user: str
    expires: float | None
    revoked: bool = False
    scopes: str = "all"  # a token's; tokens made before scopes had all of their user's role


def _name(target: str) -> str:
    return target.removeprefix("user:")


def _replay(
    conn: Connection,
) -> tuple[dict[str, _User], dict[str, _Grant], dict[str, _Grant], Counter[str]]:
    people: dict[str, _User] = {}
    tokens: dict[str, _Grant] = {}
    live: dict[str, _Grant] = {}  # sessions
    legacy: Counter[str] = Counter()  # "token:NAME"/"session:NAME" made before fingerprints
    q = select(audit.c.action, audit.c.target, audit.c.details).where(
        audit.c.action.in_(ACCOUNT_ACTIONS)
    )
    for action, target, raw in conn.execute(q.order_by(audit.c.seq)):
        name, d = _name(target), json.loads(raw)
        user = people.get(name)
        if action == "user.add":
            people[name] = _User(d.get("role", ""), d.get("clearance", ""), d.get("password"))
        elif user is None:
            continue  # a failed login for an unknown name, say
        elif action == "user.passwd":
            user.password = d.get("password")
        elif action in ("user.disable", "user.enable"):
            user.disabled = action == "user.disable"
        elif action == "user.set-role":
            user.role = d.get("new", user.role)
        elif action == "user.set-clearance":
            user.clearance = d.get("new", user.clearance)
        elif action == "token.create":
            if "token" in d:
                tokens[d["token"]] = _Grant(name, d.get("expires"), scopes=d.get("scopes", "all"))
            else:
                legacy[f"token:{name}"] += 1
        elif action == "token.revoke" and d.get("token") in tokens:
            tokens[d["token"]].revoked = True
        elif action == "login":
            if "session" in d:
                live[d["session"]] = _Grant(name, d.get("expires"))
            else:
                legacy[f"session:{name}"] += 1
        elif action == "logout":
            live.pop(d.get("session", ""), None)
        if action in ("user.passwd", "user.disable") and d.get("sessions_ended"):
            for fp in [k for k, g in live.items() if g.user == name]:
                del live[fp]
    return people, tokens, live, legacy


def check_state(conn: Connection) -> Iterator[str]:
    """Each way the users, api_tokens and sessions tables differ from the replayed trail."""
    people, tokens, live, legacy = _replay(conn)
    names: dict[int, str] = {}
    for row in conn.execute(select(users)):
        names[row.id] = row.name
        want = people.pop(row.name, None)
        if want is None:
            yield f"user {row.name!r} exists, but no user.add event created it"
            continue
        for what, have, expected in (
            ("role", row.role, want.role),
            ("clearance", row.clearance, want.clearance),
            ("disabled", bool(row.disabled), want.disabled),
        ):
            if have != expected:
                yield f"user {row.name!r} has {what} {have!r}; the trail says {expected!r}"
        if want.password is not None and fingerprint(row.password_hash) != want.password:
            yield f"user {row.name!r} has a password hash no user.add or user.passwd event set"
    for name in people:
        yield f"user {name!r} was created in the trail but is missing from the database"
    yield from _grants(conn, "token", api_tokens, tokens, names, legacy)
    yield from _grants(conn, "session", sessions, live, names, legacy)


def _grants(
    conn: Connection,
    kind: str,
    table: Any,
    expected: dict[str, _Grant],
    names: dict[int, str],
    legacy: Counter[str],
) -> Iterator[str]:
    secret = table.c.token_hash if kind == "token" else table.c.id
    token = kind == "token"
    cols = [secret, table.c.user_id, table.c.expires]
    cols += [table.c.revoked, table.c.scopes] if token else []
    for row in conn.execute(select(*cols)):
        fp = fingerprint(row[0])
        owner = names.get(row[1], f"#{row[1]}")
        want = expected.get(fp)
        if want is None:
            if legacy[f"{kind}:{owner}"] > 0:
                legacy[f"{kind}:{owner}"] -= 1
                continue
            yield f"{kind} {fp[:12]} of user {owner!r} was not created through assay"
            continue
        if want.user != owner:
            yield f"{kind} {fp[:12]} belongs to {owner!r}; the trail says {want.user!r}"
        if row[2] != want.expires:
            yield f"{kind} {fp[:12]} expires at {row[2]}; the trail says {want.expires}"
        if token and not row[3] and want.revoked:
            yield f"token {fp[:12]} of user {owner!r} was revoked, yet is live again"
        if token and row[4] != want.scopes:
            yield f"token {fp[:12]} has scopes {row[4]!r}; the trail says {want.scopes!r}"

"""Users, roles, clearances, passwords (argon2id) and API tokens.

Roles are ordered: annotator < reviewer < manager < admin; a capability needs a
minimum role. A user's clearance is a marking (`LEVEL[/COMP...]`): they see an
item only when the scheme allows it.

Example:
    >>> import tempfile
    >>> from assay import Workspace
    >>> ws = Workspace.init(tempfile.mkdtemp())
    >>> u = add_user(ws, "ana", "annotator", "CUI/FLOOD", "correct horse battery")
    >>> (u.name, u.role, u.clearance_text)
    ('ana', 'annotator', 'CUI/FLOOD')
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from dataclasses import dataclass, replace
from typing import Any, Literal

from sqlalchemy import or_, select
from sqlalchemy.engine import Connection

from assay import audit
from assay.domain.marking import Marking
from assay.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from assay.labeling._db import write
from assay.labeling.scopes import Scope, parse_scopes, scopes_of, scopes_text
from assay.store._sql import insert_named
from assay.store.schema import NAME_MAX, api_tokens, users
from assay.timeutil import now_iso
from assay.workspace import Workspace

Role = Literal["annotator", "reviewer", "manager", "admin"]
ROLES: tuple[Role, ...] = ("annotator", "reviewer", "manager", "admin")
Capability = Literal["label", "review", "manage", "admin"]
# The lowest role holding each capability.
CAPABILITY_ROLE: dict[Capability, Role] = {
    "label": "annotator",
    "review": "reviewer",
    "manage": "manager",
    "admin": "admin",
}
MIN_PASSWORD = 8


@dataclass(frozen=True)
class User:
    """An authenticated person: name, role and clearance.

    `scopes`: what the API token of this request may do (`assay.labeling.scopes`); None for
    a session, a token with all of the role, or a user not reached through a token.
    """

    id: int
    name: str
    role: Role
    clearance: Marking
    clearance_text: str
    scopes: tuple[Scope, ...] | None = None

    @property
    def actor(self) -> str:
        return f"user:{self.name}"

    def can(self, capability: Capability) -> bool:
        return ROLES.index(self.role) >= ROLES.index(CAPABILITY_ROLE[capability])

    def require(self, capability: Capability) -> None:
        if not self.can(capability):
            need = CAPABILITY_ROLE[capability]
            raise PermissionDenied(
                f"user {self.name!r} ({self.role}) may not do this; it needs the {need} role"
            )

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "clearance": self.clearance_text}


def password_hasher() -> Any:
    """argon2id with OWASP's memory-hard profile; `ASSAY_ARGON2_MEMORY_KIB` tunes memory."""
    from argon2 import PasswordHasher

    memory = int(os.environ.get("ASSAY_ARGON2_MEMORY_KIB", "19456"))
    return PasswordHasher(time_cost=2, memory_cost=memory, parallelism=1)


def _check_name(name: str) -> None:
    if not name or not all(c.isalnum() or c in "-_." for c in name) or len(name) > 100:
        raise InvalidInput(f"bad user name {name!r}: use letters, digits, '-', '_' or '.'")


def row_to_user(ws: Workspace, row: Any) -> User:
    return User(row.id, row.name, row.role, ws.scheme.parse(row.clearance), row.clearance)


def add_user(
    ws: Workspace, name: str, role: str, clearance: str, password: str, *, actor: str | None = None
) -> User:
    """Create a user; the password is stored only as an argon2id hash."""
    _check_name(name)
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; roles are: {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"the password must have at least {MIN_PASSWORD} characters")
    text = ws.scheme.render(ws.scheme.parse(clearance))
    digest = password_hasher().hash(password)
    with write(ws.db) as conn:
        taken = f"user {name!r} already exists"
        if conn.execute(select(users.c.id).where(users.c.name == name)).first():
            raise Conflict(taken)
        insert_named(
            conn,
            users.insert().values(
                name=name,
                role=role,
                clearance=text,
                password_hash=digest,
                created=now_iso(),
                disabled=0,
            ),
            taken,
        )
        audit.append(
            conn,
            actor or ws.actor,
            "user.add",
            f"user:{name}",
            {"role": role, "clearance": text, "password": audit.fingerprint(digest)},
        )
        row = conn.execute(select(users).where(users.c.name == name)).one()
    return row_to_user(ws, row)


def get_user(ws: Workspace, conn: Connection, name: str) -> User:
    row = conn.execute(select(users).where(users.c.name == name, users.c.disabled == 0)).first()
    if row is None:
        raise NotFound(f"no user named {name!r}; add one with `assay user add`")
    return row_to_user(ws, row)


def find_user(ws: Workspace, name: str) -> User:
    """The active user `name` (for scripts that label or review through the Python API)."""
    with ws.db.read() as conn:
        return get_user(ws, conn, name)


def list_users(ws: Workspace) -> list[User]:
    with ws.db.read() as conn:
        rows = conn.execute(select(users).order_by(users.c.name)).all()
    return [row_to_user(ws, r) for r in rows]


def check_password(ws: Workspace, name: str, password: str) -> User | None:
    """The user when the password matches, else None (same cost for unknown names)."""
    from argon2.exceptions import InvalidHashError, VerificationError

    with ws.db.read() as conn:
        row = conn.execute(select(users).where(users.c.name == name, users.c.disabled == 0)).first()
    hasher = password_hasher()
    stored = row.password_hash if row is not None else _DUMMY.get(hasher)
    try:
        hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    return row_to_user(ws, row) if row is not None else None


class _Dummy:
    """A hash to verify against for unknown users, so timing does not reveal names."""

    def __init__(self) -> None:
        self._hash: str | None = None

    def get(self, hasher: Any) -> str:
        if self._hash is None:
            self._hash = str(hasher.hash(secrets.token_hex(16)))
        return self._hash


_DUMMY = _Dummy()


def token_digest(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is safe and keeps each request cheap.
    return hashlib.sha256(token.encode()).hexdigest()


DEFAULT_TOKEN_DAYS = 90


def create_token(
    ws: Workspace,
    name: str,
    label: str = "",
    *,
    actor: str | None = None,
    expires_in: float | None = DEFAULT_TOKEN_DAYS * 86400.0,
    scopes: list[str] | tuple[str, ...] | None = None,
) -> str:
    """Make an API token for user `name`; returns it once, stores only its hash.

    It stops working after `expires_in` seconds (90 days by default; None: never). `scopes`
    limit what it may do (`assay.labeling.scopes`); none given: all of the user's role.
    """
    granted = scopes_text(parse_scopes(scopes))
    if expires_in is not None and expires_in <= 0:
        raise InvalidInput("a token's lifetime must be positive")
    if len(label) > NAME_MAX:  # PostgreSQL's column holds no more (SQLite's had no limit)
        raise InvalidInput(f"a token's label has {len(label)} characters: at most {NAME_MAX}")
    token = "assay_" + secrets.token_urlsafe(32)
    digest = token_digest(token)
    expires = None if expires_in is None else round(time.time() + expires_in, 3)
    with write(ws.db) as conn:
        user = get_user(ws, conn, name)
        conn.execute(
            api_tokens.insert().values(
                user_id=user.id,
                token_hash=digest,
                label=label,
                created=now_iso(),
                revoked=0,
                expires=expires,
                scopes=granted,
            )
        )
        audit.append(
            conn,
            actor or ws.actor,
            "token.create",
            f"user:{name}",
            {
                "label": label,
                "token": audit.fingerprint(digest),
                "expires": expires,
                "scopes": granted,
            },
        )
    return token


def user_for_token(ws: Workspace, token: str) -> User | None:
    """The live user behind a live token, read fresh: revocation counts at once.

    The user carries the token's scopes (None: all of the role).
    """
    with ws.db.read() as conn:
        row = conn.execute(
            select(users, api_tokens.c.scopes)
            .join(api_tokens, api_tokens.c.user_id == users.c.id)
            .where(
                api_tokens.c.token_hash == token_digest(token),
                api_tokens.c.revoked == 0,
                or_(api_tokens.c.expires.is_(None), api_tokens.c.expires > time.time()),
                users.c.disabled == 0,
            )
        ).first()
    if row is None:
        return None
    return replace(row_to_user(ws, row), scopes=scopes_of(row.scopes))

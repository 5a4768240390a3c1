"""API token scopes: what a token may do, within its user's role and clearance.

A token made with scopes answers only the routes those scopes name (the server's table,
`assay.server.token_scopes`); a token made without any acts with its user's whole role, as
every token did before scopes existed, and is listed as ``all``. A scope never grants more than
the user's role and clearance: those checks run as before, after the scope's. Browser
sessions are not scoped.

Example:
    >>> parse_scopes(["label", "read"])
    ('read', 'label')
    >>> scopes_text(None), scopes_text(("read", "serve"))
    ('all', 'read,serve')
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal, get_args

from assay.errors import InvalidInput

if TYPE_CHECKING:
    from assay.workspace import Workspace

Scope = Literal["read", "label", "review", "manage", "serve"]
SCOPES: tuple[Scope, ...] = get_args(Scope)
ALL = "all"  # a token without scopes: its user's whole role
SCOPE_HELP: dict[Scope, str] = {
    "read": "every GET route of the labeling server the user may already see",
    "label": "leases, submissions, skips, amendments and video tracks",
    "review": "the review queue and review decisions",
    "manage": "creating projects and tasks, users, tokens",
    "serve": "the model inference routes of `assay serve-model`",
}


def parse_scopes(given: Iterable[str] | None) -> tuple[Scope, ...] | None:
    """Scopes in their canonical order; None (all of the role) for none given or ``all``.

    Items may hold several scopes separated by commas (``read,label``).

    Raises:
        InvalidInput: an unknown scope (the message names the valid ones), or ``all``
            together with other scopes.
    """
    names = [s.strip().lower() for item in given or () for s in item.split(",") if s.strip()]
    if not names or names == [ALL]:
        return None
    unknown = [n for n in names if n not in SCOPES]
    if ALL in unknown:
        raise InvalidInput(f"scope {ALL!r} stands alone: it is the user's whole role")
    if unknown:
        raise InvalidInput(
            f"unknown token scope {unknown[0]!r}; the scopes are: {', '.join(SCOPES)} "
            f"(or {ALL}, the default)"
        )
    return tuple(s for s in SCOPES if s in names)


def scopes_text(scopes: tuple[Scope, ...] | None) -> str:
    """How a token's scopes are stored and listed: ``all`` or ``read,label``."""
    return ALL if scopes is None else ",".join(scopes)


def scopes_of(text: str | None) -> tuple[Scope, ...] | None:
    """The stored text read back; NULL or ``all`` (tokens made before scopes): None."""
    return parse_scopes([text]) if text else None


def record_refusal(
    ws: Workspace, actor: str, route: str, need: str | None, held: str, token: str
) -> None:
    """Audit a scoped token refused at `route` (``token.denied``, as other denials are)."""
    from assay import audit
    from assay.labeling._db import write

    details = {"needs": need or ALL, "scopes": held, "token": token}
    with write(ws.db) as conn:
        audit.append(conn, actor, "token.denied", f"route:{route}", details)

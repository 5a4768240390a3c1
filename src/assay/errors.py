"""The error hierarchy. Each class maps to one CLI exit code and one HTTP status.

The mapping lives here, in one place, so the CLI and the server agree.
"""

from __future__ import annotations


class AssayError(Exception):
    """Root of every error assay raises on purpose.

    Messages name the thing that is wrong and, where there is one, the remedy.
    """

    exit_code: int = 1
    http_status: int = 400


class InvalidInput(AssayError):
    """Input (a file, an argument, a request body) is malformed."""

    http_status = 422


class NotFound(AssayError):
    """A named thing (item, dataset, revision, user) does not exist."""

    http_status = 404


class Conflict(AssayError):
    """The request clashes with existing state (a name already taken, a stale lease)."""

    http_status = 409


class Corrupt(AssayError):
    """Stored bytes do not hash to their name: the storage was changed behind assay's back
    or damaged. Nothing read from them is used."""

    http_status = 500


class PermissionDenied(AssayError):
    """The actor may not do this, or may not see this."""

    http_status = 403


class Unauthenticated(AssayError):
    """No valid session or API token came with the request; log in or send a token."""

    http_status = 401


class RateLimited(AssayError):
    """Too many attempts in a short time; wait and retry."""

    http_status = 429


class MissingExtra(AssayError):
    """An optional dependency is not installed; the message names the extra."""

    http_status = 501


def require(module: str, extra: str) -> object:
    """Import an optional dependency or raise `MissingExtra` naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtra(
            f"{module} is not installed; install it with: pip install 'assay[{extra}]'"
        ) from exc


__all__ = [
    "AssayError",
    "Conflict",
    "Corrupt",
    "InvalidInput",
    "MissingExtra",
    "NotFound",
    "PermissionDenied",
    "RateLimited",
    "Unauthenticated",
    "require",
]

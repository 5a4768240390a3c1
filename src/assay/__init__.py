"""assay: an open, air-gapped data engine for mission AI."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assay.errors import AssayError, Conflict, InvalidInput, NotFound, PermissionDenied

if TYPE_CHECKING:
    from assay.workspace import Workspace

__version__ = "0.1.0"

__all__ = [
    "AssayError",
    "Conflict",
    "InvalidInput",
    "NotFound",
    "PermissionDenied",
    "Workspace",
    "__version__",
]


def __getattr__(name: str) -> Any:
    # The workspace pulls in SQLAlchemy and pydantic; `assay --version` and `--help` need neither.
    if name == "Workspace":
        from assay.workspace import Workspace

        return Workspace
    raise AttributeError(f"module 'assay' has no attribute {name!r}")

"""assay: an open, air-gapped data engine for mission AI."""

from assay.errors import AssayError, Conflict, InvalidInput, NotFound, PermissionDenied
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

"""The labeling server: `create_app(settings, workspace)` builds one FastAPI app."""

from assay.server.app import create_app
from assay.server.settings import Settings

__all__ = ["Settings", "create_app"]

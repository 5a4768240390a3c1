"""One router per resource, all mounted under /api/v1."""

from assay.server.routes import auth, items, projects, tasks

ROUTERS = [auth.router, projects.router, tasks.router, items.router]

__all__ = ["ROUTERS"]

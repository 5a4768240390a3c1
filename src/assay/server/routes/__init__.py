"""One router per resource, all mounted under /api/v1."""

from assay.server.routes import auth, explore, items, manage, projects, tasks

# The hot routes (next task, submit) come first: routes are matched in order.
ROUTERS = [tasks.router, projects.router, auth.router, items.router, manage.router, explore.router]

__all__ = ["ROUTERS"]

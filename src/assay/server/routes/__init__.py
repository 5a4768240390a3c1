"""One router per resource, all mounted under /api/v1."""

from assay.server.routes import (
    accounts,
    auth,
    explore,
    geo,
    items,
    manage,
    pictures,
    projects,
    tasks,
    video,
)

# The hot routes (next task, submit) come first: routes are matched in order.
ROUTERS = [
    tasks.router,
    projects.router,
    auth.router,
    items.router,
    video.router,
    geo.router,
    pictures.router,
    manage.router,
    explore.router,
    accounts.router,
]

__all__ = ["ROUTERS"]

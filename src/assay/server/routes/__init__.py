"""One router per resource, all mounted under /api/v1."""

from assay.server.routes import auth, explore, geo, items, manage, projects, tasks, video

# The hot routes (next task, submit) come first: routes are matched in order.
ROUTERS = [
    tasks.router,
    projects.router,
    auth.router,
    items.router,
    video.router,
    geo.router,
    manage.router,
    explore.router,
]

__all__ = ["ROUTERS"]

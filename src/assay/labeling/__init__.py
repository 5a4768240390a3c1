"""Labeling: projects, users and access, the task queue, gold, review, dashboards, pull.

Services here take a `Workspace` and a `User`; they never import the server or the CLI.
"""

from assay.labeling.catalog import list_projects
from assay.labeling.dashboard import dashboard
from assay.labeling.gold import score
from assay.labeling.items import get_item, item_blob
from assay.labeling.projects import Project, Workflow, create_project, get_project
from assay.labeling.queue import Lease, next_task, skip_task
from assay.labeling.review import decide, review_next
from assay.labeling.sessions import LoginPolicy, Session, login, logout
from assay.labeling.submit import submit
from assay.labeling.users import ROLES, User, add_user, create_token, list_users

__all__ = [
    "ROLES",
    "Lease",
    "LoginPolicy",
    "Project",
    "Session",
    "User",
    "Workflow",
    "add_user",
    "create_project",
    "create_token",
    "dashboard",
    "decide",
    "get_item",
    "get_project",
    "item_blob",
    "list_projects",
    "list_users",
    "login",
    "logout",
    "next_task",
    "review_next",
    "score",
    "skip_task",
    "submit",
]

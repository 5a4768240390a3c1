"""Task ids at the API boundary: clients only ever see opaque references.

Services work with row ids; every response that names a task names its reference, and
every error about a task names the reference the client sent, so a task the caller may
not see and one that never existed answer alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import Request

from assay.errors import AssayError
from assay.labeling.task_refs import TaskRefs, task_refs


def refs(request: Request) -> TaskRefs:
    """The app's references (the workspace key is read once, on first use)."""
    state = request.app.state
    found: TaskRefs | None = getattr(state, "task_refs", None)
    if found is None:
        found = state.task_refs = task_refs(state.workspace.db)
    return found


@contextmanager
def speaking_of(ref: str, task_id: int) -> Iterator[None]:
    """Errors raised inside name the task by `ref`, never by its row id."""
    try:
        yield
    except AssayError as exc:
        exc.args = (re.sub(rf"\btask {task_id}\b", f"task {ref}", str(exc)),)
        raise


def with_ref(r: TaskRefs, body: dict[str, Any]) -> dict[str, Any]:
    """`body` with its `task_id` replaced by the task's reference."""
    return {**body, "task_id": r.encode(int(body["task_id"]))}

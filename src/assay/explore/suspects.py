"""Quality suspects: items whose consensus label is likely wrong, by the label-error ranking
of `assay.quality` (Dawid–Skene posterior of the consensus over the human answers behind
the dataset), below a posterior of `THRESHOLD`."""

from __future__ import annotations

import threading

from assay.errors import InvalidInput
from assay.workspace import Workspace

THRESHOLD = 0.8
_CACHE: dict[tuple[str, str, int], tuple[frozenset[str], str]] = {}
_LOCK = threading.Lock()


def suspects(ws: Workspace, dataset: str) -> tuple[frozenset[str], str]:
    """Suspect item ids and a note saying how they were found (or why there are none)."""
    from assay.quality import dataset_source, rank_multiannotator_issues

    try:
        src = dataset_source(ws, dataset)
    except InvalidInput as exc:
        return frozenset(), str(exc)
    key = (ws.db.url, dataset, len(src.answers))
    with _LOCK:
        hit = _CACHE.get(key)
    if hit is not None:
        return hit
    try:
        control = src.control(None)
    except InvalidInput as exc:
        return frozenset(), str(exc)
    frame = src.choices_frame(control)[["task", "worker", "label"]]
    if frame.empty:
        return frozenset(), f"no answers to the {control.name!r} control yet"
    ranked = rank_multiannotator_issues(frame)
    found = frozenset(str(t) for t in ranked.loc[ranked["score"] < THRESHOLD, "task"])
    note = (
        f"{len(found)} item(s) whose {control.name!r} consensus has a Dawid-Skene posterior "
        f"below {THRESHOLD}"
    )
    with _LOCK:
        _CACHE[key] = (found, note)
    return found, note

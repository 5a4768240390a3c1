"""Pre-annotations served with a task: the dataset's labels of record, or a model's.

A project made with `--from-labels` (`Workflow.from_labels`) shows each item's label of
record for correction. Its regions get stable ids (their own, else `rec1`, `rec2`, ...),
so when the answer comes back a region the annotator kept unchanged keeps its original
author, and only a region they drew or changed is theirs: provenance holds both.

A project's tasks show only the model answers made for it (`assay prelabel` stores them
with the project's name) or imported with the dataset (no project: marked as the item).
Another project's pre-labels hold class names of a schema, and a model, its annotators may
not know: a project above them, or another group's (`made_for`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import ColumnElement

from assay.domain.labels import Region, payload_from_json
from assay.labeling._tx import Tx
from assay.store.schema import ID_SEP
from assay.store.schema import annotations_table as ann_t

if TYPE_CHECKING:
    from assay.labeling.projects import Project

_RECORD = (
    "SELECT w.labels, w.authors FROM working w JOIN datasets d ON d.id = w.dataset_id "
    "WHERE d.name = :d AND w.item_id = :i"
)
# A model answer made for project :p, or imported with a dataset (made for no project).
MADE_FOR = "kind = 'model' AND (project = :p OR project IS NULL)"
_MODEL = (
    f"SELECT payload FROM annotations WHERE item_id = :i AND {MADE_FOR} "
    "ORDER BY created DESC LIMIT 1"
)

Source = Literal["record", "model"]


@dataclass(frozen=True)
class Prelabels:
    source: Source | None
    regions: list[Region]

    def to_list(self) -> list[dict[str, Any]]:
        return [r.model_dump(exclude_none=True) for r in self.regions]


def made_for(project: str | ColumnElement[str]) -> ColumnElement[bool]:
    """The model annotations a task of `project` (a name, or a column holding one) may show:
    made for it, or imported with a dataset for no project."""
    return (ann_t.c.kind == "model") & ((ann_t.c.project == project) | ann_t.c.project.is_(None))


def record_regions(tx: Tx, p: Project, item_id: str) -> list[Region]:
    """The item's label of record in the project's dataset, with stable ids and authors."""
    row = tx.one(_RECORD, {"d": p.dataset.split("@")[0], "i": item_id})
    if row is None:
        return []
    authors = row[1].split(ID_SEP) if row[1] else []
    sole = authors[0] if len(authors) == 1 else None
    out = []
    for i, r in enumerate(payload_from_json(row[0])):
        update: dict[str, Any] = {}
        if not r.id:
            update["id"] = f"rec{i + 1}"
        if not r.author and sole:
            update["author"] = sole
        out.append(r.model_copy(update=update) if update else r)
    return out


def prelabels_for(tx: Tx, p: Project, item_id: str) -> Prelabels:
    """What the label page shows first: the record (with `--from-labels`), else a model's."""
    if p.workflow.from_labels:
        record = record_regions(tx, p, item_id)
        if record:
            return Prelabels("record", record)
    pre = tx.one(_MODEL, {"i": item_id, "p": p.name})
    if pre:
        return Prelabels("model", payload_from_json(pre[0]))
    return Prelabels(None, [])


def keep_record_authors(answer: list[Region], record: list[Region]) -> list[Region]:
    """`answer` with each region the annotator left exactly as in `record` credited to its
    original author (same id, same label and geometry); every other region stays theirs."""
    by_id = {r.id: r for r in record if r.id and r.author}
    out = []
    for r in answer:
        old = by_id.get(r.id) if r.id else None
        if old is not None and old.content_key() == r.content_key():
            r = r.model_copy(update={"author": old.author})
        out.append(r)
    return out

"""Long-format label frames read from the store: a labeling project's or a dataset's answers.

What is read (the annotations table only, plus item names and, for spans, item texts):

* ``project_source(ws, P)``: rows with ``project = P`` and ``kind = 'human'``; the label
  schema comes from the project.
* ``dataset_source(ws, D)``: rows with ``kind = 'human'`` whose item is a member of D's
  working state, from any project; controls are inferred from the regions
  (``choice`` -> choices, ``box`` -> boxes, ``span`` -> spans, ...).

In both, an annotation is left out when a later annotation supersedes it as an edit (a human
annotation naming it in ``supersedes``) or a reviewer rejected it (a review annotation with
``source_id = 'review:reject'`` naming it). Of the rest, the latest (by ``created``, then id)
per (item, author) counts — per (item, author, project) for a dataset. Model, aggregate and
review annotations are never inputs. Workers are the annotation authors (``user:NAME``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, or_, select

from assay.domain.schema import LabelSchema
from assay.errors import InvalidInput, NotFound
from assay.store.schema import annotations_table as ann_t
from assay.store.schema import datasets, items, projects, working

if TYPE_CHECKING:
    from assay.workspace import Workspace

_TYPE_OF_KIND = {
    "choice": "choices",
    "box": "boxes",
    "span": "spans",
    "polygon": "polygons",
    "point": "points",
    "text": "text",
    "rating": "rating",
    "ranking": "ranking",
}
ANSWER_COLUMNS = ["annotation_id", "item", "worker", "project", "created", "lead_time"]


@dataclass(frozen=True)
class ControlInfo:
    """A control whose answers can be read as a long frame."""

    name: str
    type: str
    multiple: bool = False
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class LabelSource:
    """Human answers from the store, ready to be cut into long frames per control.

    Attributes:
        kind: ``project`` or ``dataset``.
        name: The project or dataset name.
        controls: The controls, in schema order (project) or sorted by name (dataset).
        answers: One row per counted annotation: annotation_id, item, worker, project,
            created, lead_time (seconds, NaN if unknown).
        regions: One row per region of those annotations: annotation_id, item, worker,
            lead_time, control, kind, label, box, span.
        names: Item id -> item name.
        media_types: Item id -> media type.
        dataset: The project's dataset (projects only).
    """

    kind: Literal["project", "dataset"]
    name: str
    controls: tuple[ControlInfo, ...]
    answers: pd.DataFrame
    regions: pd.DataFrame
    names: dict[str, str] = field(default_factory=dict)
    media_types: dict[str, str] = field(default_factory=dict)
    dataset: str | None = None

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}"

    def control(self, name: str | None, types: Sequence[str] = ("choices",)) -> ControlInfo:
        """The named control, or the first of the given types; `InvalidInput` if none fits."""
        if name is not None:
            found = next((c for c in self.controls if c.name == name), None)
            if found is None:
                known = ", ".join(c.name for c in self.controls) or "none"
                raise InvalidInput(f"{self.label} has no control {name!r} (controls: {known})")
            return found
        found = next((c for c in self.controls if c.type in types), None)
        if found is None:
            raise InvalidInput(
                f"{self.label} has no {' or '.join(types)} control; name one with --control"
            )
        return found

    def workers_per_item(self) -> pd.Series[Any]:
        """How many annotators answered each item (drawing nothing is an answer)."""
        return self.answers.groupby("item")["worker"].nunique()

    def _of(self, control: ControlInfo) -> pd.DataFrame:
        sub = self.regions[self.regions["control"] == control.name]
        # Per (item, worker), keep the latest annotation holding this control.
        latest = sub.groupby(["item", "worker"], sort=False)["annotation_id"].transform("last")
        return sub[(sub["annotation_id"] == latest).to_numpy(bool)]

    def choices_frame(self, control: ControlInfo) -> pd.DataFrame:
        """task, worker, label, lead_time, annotation_id: one row per answer.

        A multiple-choice answer becomes one label, its chosen labels sorted and joined by
        ``+``, so answer sets are compared as wholes.
        """
        sub = self._of(control)
        sub = sub[sub["kind"] == "choice"].dropna(subset=["label"])
        keys = ["item", "worker", "annotation_id", "lead_time"]
        if control.multiple:
            grouped = sub.sort_values("label").groupby(keys, sort=False, dropna=False)["label"]
            sub = grouped.agg("+".join).reset_index()
        else:
            sub = sub.drop_duplicates(["item", "worker"])
        frame = sub.rename(columns={"item": "task"})
        return frame[["task", "worker", "label", "lead_time", "annotation_id"]].reset_index(
            drop=True
        )

    def boxes_frame(self, control: ControlInfo) -> pd.DataFrame:
        """task, worker, label, x, y, w, h, annotation_id: one row per box."""
        sub = self._of(control)
        sub = sub[(sub["kind"] == "box") & sub["box"].notna() & sub["label"].notna()]
        coords = pd.DataFrame(sub["box"].tolist(), columns=["x", "y", "w", "h"], index=sub.index)
        frame = pd.concat([sub[["item", "worker", "label", "annotation_id"]], coords], axis=1)
        frame = frame.rename(columns={"item": "task"})
        return frame[["task", "worker", "label", "x", "y", "w", "h", "annotation_id"]]

    def spans_frame(self, control: ControlInfo) -> pd.DataFrame:
        """task, worker, label, start, end, annotation_id: one row per span."""
        sub = self._of(control)
        sub = sub[(sub["kind"] == "span") & sub["span"].notna() & sub["label"].notna()]
        ends = pd.DataFrame(sub["span"].tolist(), columns=["start", "end"], index=sub.index)
        frame = pd.concat([sub[["item", "worker", "label", "annotation_id"]], ends], axis=1)
        frame = frame.rename(columns={"item": "task"})
        return frame[["task", "worker", "label", "start", "end", "annotation_id"]]

    def texts(self, ws: Workspace, item_ids: Iterable[str]) -> dict[str, str]:
        """The text of each text item among `item_ids` (others and missing blobs are left out)."""
        out: dict[str, str] = {}
        for item in item_ids:
            if not self.media_types.get(item, "").startswith("text/"):
                continue
            try:
                out[item] = ws.blobs.get_bytes(item).decode("utf-8", errors="replace")
            except (OSError, NotFound):
                continue
        return out


def project_source(ws: Workspace, project: str) -> LabelSource:
    """The human answers of a labeling project (see the module docstring for what counts)."""
    with ws.db.read() as conn:
        row = conn.execute(
            select(projects.c.schema, projects.c.dataset).where(projects.c.name == project)
        ).first()
        if row is None:
            raise NotFound(f"no project named {project!r}; see `assay project list`")
        schema = LabelSchema.from_stored(row.schema)
        answers, regions, names, media = _read(conn, ann_t.c.project == project, ["item", "worker"])
    controls = tuple(
        ControlInfo(c.name, c.type, c.multiple, tuple(lab.name for lab in c.labels))
        for c in schema.controls
    )
    if answers.empty:
        raise InvalidInput(
            f"project {project!r} has no human annotations yet; submit some work first"
        )
    return LabelSource("project", project, controls, answers, regions, names, media, row.dataset)


def dataset_source(ws: Workspace, dataset: str) -> LabelSource:
    """The human answers behind a dataset's working state (see the module docstring)."""
    with ws.db.read() as conn:
        ds = conn.execute(select(datasets.c.id).where(datasets.c.name == dataset)).scalar()
        if ds is None:
            raise NotFound(f"no dataset named {dataset!r}; see `assay dataset list`")
        members = select(working.c.item_id).where(working.c.dataset_id == ds)
        answers, regions, names, media = _read(
            conn, ann_t.c.item_id.in_(members), ["item", "worker", "project"]
        )
    if answers.empty:
        raise InvalidInput(
            f"no human annotations on the items of dataset {dataset!r}; label them in a "
            "project first"
        )
    return LabelSource("dataset", dataset, _infer_controls(regions), answers, regions, names, media)


def _read(
    conn: Any, where: ColumnElement[bool], unique: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str], dict[str, str]]:
    dropped = select(ann_t.c.supersedes).where(
        ann_t.c.supersedes.is_not(None),
        or_(ann_t.c.kind == "human", ann_t.c.source_id == "review:reject"),
    )
    cond = [ann_t.c.kind == "human", where, ann_t.c.id.not_in(dropped)]
    q = select(
        ann_t.c.id,
        ann_t.c.item_id,
        ann_t.c.author,
        ann_t.c.project,
        ann_t.c.created,
        ann_t.c.lead_time,
        ann_t.c.payload,
    ).where(*cond)
    rows = conn.execute(q).all()
    names_ = [*ANSWER_COLUMNS, "payload"]
    raw = pd.DataFrame({n: [r[i] for r in rows] for i, n in enumerate(names_)}, columns=names_)
    raw = raw.sort_values(["created", "annotation_id"], kind="stable")
    raw = raw.drop_duplicates(unique, keep="last").reset_index(drop=True)
    raw["lead_time"] = pd.to_numeric(raw["lead_time"], errors="coerce")
    info = conn.execute(
        select(items.c.id, items.c.name, items.c.media_type).where(
            items.c.id.in_(select(ann_t.c.item_id).where(*cond))
        )
    ).all()
    names = {r.id: r.name for r in info}
    media = {r.id: r.media_type for r in info}
    return raw.drop(columns="payload"), _explode(raw), names, media


_REGION_COLUMNS = ["annotation_id", "item", "worker", "lead_time", "control", "kind", "label"]


def _explode(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per region; payloads were checked against the schema when submitted."""
    cols: dict[str, list[Any]] = {c: [] for c in (*_REGION_COLUMNS, "box", "span")}
    for ann, item, worker, lead, payload in zip(
        raw["annotation_id"].tolist(),
        raw["item"].tolist(),
        raw["worker"].tolist(),
        raw["lead_time"].tolist(),
        raw["payload"].tolist(),
        strict=True,
    ):
        for r in json.loads(payload) if payload else []:
            box, span = r.get("box"), r.get("span")
            cols["annotation_id"].append(ann)
            cols["item"].append(item)
            cols["worker"].append(worker)
            cols["lead_time"].append(lead)
            cols["control"].append(r.get("control", "label"))
            cols["kind"].append(r.get("kind"))
            cols["label"].append(r.get("label"))
            cols["box"].append(tuple(box) if box is not None else None)
            cols["span"].append(tuple(span) if span is not None else None)
    frame = pd.DataFrame({k: v for k, v in cols.items() if k not in ("box", "span")})
    for key in ("box", "span"):
        column = np.empty(len(cols[key]), dtype=object)
        column[:] = cols[key]
        frame[key] = column
    return frame


def _infer_controls(regions: pd.DataFrame) -> tuple[ControlInfo, ...]:
    out = []
    for (name, kind), group in regions.groupby(["control", "kind"], sort=True):
        type_ = _TYPE_OF_KIND.get(str(kind), str(kind))
        multiple = type_ == "choices" and bool(group.duplicated(["annotation_id"]).any())
        labels = tuple(sorted(str(v) for v in group["label"].dropna().unique()))
        out.append(ControlInfo(str(name), type_, multiple, labels))
    return tuple(out)

"""Aggregate a labeling project's human answers into a dataset's labels of record.

Per control: ``choices`` by the named estimator (one label per item, its posterior as the
region's score); ``boxes`` by IoU-matched clusters with reliability-weighted coordinates
(`fuse_boxes`), kept when a strict majority of the item's annotators drew them; ``spans`` by
the token vote (`vote_spans`), also by strict majority. Box weights are the annotators'
reliabilities learned by the estimator on the choices control aggregated alongside (or the
schema's first choices control); without one, each annotator's F1 against an unweighted
first-pass consensus.

Writing stores one ``aggregate`` annotation per item (author ``aggregate:METHOD``, payload the
consensus regions) and sets the item's labels of record: regions of the aggregated controls
are replaced, regions of other controls already in the working state are kept. The record's
annotation ids are the aggregate annotation plus the human annotations behind it, its authors
the annotators plus ``aggregate:METHOD`` (plus the old record's when regions were kept). One
transaction, one audit event (``dataset.aggregate``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from assay.domain.labels import Region
from assay.errors import InvalidInput
from assay.quality._aggregate import AggregateResult, aggregate_frame
from assay.quality._boxes import box_agreement, fuse_boxes
from assay.quality._sources import ControlInfo, LabelSource, project_source
from assay.quality._spans import vote_spans
from assay.quality._write import write_records
from assay.versioning.datasets import dataset_id

if TYPE_CHECKING:
    from assay.workspace import Workspace

AGGREGATABLE = ("choices", "boxes", "spans")
MULTI_SEP = "+"


@dataclass
class ItemPlan:
    """The consensus regions of one item and the human annotations behind them."""

    regions: list[Region] = field(default_factory=list)
    annotation_ids: set[str] = field(default_factory=set)
    workers: set[str] = field(default_factory=set)

    def add(self, **region: Any) -> None:
        """Append a consensus region with the id ``agg:CONTROL:N`` (N counts from 1)."""
        control = region["control"]
        n = sum(r.control == control for r in self.regions) + 1
        self.regions.append(Region(id=f"agg:{control}:{n}", **region))


@dataclass(frozen=True)
class ControlOutcome:
    """What aggregating one control gave: input labels, items, consensus regions."""

    control: str
    type: str
    n_labels: int
    n_items: int
    n_regions: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "control": self.control,
            "type": self.type,
            "n_labels": self.n_labels,
            "n_items": self.n_items,
            "n_regions": self.n_regions,
        }


@dataclass
class ProjectAggregation:
    """The outcome of `aggregate_project` (and of writing it, when a dataset was named)."""

    project: str
    method: str
    controls: list[ControlOutcome]
    plans: dict[str, ItemPlan]
    names: dict[str, str]
    choices: AggregateResult | None = None
    dataset: str | None = None
    n_written: int = 0
    n_added: int = 0

    @property
    def author(self) -> str:
        return f"aggregate:{self.method}"

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "project": self.project,
            "method": self.method,
            "author": self.author,
            "dataset": self.dataset,
            "items": len(self.plans),
            "written": self.n_written,
            "added_to_dataset": self.n_added,
            "controls": [c.to_dict() for c in self.controls],
        }
        doc["labels"] = [
            {
                "item": item,
                "name": self.names.get(item),
                "regions": [r.model_dump(exclude_none=True) for r in plan.regions],
                "annotators": sorted(plan.workers),
            }
            for item, plan in sorted(self.plans.items())
        ]
        return doc


def aggregate_project(
    ws: Workspace,
    project: str,
    method: str = "ds",
    *,
    into: str | None = None,
    controls: Sequence[str] = (),
    iou_threshold: float = 0.5,
    actor: str | None = None,
) -> ProjectAggregation:
    """Aggregate a project's latest human answers, and write them into `into` if given.

    Args:
        ws: The workspace.
        project: The labeling project.
        method: Estimator for choices controls: mv, wawa, ds, onecoin or glad.
        into: Dataset whose working state receives the labels of record (items are added to
            it if needed); None computes without writing.
        controls: Controls to aggregate (default: the schema's first choices control, or
            its first boxes or spans control if it has no choices control).
        iou_threshold: IoU for a box to join a cluster.
        actor: Who is recorded in the audit log (default: the workspace actor).

    Raises:
        NotFound: No such project or dataset.
        InvalidInput: The project has no human answers, or a control cannot be aggregated.
    """
    if into is not None:
        with ws.db.read() as conn:
            dataset_id(conn, into)  # an unknown dataset first, not the project's answers
    source = project_source(ws, project)
    chosen = _choose(source, controls)
    out = ProjectAggregation(project, method, [], {}, source.names)
    author = out.author
    plans: dict[str, ItemPlan] = defaultdict(ItemPlan)
    skills: pd.Series[Any] | None = None
    for control in sorted(chosen, key=lambda c: c.type != "choices"):
        if control.type == "choices":
            outcome, result = _choices(source, control, method, author, plans)
            out.choices = out.choices or result
            skills = result.skills if result is not None and skills is None else skills
        elif control.type == "boxes":
            if skills is None:
                skills = _schema_skills(source, method)
            outcome = _boxes(source, control, skills, iou_threshold, author, plans)
        else:
            outcome = _spans(ws, source, control, author, plans)
        out.controls.append(outcome)
    out.plans = {item: plans[item] for item in sorted(plans)}
    if into is not None:
        out.dataset = into
        out.n_written, out.n_added = write_records(
            ws, out, into, [c.name for c in chosen], actor or ws.actor
        )
    return out


def _choose(source: LabelSource, names: Sequence[str]) -> list[ControlInfo]:
    if not names:
        return [source.control(None, ("choices",) if _has(source, "choices") else AGGREGATABLE)]
    chosen = [source.control(n) for n in dict.fromkeys(names)]
    for c in chosen:
        if c.type not in AGGREGATABLE:
            raise InvalidInput(
                f"control {c.name!r} is a {c.type} control; aggregation covers "
                f"{', '.join(AGGREGATABLE)} controls"
            )
    return chosen


def _has(source: LabelSource, type_: str) -> bool:
    return any(c.type == type_ for c in source.controls)


def _choices(
    source: LabelSource, control: ControlInfo, method: str, author: str, plans: dict[str, ItemPlan]
) -> tuple[ControlOutcome, AggregateResult | None]:
    frame = source.choices_frame(control)
    if frame.empty:
        return ControlOutcome(control.name, control.type, 0, 0, 0), None
    result = aggregate_frame(frame[["task", "worker", "label"]], method)
    n_regions = 0
    for task, label, conf in zip(
        result.labels.index, result.labels.to_numpy(), result.confidence.to_numpy(), strict=True
    ):
        chosen = str(label).split(MULTI_SEP) if control.multiple else [str(label)]
        for lab in chosen:
            plans[str(task)].add(
                kind="choice",
                control=control.name,
                label=lab,
                score=round(float(conf), 6),
                author=author,
            )
            n_regions += 1
    _credit(plans, frame)
    return ControlOutcome(control.name, control.type, len(frame), result.n_tasks, n_regions), result


def _credit(plans: dict[str, ItemPlan], frame: pd.DataFrame) -> None:
    """Record the annotations (task, worker, annotation_id) behind each item's consensus."""
    for task, worker, ann in zip(
        frame["task"], frame["worker"], frame["annotation_id"], strict=True
    ):
        plan = plans[str(task)]
        plan.annotation_ids.add(str(ann))
        plan.workers.add(str(worker))


def _schema_skills(source: LabelSource, method: str) -> pd.Series[Any] | None:
    """Reliabilities from the schema's first choices control, if it has answers."""
    control = next((c for c in source.controls if c.type == "choices"), None)
    if control is None:
        return None
    frame = source.choices_frame(control)
    return (
        aggregate_frame(frame[["task", "worker", "label"]], method).skills if len(frame) else None
    )


def _agreement_skills(frame: pd.DataFrame, iou_threshold: float) -> pd.Series[Any]:
    """Each annotator's box F1 against an unweighted majority consensus (a first pass)."""
    need = frame.groupby("task")["worker"].nunique() // 2 + 1
    first = fuse_boxes(frame, iou_threshold=iou_threshold, quorum=1)
    first = first[first["support"] >= first["task"].map(need)]
    consensus = first[["task", "label", "x", "y", "w", "h"]].assign(worker="\x00consensus")
    skills = {}
    for worker, own in frame.groupby("worker", sort=True):
        both = pd.concat([own[consensus.columns], consensus[consensus["task"].isin(own["task"])]])
        f1 = box_agreement(both, iou_threshold).f1
        skills[worker] = 0.5 if np.isnan(f1) else max(f1, 0.05)
    return pd.Series(skills, name="skill", dtype=np.float64)


def _boxes(
    source: LabelSource,
    control: ControlInfo,
    skills: pd.Series[Any] | None,
    iou_threshold: float,
    author: str,
    plans: dict[str, ItemPlan],
) -> ControlOutcome:
    frame = source.boxes_frame(control)
    answered = source.answers
    n_regions = 0
    if len(frame):
        weights = skills if skills is not None else _agreement_skills(frame, iou_threshold)
        fused = fuse_boxes(frame, iou_threshold=iou_threshold, quorum=1, skills=weights)
        need = source.workers_per_item() // 2 + 1
        kept = fused[fused["support"] >= fused["task"].map(need)]
        for row in kept.to_dict("records"):
            box = (
                round(float(row["x"]), 3),
                round(float(row["y"]), 3),
                round(float(row["w"]), 3),
                round(float(row["h"]), 3),
            )
            plans[str(row["task"])].add(
                kind="box",
                control=control.name,
                label=str(row["label"]),
                box=box,
                score=round(float(row["score"]), 6),
                author=author,
            )
        n_regions = len(kept)
    _credit(plans, answered.rename(columns={"item": "task"}))
    n_items = int(answered["item"].nunique())
    return ControlOutcome(control.name, control.type, len(frame), n_items, n_regions)


def _spans(
    ws: Workspace,
    source: LabelSource,
    control: ControlInfo,
    author: str,
    plans: dict[str, ItemPlan],
) -> ControlOutcome:
    frame = source.spans_frame(control)
    answered = source.answers
    texts = source.texts(ws, answered["item"].unique())
    answered = answered[answered["item"].isin(texts)]
    length = frame["task"].map({k: len(v) for k, v in texts.items()})
    frame = frame[length.notna() & (frame["end"] <= length)]
    n_regions = 0
    if len(frame):
        voted = vote_spans(frame, texts, annotators=source.workers_per_item().to_dict())
        for row in voted.to_dict("records"):
            plans[str(row["task"])].add(
                kind="span",
                control=control.name,
                label=str(row["label"]),
                span=(int(row["start"]), int(row["end"])),
                score=round(int(row["support"]) / max(int(row["n_annotators"]), 1), 6),
                author=author,
            )
        n_regions = len(voted)
    _credit(plans, answered.rename(columns={"item": "task"}))
    n_items = int(answered["item"].nunique())
    return ControlOutcome(control.name, control.type, len(frame), n_items, n_regions)

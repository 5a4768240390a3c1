"""Pull a project's annotations into its dataset's working state as labels of record.

Modes:
- latest: each item's most recent current human answer (rejected work excluded).
- reviewed: each item's most recent accept/fix review annotation (unreviewed items untouched).

Only items with a new answer (or decision) change; every other item keeps its label of
record. A project made with `--from-labels` served the label of record for correction, so
an answer holds the regions the annotator kept (still credited to their first author) and
those they drew or changed; the record's authors name both.
- consensus: over all current human answers of an item: for whole-item controls
  (choices, text, rating, ranking) the answer given by a strict majority of annotators
  wins (no majority: nothing for that control); boxes and polygons are clustered greedily
  (same label, IoU >= 0.5 with the cluster's first box, at most one box per annotator) and
  a cluster kept by a strict majority becomes its mean box (polygons: its first member);
  points and spans count as the same when equal. Every label carries its provenance:
  the ids and authors of the annotations behind it.

Afterwards `assay commit` records the new labels as usual.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import select

from assay import audit, versioning
from assay.domain.labels import Region, box_iou, canonical_json, payload_from_json
from assay.errors import InvalidInput
from assay.labeling import _attribute_meta
from assay.labeling._db import write
from assay.labeling.projects import get_project
from assay.markings import carry_project_marking
from assay.store.schema import annotations_table as ann_t
from assay.store.schema import assignments, tasks, working
from assay.workspace import Workspace

Mode = Literal["latest", "reviewed", "consensus"]
MODES: tuple[Mode, ...] = ("latest", "reviewed", "consensus")


@dataclass
class _Answer:
    id: str
    author: str
    regions: list[Region]


def pull(ws: Workspace, dataset: str, project: str, mode: str, *, actor: str | None = None) -> int:
    """Set labels of record from the project; returns how many items were updated."""
    if mode not in MODES:
        raise InvalidInput(f"unknown --labels {mode!r}; use one of: {', '.join(MODES)}")
    with write(ws.db) as conn:
        p = get_project(conn, project)
        ds = versioning.resolve(conn, dataset).dataset_id
        members = select(working.c.item_id).where(working.c.dataset_id == ds)
        if mode == "reviewed":
            q = (
                select(
                    ann_t.c.item_id,
                    ann_t.c.id,
                    ann_t.c.author,
                    ann_t.c.payload,
                    ann_t.c.supersedes,
                )
                .where(
                    ann_t.c.project == p.name,
                    ann_t.c.kind == "review",
                    ann_t.c.source_id.in_(("review:accept", "review:fix")),
                    ann_t.c.item_id.in_(members),
                )
                .order_by(ann_t.c.created)
            )
            answers: dict[str, list[_Answer]] = defaultdict(list)
            origin = {}
            for r in conn.execute(q):
                answers[r.item_id].append(_Answer(r.id, r.author, payload_from_json(r.payload)))
                origin[r.id] = r.supersedes
            authors = _authors(conn, [x for x in origin.values() if x])
            records = []
            for item, group in answers.items():
                last = group[-1]
                ids = [last.id] + ([origin[last.id]] if origin.get(last.id) else [])
                who = [last.author] + [authors[i] for i in ids[1:] if i in authors]
                who += _region_authors(last.regions)
                records.append(versioning.LabelRecord(item, last.regions, ids, who))
        else:
            q = (
                select(tasks.c.item_id, ann_t.c.id, ann_t.c.author, ann_t.c.payload)
                .join(assignments, assignments.c.task_id == tasks.c.id)
                .join(ann_t, ann_t.c.id == assignments.c.annotation_id)
                .where(
                    tasks.c.project_id == p.id,
                    assignments.c.state == "submitted",
                    tasks.c.item_id.in_(members),
                )
                .order_by(ann_t.c.created, ann_t.c.id)
            )
            answers = defaultdict(list)
            for row in conn.execute(q):
                answers[row.item_id].append(
                    _Answer(row.id, row.author, payload_from_json(row.payload))
                )
            if mode == "latest":
                records = [
                    versioning.LabelRecord(
                        i,
                        g[-1].regions,
                        [g[-1].id],
                        [g[-1].author, *_region_authors(g[-1].regions)],
                    )
                    for i, g in answers.items()
                ]
            else:
                records = [consensus_record(i, g) for i, g in answers.items()]
        n = versioning.set_labels(conn, ds, records)
        _attribute_meta.declare(conn, ds, p.schema.attributes())
        ids = [r.item_id for r in records]
        carry_project_marking(conn, ws.scheme, actor or ws.actor, p.name, ids, via="pull")
        audit.append(
            conn,
            actor or ws.actor,
            "dataset.pull",
            f"dataset:{dataset}",
            {"project": p.name, "labels": mode, "items": n},
        )
    return n


def _region_authors(regions: list[Region]) -> list[str]:
    """Authors named on the regions themselves: with `--from-labels`, a region kept from the
    label of record still names the person who first drew it."""
    return sorted({r.author for r in regions if r.author and not r.author.startswith("aggregate:")})


def _authors(conn: Any, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = conn.execute(select(ann_t.c.id, ann_t.c.author).where(ann_t.c.id.in_(ids)))
    return {r.id: r.author for r in rows}


@dataclass
class _Cluster:
    seed: Region
    members: list[tuple[int, Region]] = field(default_factory=list)


def consensus_record(item_id: str, answers: list[_Answer]) -> versioning.LabelRecord:
    """Majority vote per whole-item control; IoU clusters for boxes (see module docstring)."""
    need = len(answers) // 2 + 1
    out: list[Region] = []
    by_control: dict[str, list[tuple[int, Region]]] = defaultdict(list)
    for k, a in enumerate(answers):
        for r in a.regions:
            by_control[r.control].append((k, r))
    for control in sorted(by_control):
        regions = by_control[control]
        kind = regions[0][1].kind
        if kind in ("box", "polygon"):
            out.extend(_box_consensus(regions, need))
        else:
            keyed = [(k, canonical_json(r.content_key()), r) for k, r in regions]
            votes = Counter(key for _, key in {(k, key) for k, key, _ in keyed})
            first = {key: r for _, key, r in reversed(keyed)}
            for key, count in sorted(votes.items()):
                if count >= need:
                    out.append(first[key].model_copy(update={"author": "aggregate:majority"}))
    return versioning.LabelRecord(
        item_id, out, [a.id for a in answers], sorted({a.author for a in answers})
    )


def _box_consensus(regions: list[tuple[int, Region]], need: int) -> list[Region]:
    clusters: list[_Cluster] = []
    for k, r in regions:
        best, best_iou = None, 0.0
        for c in clusters:
            if c.seed.label != r.label or any(m[0] == k for m in c.members):
                continue
            iou = box_iou(_bbox(c.seed), _bbox(r))
            if iou >= 0.5 and iou > best_iou:
                best, best_iou = c, iou
        if best is None:
            clusters.append(_Cluster(r, [(k, r)]))
        else:
            best.members.append((k, r))
    out = []
    for c in clusters:
        if len(c.members) < need:
            continue
        if c.seed.kind == "box":
            boxes = [m[1].box for m in c.members if m[1].box is not None]
            mean = tuple(sum(b[i] for b in boxes) / len(boxes) for i in range(4))
            out.append(c.seed.model_copy(update={"box": mean, "author": "aggregate:majority"}))
        else:
            out.append(c.seed.model_copy(update={"author": "aggregate:majority"}))
    return out


def _bbox(r: Region) -> tuple[float, float, float, float]:
    from assay.labeling.gold import _bbox as bbox

    return bbox(r)

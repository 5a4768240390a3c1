"""Pre-labeling: run a model over a project's open tasks and store its answers for correction.

`prelabel` loads the model once (one ONNX session per process), decodes the open tasks'
images in batches, and stores one ``kind="model"`` annotation per item authored
``model:NAME@VERSION``, with a score on every region. Tasks are then re-ordered least
confident first (a task's priority is the lowest score of its pre-labels), and the UI shows
the latest pre-label of a leased item dashed, for the annotator to accept, edit or delete.

Marking rules: a user must be cleared for the model's marking to pre-label with it, and a
model never writes onto an item marked below it (its answers carry what it learned); such
tasks are skipped and counted, never dropped silently.

Example:
    >>> from assay.models import CallableClassifier
    >>> import numpy as np
    >>> clf = CallableClassifier(lambda x: np.tile([0.3, 0.7], (len(x), 1)), ["dry", "flooded"])
    >>> # prelabel(ws, "survey", model=clf, name="rule@1") -> PrelabelReport(...)
"""

from __future__ import annotations

import hashlib
import io
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import false, func, select

from assay import audit
from assay.compute import runner, tapered
from assay.domain.labels import Region, payload_to_json
from assay.domain.marking import Marking
from assay.domain.schema import Control, LabelSchema
from assay.errors import InvalidInput, PermissionDenied
from assay.labeling._db import write
from assay.labeling._prelabel_units import (
    LabelResult,
    LabelUnit,
    Prelabelled,
    label_items,
    label_unit,
)
from assay.labeling.catalog import visible_project
from assay.labeling.projects import Project
from assay.labeling.users import User
from assay.models import ModelRef
from assay.models._types import ImageClassifier, ImageDetector
from assay.store._sql import insert_tuples, mark_of
from assay.store.schema import annotations_table as ann_t
from assay.store.schema import items, tasks
from assay.timeutil import now_iso
from assay.workspace import Workspace

BATCH = 32
UNIT_BATCHES = 8  # model batches per unit of work sent to a process or cluster worker


@dataclass
class PrelabelReport:
    """What a pre-labeling run did; every task it did not label is counted with a reason."""

    project: str
    model: str  # NAME@VERSION, the annotations' author after "model:"
    model_marking: str
    task: str  # classification | detection
    control: str
    open_tasks: int = 0
    labelled: int = 0
    regions: int = 0
    already: int = 0  # this model version had pre-labelled the item before
    below_model_marking: int = 0  # item marked below the model: not written
    not_visible: int = 0  # above the acting user's clearance
    not_images: int = 0  # text or other media the model cannot read
    not_text: int = 0  # images or other media a text model cannot read
    below_min_score: int = 0  # detections under --min-score
    empty_boxes: int = 0  # detections with no width or height
    unmapped: dict[str, int] = field(default_factory=dict)  # model class -> count, no label
    batches: int = 0
    seconds: float = 0.0
    # Where the model ran: "this process" (a Python model object, a language model), "local"
    # (a process pool on this machine) or the Dask scheduler's address.
    ran_on: str = "this process"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def author_of(ref: str) -> str:
    """The annotation author of a model version: ``model:NAME@VERSION``."""
    return f"model:{ref}"


def _pick_control(schema: LabelSchema, kind: str, classes: list[str], name: str | None) -> Control:
    want = "choices" if kind == "classification" else "boxes"
    if name is not None:
        c = schema.control(name)
        if c is None or c.type != want:
            found = [x.name for x in schema.controls if x.type == want]
            raise InvalidInput(
                f"--control {name!r}: the project has no {want} control of that name "
                f"({want} controls: {', '.join(found) or 'none'})"
            )
        return c
    options = [
        c for c in schema.controls if c.type == want and not (want == "choices" and c.multiple)
    ]
    if not options:
        raise InvalidInput(f"the project's schema has no {want} control for a {kind} model")
    best = max(options, key=lambda c: len({lab.name for lab in c.labels} & set(classes)))
    if not {lab.name for lab in best.labels} & set(classes):
        raise InvalidInput(
            f"the model's classes ({', '.join(classes)}) share no label with control "
            f"{best.name!r} ({', '.join(lab.name for lab in best.labels)})"
        )
    return best


@dataclass(frozen=True)
class _Model:
    ref: str
    marking: str
    kind: str
    adapter: Any  # a Python model, run in this process
    unit_ref: ModelRef | None = None  # a registered model, loaded where the units run

    @property
    def classes(self) -> list[str]:
        return list(self.unit_ref.classes if self.unit_ref else self.adapter.classes)


def _resolve(ws: Workspace, spec: str | None, model: object | None, name: str | None) -> _Model:
    if model is not None:
        ref = name or str(getattr(model, "name", type(model).__name__))
        if "@" not in ref:
            ref += "@local"
        if isinstance(model, ImageDetector):
            return _Model(ref, ws.scheme.render(ws.scheme.parse("")), "detection", model)
        if isinstance(model, ImageClassifier):
            return _Model(ref, ws.scheme.render(ws.scheme.parse("")), "classification", model)
        raise InvalidInput(
            f"model {ref}: needs predict_proba (classifier) or detect (detector), classes and "
            "input_size; see assay.models.CallableClassifier"
        )
    if spec is None:
        raise InvalidInput("give a registered model NAME[@VERSION]")
    from assay.models import OnnxClassifier, OnnxDetector, get_model, model_file
    from assay.models.registry import model_marking

    info = get_model(ws, spec)
    if info.kind != "onnx":
        raise InvalidInput(
            f"model {info.ref} is a {info.format} prediction file; pre-labeling runs a model "
            "(an ONNX file, or a Python callable through the API)"
        )
    unit_ref = ModelRef(ws.blobs.url, info.sha256, info.task, tuple(info.classes), info.ref)
    if not info.classes:
        # Loaded here, so a model without class names fails before any work is sent out.
        path = model_file(ws, info)
        cls = OnnxDetector if info.task == "detection" else OnnxClassifier
        cls(path, [], info.ref)
    return _Model(info.ref, model_marking(ws, info), info.task, None, unit_ref)


def _open_tasks(
    ws: Workspace, project_id: int, project: str, overlap: int, author: str | None
) -> list[Any]:
    """(item id, marking, media type, pre-labelled by `author` for `project` before) of each
    open task, in task order, in one query; without `author` the last is always False."""
    full = tasks.c.done >= func.coalesce(tasks.c.target, overlap)
    before: Any = false()
    if author is not None:
        before = (
            select(ann_t.c.id)
            .where(
                ann_t.c.item_id == tasks.c.item_id,
                ann_t.c.project == project,
                ann_t.c.kind == "model",
                ann_t.c.author == author,
            )
            .exists()
        )
    with ws.db.read() as conn:
        return list(
            conn.execute(
                select(tasks.c.item_id, tasks.c.marking, items.c.media_type, before)
                .select_from(tasks.outerjoin(items, items.c.id == tasks.c.item_id))
                .where(tasks.c.project_id == project_id, tasks.c.is_gold == 0, ~full)
                .order_by(tasks.c.id)
            ).all()
        )


def decode_image(data: bytes, item_id: str) -> np.ndarray[Any, Any]:
    """An item's bytes as uint8 RGB (H, W, 3); one error naming the item when unreadable."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            return np.asarray(img.convert("RGB"), dtype=np.uint8)
    except Exception as exc:  # Pillow raises many types for unreadable images
        raise InvalidInput(f"item {item_id[:12]}: not a readable image ({exc})") from None


def prelabel(
    ws: Workspace,
    project: str,
    spec: str | None = None,
    *,
    model: object | None = None,
    name: str | None = None,
    user: User | None = None,
    control: str | None = None,
    min_score: float = 0.25,
    batch_size: int = BATCH,
    redo: bool = False,
    cluster: str | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PrelabelReport:
    """Pre-label `project`'s open tasks with a registered model (`spec`) or a Python `model`.

    Args:
        ws: The workspace.
        project: Project name.
        spec: ``NAME`` or ``NAME@VERSION`` of a registered ONNX model.
        model: Instead of `spec`, an `ImageClassifier` / `ImageDetector` (e.g.
            `CallableClassifier`); `name` (``NAME@VERSION``) names its annotations.
        user: Who runs it (needs the manage role and clearance for the model's marking and
            sees only tasks within their clearance); None is the workspace owner.
        control: The schema control the answers go to (default: the matching one).
        min_score: Detections scoring below this are not stored (counted).
        batch_size: Images per model call.
        redo: Pre-label items this model version has pre-labelled before, too.
        cluster: A Dask scheduler's address (default ``ASSAY_CLUSTER``) to run a registered
            model's batches on; without one they run on a local process pool.
        workers: Local processes (default: one per core).
        progress: Called with (done, total): items through the model of the items to label,
            a batch (a Python model) or a unit of batches (a registered model) at a time.

    Raises:
        PermissionDenied: the user may not manage projects or is below the model's marking.
        InvalidInput: no matching control, a model that is not runnable, bad options.
    """
    if batch_size < 1:
        raise InvalidInput(f"--batch-size must be at least 1, got {batch_size}")
    if not 0.0 <= min_score <= 1.0:
        raise InvalidInput(f"--min-score must be between 0 and 1, got {min_score}")
    started = time.perf_counter()
    if user is not None:
        user.require("manage")
    with ws.db.read() as conn:
        p = visible_project(conn, ws, user, project)  # NotFound for a project above the user
    m = _resolve(ws, spec, model, name)
    scheme = ws.scheme
    mark = scheme.parse(m.marking)
    if user is not None and not scheme.allows(user.clearance, mark):
        raise PermissionDenied(
            f"user {user.name!r} ({user.clearance_text}) is not cleared for model {m.ref} "
            f"(marked {m.marking})"
        )
    classes = m.classes
    ctl = _pick_control(p.schema, m.kind, classes, control)
    labels = frozenset(lab.name for lab in ctl.labels)
    report = PrelabelReport(p.name, m.ref, m.marking, m.kind, ctl.name)
    todo = select_todo(ws, p, user, mark, "image/", author_of(m.ref), redo, report)
    # Items in the order their blobs lie in the store: a batch reads neighbours in one pack
    # (one ranged GET on S3) instead of one pack per item, as the tasks' order would.
    todo = ws.blobs.in_read_order(todo)
    tell = progress or (lambda done, total: None)
    tell(0, len(todo))
    done = LabelResult()
    if m.unit_ref is None:
        # A Python model object stays in this process.
        done = label_items(
            m.adapter, m.kind, m.ref, ws.blobs, todo, ctl, labels, min_score, batch_size,
            on_batch=lambda so_far: tell(so_far.items, len(todo)),
        )  # fmt: skip
    else:
        with runner(cluster, blob_url=ws.blobs.url, workers=workers) as run:
            report.ran_on = run.where
            units = [
                LabelUnit(m.unit_ref, ctl, labels, min_score, batch_size, tuple(ids))
                for ids in tapered(todo, batch_size * UNIT_BATCHES, batch_size, run.workers)
            ]
            for part in run.map(label_unit, units, unordered=True):
                done.add(part)
                tell(done.items, len(todo))
    results = done.results
    report.batches = done.batches
    report.below_min_score = done.below_min_score
    report.empty_boxes = done.empty_boxes
    unmapped = done.unmapped
    report.unmapped = dict(sorted(unmapped.items()))
    store_prelabels(ws, p, m.ref, results, report, user, started)
    return report


def select_todo(
    ws: Workspace,
    p: Project,
    user: User | None,
    mark: Marking,
    media: str,
    author: str,
    redo: bool,
    report: PrelabelReport,
) -> list[str]:
    """The open tasks' items a model marked `mark` may label (media type starting `media`);
    every other open task is counted in `report` with its reason."""
    scheme = ws.scheme
    open_rows = _open_tasks(ws, p.id, p.name, p.workflow.overlap, None if redo else author)
    report.open_tasks = len(open_rows)
    # A task's marking decides two counts; judged once per marking, not once per task.
    verdicts: dict[str, str] = {}
    for marking_text in {row[1] for row in open_rows}:
        marking = scheme.parse(marking_text)
        if user is not None and not scheme.allows(user.clearance, marking):
            verdicts[marking_text] = "not_visible"
        elif not scheme.allows(marking, mark):
            verdicts[marking_text] = "below_model_marking"
    wrong_media = "not_images" if media == "image/" else "not_text"
    counts: Counter[str] = Counter()
    todo = []
    for item_id, marking_text, media_type, before in open_rows:
        verdict = verdicts.get(marking_text)
        if verdict is not None:
            counts[verdict] += 1
        elif not (media_type or "").startswith(media):
            counts[wrong_media] += 1
        elif before:
            counts["already"] += 1
        else:
            todo.append(item_id)
    report.not_visible += counts["not_visible"]
    report.below_model_marking += counts["below_model_marking"]
    report.not_images += counts["not_images"]
    report.not_text += counts["not_text"]
    report.already += counts["already"]
    return list(dict.fromkeys(todo))  # an item in two tasks is labelled once


def prelabelled(item_id: str, regions: list[Region]) -> Prelabelled:
    """An item's answer as `store_prelabels` writes it, from regions made in this process."""
    scores = [r.score for r in regions if r.score is not None]
    return Prelabelled(item_id, payload_to_json(regions), len(regions), min(scores, default=None))


def store_prelabels(
    ws: Workspace,
    p: Project,
    ref: str,
    results: list[Prelabelled],
    report: PrelabelReport,
    user: User | None,
    started: float,
) -> None:
    """Write one model annotation per item, re-order the queue and audit, in one transaction.

    The payload texts come encoded (by the units, in parallel), so this writes plain rows
    straight to the driver: no Region, no statement object per row."""
    author = author_of(ref)
    created = now_iso()
    source = f"prelabel:{ref}"
    rows = [
        (
            hashlib.sha256(f"{author}\x00{r.item_id}\x00{created}".encode()).hexdigest()[:32],
            r.item_id,
            p.name,
            author,
            "model",
            r.payload,
            created,
            source,
        )
        for r in results
    ]
    # A task's priority becomes the lowest score of its new pre-labels (lower is served first).
    priorities = [(r.lowest, p.id, r.item_id) for r in results if r.lowest is not None]
    with write(ws.db) as conn:
        insert_tuples(conn, ann_t, _ANNOTATION_COLUMNS, rows)
        if priorities:
            m = mark_of(conn)
            sql = f"UPDATE tasks SET priority = {m} WHERE project_id = {m} AND item_id = {m}"
            conn.exec_driver_sql(sql, priorities)
        report.labelled = len(rows)
        report.regions = sum(r.regions for r in results)
        report.seconds = round(time.perf_counter() - started, 3)
        actor = user.actor if user is not None else ws.actor
        details = {k: v for k, v in report.to_dict().items() if k != "seconds"}
        audit.append(conn, actor, "project.prelabel", f"project:{p.name}", details)


_ANNOTATION_COLUMNS = (
    "id",
    "item_id",
    "project",
    "author",
    "kind",
    "payload",
    "created",
    "source_id",
)

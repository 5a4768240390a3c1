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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import Connection

from assay import audit
from assay.domain.labels import Region, payload_to_json, regions_from_dicts
from assay.domain.marking import Marking
from assay.domain.schema import Control, LabelSchema
from assay.errors import InvalidInput, PermissionDenied
from assay.labeling._db import write
from assay.labeling.catalog import visible_project
from assay.labeling.projects import Project
from assay.labeling.users import User
from assay.models._types import ImageClassifier, ImageDetector
from assay.store._sql import select_in
from assay.store.schema import annotations_table as ann_t
from assay.store.schema import items, tasks
from assay.timeutil import now_iso
from assay.workspace import Workspace

BATCH = 32
DECODERS = 2  # threads reading and decoding images ahead of the model


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
    adapter: Any


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
    path = model_file(ws, info)
    if hashlib.sha256(path.read_bytes()).hexdigest() != info.sha256:
        raise InvalidInput(f"model {info.ref}: stored file does not match its sha256 {info.sha256}")
    cls = OnnxDetector if info.task == "detection" else OnnxClassifier
    return _Model(
        info.ref, model_marking(ws, info), info.task, cls(path, list(info.classes), info.ref)
    )


def _open_tasks(ws: Workspace, project_id: int, overlap: int) -> list[Any]:
    full = tasks.c.done >= func.coalesce(tasks.c.target, overlap)
    with ws.db.read() as conn:
        return list(
            conn.execute(
                select(tasks.c.id, tasks.c.item_id, tasks.c.marking)
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
    m = _resolve(ws, spec, model, name)
    scheme = ws.scheme
    mark = scheme.parse(m.marking)
    if user is not None and not scheme.allows(user.clearance, mark):
        raise PermissionDenied(
            f"user {user.name!r} ({user.clearance_text}) is not cleared for model {m.ref} "
            f"(marked {m.marking})"
        )
    with ws.db.read() as conn:
        p = visible_project(conn, ws, user, project)  # NotFound for a project above the user
    classes = list(m.adapter.classes)
    ctl = _pick_control(p.schema, m.kind, classes, control)
    labels = {lab.name for lab in ctl.labels}
    report = PrelabelReport(p.name, m.ref, m.marking, m.kind, ctl.name)
    todo = select_todo(ws, p, user, mark, "image/", author_of(m.ref), redo, report)
    unmapped: Counter[str] = Counter()
    results: list[tuple[str, list[Region]]] = []
    batches = [todo[s : s + batch_size] for s in range(0, len(todo), batch_size)]
    size = m.adapter.input_size

    def load(item_id: str, dest: Any, row: int) -> tuple[tuple[int, ...], Any]:
        """Read, decode, resize and scale one image into row `row` of the batch `dest` (a
        model with a fixed input size), or as its own (3, H, W) array."""
        image = decode_image(ws.blobs.get_bytes(item_id), item_id)
        return image.shape, model_input(image, size, None if dest is None else dest[row])

    def submit(chunk: list[str]) -> tuple[Any, list[Any]]:
        dest = None if size is None else np.empty((len(chunk), 3, *size), np.float32)
        return dest, [pool.submit(load, i, dest, j) for j, i in enumerate(chunk)]

    # Decoder threads read, decode and convert the next batch, straight into the model's
    # input array, while the model runs on this one (Pillow and numpy release the GIL for
    # their work, onnxruntime for the whole run).
    with ThreadPoolExecutor(max_workers=DECODERS) as pool:
        dest, pending = submit(batches[0]) if batches else (None, [])
        for n, chunk in enumerate(batches):
            loaded = [f.result() for f in pending]
            x = dest if dest is not None else stack_inputs([a for _, a in loaded], m.ref)
            if n + 1 < len(batches):
                dest, pending = submit(batches[n + 1])
            shapes = [shp for shp, _ in loaded]
            results += _run_batch(m, chunk, shapes, x, ctl, labels, min_score, unmapped, report)
            report.batches += 1
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
    open_rows = _open_tasks(ws, p.id, p.workflow.overlap)
    report.open_tasks = len(open_rows)
    with ws.db.read() as conn:
        done_before = set(
            conn.execute(
                select(ann_t.c.item_id).where(ann_t.c.kind == "model", ann_t.c.author == author)
            ).scalars()
        )
        types = dict(
            select_in(
                conn, [items.c.id, items.c.media_type], items.c.id, [r.item_id for r in open_rows]
            )
        )
    parsed = {m: scheme.parse(m) for m in {row.marking for row in open_rows}}
    todo = []
    for row in open_rows:
        marking = parsed[row.marking]
        if user is not None and not scheme.allows(user.clearance, marking):
            report.not_visible += 1
        elif not scheme.allows(marking, mark):
            report.below_model_marking += 1
        elif not str(types.get(row.item_id, "")).startswith(media):
            if media == "image/":
                report.not_images += 1
            else:
                report.not_text += 1
        elif row.item_id in done_before and not redo:
            report.already += 1
        else:
            todo.append(row.item_id)
    return list(dict.fromkeys(todo))  # an item in two tasks is labelled once


def store_prelabels(
    ws: Workspace,
    p: Project,
    ref: str,
    results: list[tuple[str, list[Region]]],
    report: PrelabelReport,
    user: User | None,
    started: float,
) -> None:
    """Write one model annotation per item, re-order the queue and audit, in one transaction."""
    author = author_of(ref)
    created = now_iso()
    with write(ws.db) as conn:
        rows = [
            {
                "id": hashlib.sha256(f"{author}\x00{item_id}\x00{created}".encode()).hexdigest()[
                    :32
                ],
                "item_id": item_id,
                "project": p.name,
                "author": author,
                "kind": "model",
                "payload": payload_to_json(regions),
                "created": created,
                "lead_time": None,
                "supersedes": None,
                "source_id": f"prelabel:{ref}",
            }
            for item_id, regions in results
        ]
        if rows:
            conn.execute(ann_t.insert(), rows)
            _least_confident_first(conn, p.id, results)
        report.labelled = len(rows)
        report.regions = sum(len(r) for _, r in results)
        report.seconds = round(time.perf_counter() - started, 3)
        actor = user.actor if user is not None else ws.actor
        details = {k: v for k, v in report.to_dict().items() if k != "seconds"}
        audit.append(conn, actor, "project.prelabel", f"project:{p.name}", details)


def _least_confident_first(
    conn: Connection, project_id: int, results: list[tuple[str, list[Region]]]
) -> None:
    """A task's priority becomes the lowest score of its new pre-labels (lower is served first)."""
    params = [
        {"b_p": min(scores), "b_i": item_id}
        for item_id, regions in results
        if (scores := [r.score for r in regions if r.score is not None])
    ]
    if params:
        conn.execute(
            tasks.update()
            .where(tasks.c.project_id == project_id, tasks.c.item_id == bindparam("b_i"))
            .values(priority=bindparam("b_p")),
            params,
        )


def model_input(
    image: np.ndarray[Any, Any],
    size: tuple[int, int] | None,
    out: np.ndarray[Any, Any] | None = None,
) -> np.ndarray[Any, Any]:
    """One uint8 RGB image as a model input row: resized (bilinear) to `size` = (H, W) when
    given, float32 in [0, 1], channels first (what `to_batch` does for a whole batch);
    written into `out` when given."""
    from PIL import Image

    if size is not None and image.shape[:2] != size:
        h, w = size
        image = np.asarray(Image.fromarray(image).resize((w, h), Image.Resampling.BILINEAR))
    if out is None:
        out = np.empty((3, image.shape[0], image.shape[1]), np.float32)
    np.divide(image.transpose(2, 0, 1), np.float32(255.0), out=out, casting="unsafe")
    return out


def stack_inputs(rows: list[np.ndarray[Any, Any]], model: str) -> np.ndarray[Any, Any]:
    """Rows of `model_input` as one (n, 3, H, W) batch; one error when their sizes differ."""
    if len({r.shape for r in rows}) > 1:
        raise InvalidInput(
            f"model {model}: images have different sizes and the model states no fixed input "
            "size; give it one (input_size=(H, W))"
        )
    return np.stack(rows) if rows else np.zeros((0, 3, 1, 1), np.float32)


def _run_batch(
    m: _Model,
    ids: list[str],
    shapes: list[tuple[int, ...]],
    x: np.ndarray[Any, Any],
    ctl: Control,
    labels: set[str],
    min_score: float,
    unmapped: Counter[str],
    report: PrelabelReport,
) -> list[tuple[str, list[Region]]]:
    out: list[tuple[str, list[Region]]] = []
    if m.kind == "classification":
        probs = np.asarray(m.adapter.predict_proba(x), dtype=np.float64)
        classes = list(m.adapter.classes)
        best: list[int] = probs.argmax(axis=1).tolist() if len(probs) else []
        scores = np.clip(probs[np.arange(len(probs)), best], 0.0, 1.0).tolist() if best else []
        for item_id, k, score in zip(ids, best, scores, strict=True):
            if classes[k] not in labels:
                unmapped[classes[k]] += 1
                continue
            region = {"id": "p1", "kind": "choice", "control": ctl.name, "label": classes[k]}
            out.append((item_id, regions_from_dicts([{**region, "score": score}])))
        return out
    in_h, in_w = x.shape[2], x.shape[3]
    for item_id, shape, dets in zip(ids, shapes, m.adapter.detect(x), strict=True):
        sy, sx = shape[0] / in_h, shape[1] / in_w
        regions: list[dict[str, Any]] = []  # built trusted: the values are checked here
        for d in sorted(dets, key=lambda d: -d.score):
            if d.score < min_score:
                report.below_min_score += 1
                continue
            if d.label not in labels:
                unmapped[d.label] += 1
                continue
            bx, by, bw, bh = d.box
            if bw <= 0 or bh <= 0:
                report.empty_boxes += 1
                continue
            box = (bx * sx, by * sy, bw * sx, bh * sy)
            regions.append(
                {
                    "id": f"p{len(regions) + 1}",
                    "kind": "box",
                    "control": ctl.name,
                    "label": d.label,
                    "box": box,
                    "score": min(1.0, max(0.0, float(d.score))),
                }
            )
        out.append((item_id, regions_from_dicts(regions)))
    return out

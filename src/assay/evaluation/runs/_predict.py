"""Where predictions come from: a prediction file, a registered model, or a Python object."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from assay.errors import InvalidInput
from assay.evaluation.runs._data import EvalData, EvalItem, Image, to_batch
from assay.models import (
    CocoResult,
    Detection,
    ImageClassifier,
    ImageDetector,
    ProbabilityTable,
    Task,
    get_model,
    gradient_of,
    model_file,
    prediction_format,
    read_coco_results,
    read_probabilities,
)

if TYPE_CHECKING:
    from assay.workspace import Workspace

BATCH = 64
Boxes = list[tuple[str, tuple[float, float, float, float], float]]  # label, xywh, score


@dataclass
class Source:
    """A resolved model: its identity for the record and how to get predictions."""

    kind: str  # predictions | onnx | callable
    name: str
    task: Task
    classes: list[str]
    sha256: str | None = None
    model_id: str | None = None
    ref: str | None = None
    file: str | None = None
    adapter: Any = None
    probabilities: ProbabilityTable | None = None
    results: list[CocoResult] = field(default_factory=list)

    @property
    def runs_images(self) -> bool:
        return self.adapter is not None

    @property
    def has_gradients(self) -> bool:
        return self.adapter is not None and gradient_of(self.adapter) is not None

    def record(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "ref": self.ref,
            "model_id": self.model_id,
            "sha256": self.sha256,
            "file": self.file,
            "task": self.task,
            "classes": self.classes,
        }


def from_predictions(ws: Workspace, path: Path) -> Source:
    """A prediction file; its bytes are kept in the blob store so reruns find them."""
    fmt = prediction_format(path)
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    data = path.read_bytes()
    sha = ws.blobs.put_bytes(data)
    if fmt == "coco-json":
        return Source(
            "predictions",
            path.name,
            "detection",
            [],
            sha,
            file=str(path),
            results=read_coco_results(path),
        )
    table = read_probabilities(path)
    return Source(
        "predictions",
        path.name,
        "classification",
        table.classes,
        sha,
        file=str(path),
        probabilities=table,
    )


def from_registry(ws: Workspace, spec: str) -> Source:
    """A registered model (`NAME` or `NAME@VERSION`)."""
    info = get_model(ws, spec)
    if info.kind not in ("predictions", "onnx"):
        raise InvalidInput(
            f"model {info.ref} is a {info.kind} {info.task} model; an evaluation run takes an "
            "ONNX image model or a prediction file"
        )
    path = model_file(ws, info)
    if hashlib.sha256(path.read_bytes()).hexdigest() != info.sha256:
        raise InvalidInput(f"model {info.ref}: stored file does not match its sha256 {info.sha256}")
    if info.kind == "predictions":
        src = _from_file(path, info.format)
    else:
        from assay.models import OnnxClassifier, OnnxDetector

        task: Task = "detection" if info.task == "detection" else "classification"
        cls = OnnxDetector if task == "detection" else OnnxClassifier
        adapter = cls(path, list(info.classes), info.ref)
        src = Source("onnx", info.name, task, list(adapter.classes), adapter=adapter)
    src.sha256, src.model_id, src.ref, src.name = info.sha256, info.id, info.ref, info.name
    src.file = info.file_name
    return src


def _from_file(path: Path, fmt: str) -> Source:
    if fmt == "coco-json":
        return Source("predictions", path.name, "detection", [], results=read_coco_results(path))
    table = read_probabilities(path, fmt)
    return Source("predictions", path.name, "classification", table.classes, probabilities=table)


def from_blob(ws: Workspace, sha: str, file: str) -> Source:
    """A prediction file kept in the blob store by an earlier run."""
    path = ws.blobs.path(sha)
    if not path.is_file():
        raise InvalidInput(f"prediction file {file} ({sha[:12]}) is missing from the blob store")
    src = _from_file(path, prediction_format(Path(file)))
    src.sha256, src.file, src.name = sha, file, Path(file).name
    return src


def from_object(model: object, name: str | None = None) -> Source:
    """A Python object: `ImageClassifier` or `ImageDetector` (e.g. `CallableClassifier`)."""
    label = name or str(getattr(model, "name", type(model).__name__))
    if isinstance(model, ImageDetector):
        return Source("callable", label, "detection", list(model.classes), adapter=model)
    if isinstance(model, ImageClassifier):
        return Source("callable", label, "classification", list(model.classes), adapter=model)
    raise InvalidInput(
        f"model {label}: needs predict_proba (classifier) or detect (detector), classes and "
        "input_size; see assay.models.CallableClassifier"
    )


def _item_for(key: str, lookup: dict[str, EvalItem], ids: list[str]) -> EvalItem | None:
    if key in lookup:
        return lookup[key]
    if len(key) >= 12 and all(c in "0123456789abcdef" for c in key):
        hits = [i for i in ids if i.startswith(key)]
        if len(hits) == 1:
            return lookup[hits[0]]
    return None


def file_probabilities(
    src: Source, data: EvalData
) -> tuple[list[EvalItem], npt.NDArray[np.float64]]:
    """Items with a row in the probability table, and their rows."""
    table = src.probabilities
    if table is None:
        raise InvalidInput(f"{src.name}: not a probability table")
    # A column of a class the dataset does not have would be scored as a model class, unsaid.
    extra = [c for c in table.classes if c not in data.classes]
    if extra:
        raise InvalidInput(
            f"{table.source}: column '{extra[0]}' is not a class of "
            f"{data.dataset}@{data.commit_id[:12]} ({', '.join(data.classes)}); a probability "
            "file has the key column and one column per class of the dataset"
        )
    lookup = data.by_key()
    ids = [it.item_id for it in data.items]
    pos: dict[str, int] = {}
    for row, key in enumerate(table.keys):
        it = _item_for(key, lookup, ids) if table.key == "item" else lookup.get(key)
        if it is None or (table.key == "name" and it.name != key):
            raise InvalidInput(
                f"{table.source}: row {row + 1}, column '{table.key}': {key!r} is not an item of "
                f"{data.dataset}@{data.commit_id[:12]}"
            )
        pos[it.item_id] = row
    kept = [it for it in data.items if it.item_id in pos]
    return kept, table.probs[[pos[it.item_id] for it in kept]]


def file_detections(src: Source, data: EvalData, label_names: list[str]) -> dict[str, Boxes]:
    """COCO results mapped to items; image and category ids as `assay export` writes them."""
    lookup = data.by_key()
    ids = [it.item_id for it in data.items]
    out: dict[str, Boxes] = {it.item_id: [] for it in data.items}
    where = src.file or src.name
    for i, r in enumerate(src.results):
        it = _item_for(str(r.image_id), lookup, ids)
        if it is None:
            raise InvalidInput(
                f"{where}: [{i}].image_id: {r.image_id!r} is not an item of "
                f"{data.dataset}@{data.commit_id[:12]} (use the ids of `assay export --format "
                "coco`, item ids or file names)"
            )
        cats = data.categories or dict(enumerate(label_names, 1))
        if isinstance(r.category, int):
            if r.category not in cats:
                known = ", ".join(str(c) for c in sorted(cats))
                raise InvalidInput(
                    f"{where}: [{i}].{r.category_field}: {r.category} is not a category of the "
                    f"dataset ({known}, as `assay export --format coco` numbers them)"
                )
            label = cats[r.category]
        elif r.category in cats.values():
            label = r.category
        else:
            # A misspelt class would count only as false alarms and lower the scores unsaid.
            raise InvalidInput(
                f"{where}: [{i}].{r.category_field}: {r.category!r} is not a class of the "
                f"dataset ({', '.join(cats.values())}); fix the name, or leave out detections "
                "of classes the dataset does not label"
            )
        out[it.item_id].append((label, r.bbox, r.score))
    return out


def model_probabilities(src: Source, images: list[Image]) -> npt.NDArray[np.float64]:
    """Run a classifier in batches."""
    model: ImageClassifier = src.adapter
    parts = []
    for start in range(0, len(images), BATCH):
        x = to_batch(images[start : start + BATCH], model.input_size, src.name)
        parts.append(np.asarray(model.predict_proba(x), dtype=np.float64))
    return np.concatenate(parts) if parts else np.zeros((0, len(src.classes)))


def model_detections(src: Source, images: list[Image]) -> list[Boxes]:
    """Run a detector in batches; boxes are scaled back to each image's own pixels."""
    model: ImageDetector = src.adapter
    out: list[Boxes] = []
    for start in range(0, len(images), BATCH):
        chunk = images[start : start + BATCH]
        x = to_batch(chunk, model.input_size, src.name)
        in_h, in_w = x.shape[2], x.shape[3]
        for im, dets in zip(chunk, model.detect(x), strict=True):
            sy, sx = im.shape[0] / in_h, im.shape[1] / in_w
            out.append([_scaled(d, sx, sy) for d in dets])
    return out


def _scaled(
    d: Detection, sx: float, sy: float
) -> tuple[str, tuple[float, float, float, float], float]:
    x, y, w, h = d.box
    return d.label, (x * sx, y * sy, w * sx, h * sy), d.score

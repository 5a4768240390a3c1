"""The model registry: files kept in the blob store by sha256, with lineage to a commit.

A name holds versions 1, 2, ...: adding a different file under a taken name makes the next
version; adding the same file again returns the version that has it. `NAME` means the latest
version, `NAME@N` a given one.

Example:
    >>> import tempfile, pathlib
    >>> from assay import Workspace
    >>> ws = Workspace.init(tempfile.mkdtemp())
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "preds.csv"
    >>> _ = f.write_text("name,dry,flooded\\na.png,0.9,0.1\\n")
    >>> add_model(ws, "baseline", f).ref
    'baseline@1'
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from assay import audit
from assay.domain.labels import canonical_json
from assay.errors import InvalidInput, NotFound
from assay.models._predictions import prediction_format, read_coco_results, read_probabilities
from assay.models._types import Task
from assay.store.schema import models_table
from assay.timeutil import now_iso

if TYPE_CHECKING:
    from assay.workspace import Workspace

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


@dataclass(frozen=True)
class ModelInfo:
    """A registered model version."""

    id: str
    name: str
    version: int
    kind: str  # onnx | predictions
    task: Task
    format: str  # onnx | coco-json | csv | parquet
    sha256: str
    size: int
    file_name: str
    classes: list[str] = field(default_factory=list)
    trained_on: str | None = None  # dataset commit id
    trained_on_spec: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    created_by: str = ""

    @property
    def ref(self) -> str:
        """``NAME@VERSION``."""
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields plus `ref`."""
        return {"ref": self.ref, **asdict(self)}


def _describe(path: Path, task: Task | None, classes: list[str] | None) -> dict[str, Any]:
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        from assay.models._onnx import inspect_onnx

        info = inspect_onnx(path)
        if task is not None and task != info.task:
            raise InvalidInput(f"{path}: --task {task} but the graph is a {info.task} model")
        return {
            "kind": "onnx",
            "format": "onnx",
            "task": info.task,
            "classes": classes or info.classes,
            "details": {"input_size": info.input_size, "outputs": info.outputs},
        }
    fmt = prediction_format(path)
    if fmt == "coco-json":
        n = len(read_coco_results(path))
        found: Task = "detection"
        details: dict[str, Any] = {"detections": n}
        file_classes = classes or []
    else:
        table = read_probabilities(path)
        found, details, file_classes = "classification", {"rows": len(table.keys)}, table.classes
    if task is not None and task != found:
        raise InvalidInput(f"{path}: --task {task} but a {fmt} prediction file is {found}")
    return {
        "kind": "predictions",
        "format": fmt,
        "task": found,
        "classes": file_classes,
        "details": details,
    }


def _row_to_info(r: Any) -> ModelInfo:
    return ModelInfo(
        id=r.id,
        name=r.name,
        version=r.version,
        kind=r.kind,
        task=r.task,
        format=r.format,
        sha256=r.sha256,
        size=r.size,
        file_name=r.file_name,
        classes=json.loads(r.classes),
        trained_on=r.trained_on,
        trained_on_spec=r.trained_on_spec,
        details=json.loads(r.details),
        created=r.created,
        created_by=r.created_by,
    )


def add_model(
    ws: Workspace,
    name: str,
    file: str | Path,
    *,
    trained_on: str | None = None,
    task: Task | None = None,
    classes: list[str] | None = None,
    marking: str | None = None,
) -> ModelInfo:
    """Register a model file (ONNX or prediction file) under `name`.

    Args:
        ws: The workspace.
        name: Letters, digits, ``.``, ``_`` and ``-``.
        file: An ``.onnx`` model, a COCO results ``.json``, or a ``.csv`` / ``.parquet``
            table of class probabilities.
        trained_on: ``DATASET@REV`` it was trained on; stored as the commit id (lineage).
        task: Check the file is of this task.
        classes: Class names in output order (ONNX models without a ``classes`` property).
        marking: The model's marking; default the highest marking of `trained_on`'s items
            (the lowest level without lineage). Never below the training data's.

    Raises:
        InvalidInput: Bad name or unreadable file. NotFound: unknown dataset or revision.
    """
    if not _NAME.match(name):
        raise InvalidInput(
            f"model name {name!r}: use letters, digits, '.', '_' and '-' (no '@' or spaces)"
        )
    path = Path(file)
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    desc = _describe(path, task, classes)
    commit_id = None
    data_marking = ws.scheme.parse("")
    if trained_on:
        rev = ws.resolve(trained_on, default_head=True)
        commit_id = rev.commit.id if rev.commit else None
        data_marking = ws.scheme.parse(ws.show(trained_on)["marking"])
    mark = ws.scheme.parse(marking) if marking else data_marking
    if not ws.scheme.allows(mark, data_marking):
        raise InvalidInput(
            f"--marking {marking}: below its training data {trained_on} "
            f"({ws.scheme.render(data_marking)}); a model's marking is at least its data's"
        )
    desc["details"]["marking"] = ws.scheme.render(mark)
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    with ws.blob_writes(), ws.db.begin() as conn:
        same = conn.execute(
            select(models_table).where(models_table.c.name == name, models_table.c.sha256 == sha)
        ).first()
        if same is not None:
            return _row_to_info(same)
        latest = conn.execute(
            select(func.max(models_table.c.version)).where(models_table.c.name == name)
        ).scalar()
        version = int(latest or 0) + 1
        ws.blobs.put_bytes(data)
        row = {
            "id": hashlib.sha256(f"{name}@{version}:{sha}".encode()).hexdigest(),
            "name": name,
            "version": version,
            "kind": desc["kind"],
            "task": desc["task"],
            "format": desc["format"],
            "sha256": sha,
            "size": len(data),
            "file_name": path.name,
            "classes": canonical_json(desc["classes"]),
            "trained_on": commit_id,
            "trained_on_spec": trained_on,
            "details": canonical_json(desc["details"]),
            "created": now_iso(),
            "created_by": ws.actor,
        }
        conn.execute(models_table.insert().values(**row))
        audit.append(
            conn,
            ws.actor,
            "model.add",
            f"model:{name}@{version}",
            {
                "sha256": sha,
                "trained_on": commit_id,
                "task": desc["task"],
                "kind": desc["kind"],
                "marking": desc["details"]["marking"],
            },
        )
        return _row_to_info(
            conn.execute(select(models_table).where(models_table.c.id == row["id"])).one()
        )


def list_models(ws: Workspace) -> list[ModelInfo]:
    """Every registered version, by name then version."""
    with ws.db.read() as conn:
        rows = conn.execute(
            select(models_table).order_by(models_table.c.name, models_table.c.version)
        ).all()
    return [_row_to_info(r) for r in rows]


def get_model(ws: Workspace, spec: str) -> ModelInfo:
    """`NAME` (latest version) or `NAME@VERSION`."""
    name, _, ver = spec.partition("@")
    q = select(models_table).where(models_table.c.name == name)
    if ver:
        if not ver.isdigit():
            raise InvalidInput(f"model {spec!r}: the version after '@' is a number, e.g. {name}@2")
        q = q.where(models_table.c.version == int(ver))
    with ws.db.read() as conn:
        row = conn.execute(q.order_by(models_table.c.version.desc())).first()
    if row is None:
        raise NotFound(f"no model {spec!r}; register it with `assay model add {name} --file ...`")
    return _row_to_info(row)


def model_file(ws: Workspace, info: ModelInfo) -> Path:
    """Where the registered file lives in the blob store (checked against its sha256)."""
    path = ws.blobs.path(info.sha256)
    if not path.is_file():
        raise NotFound(f"model {info.ref}: its file {info.sha256[:12]} is missing from the store")
    return path


def model_marking(ws: Workspace, info: ModelInfo) -> str:
    """The model's marking (kept in its details; versions registered before: the lowest)."""
    return ws.scheme.render(ws.scheme.parse(str(info.details.get("marking", ""))))

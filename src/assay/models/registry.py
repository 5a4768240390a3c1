"""The model registry: files kept in the blob store by sha256, with lineage to a commit.

A name holds versions 1, 2, ...: adding a different file under a taken name makes the next
version; adding the same file again returns the version that has it. `NAME` means the latest
version, `NAME@N` a given one.

A model is one file (ONNX, a prediction file) or a directory (a transformers model, a PEFT
adapter, an embedding classifier head: see `assay.models._directory`), kept file by file
with a manifest whose sha256 is the version's. `model_dir` materialises a version for
loading; `export_model` copies it out. A version's marking is the highest of its training
data's (or the declared one, never lower); functions given a `clearance` below it answer
exactly as for a model that does not exist (need-to-know).

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
import logging
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from assay import audit
from assay._atomic import atomic_write_text
from assay.domain.labels import canonical_json
from assay.errors import InvalidInput, NotFound
from assay.models._directory import describe_directory, manifest_bytes, manifest_of
from assay.models._predictions import prediction_format, read_coco_results, read_probabilities
from assay.models._types import Task
from assay.store.blobs import sha256_file
from assay.store.schema import models_table
from assay.timeutil import now_iso

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from assay.domain.marking import Marking
    from assay.workspace import Workspace

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_IN_MEMORY = 64 << 20  # files up to this size are read whole; larger ones are streamed


@dataclass(frozen=True)
class ModelInfo:
    """A registered model version."""

    id: str
    name: str
    version: int
    kind: str  # onnx | predictions | transformers | peft-adapter | embedding-head
    task: str  # classification | detection | causal-lm | text-classification | ...
    format: str  # onnx | coco-json | csv | parquet | directory
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

    @property
    def is_directory(self) -> bool:
        """A directory model (its `sha256` is its manifest's)."""
        return self.format == "directory"

    @property
    def marking(self) -> str:
        """The marking recorded at registration (see `model_marking` for the rendered one)."""
        return str(self.details.get("marking", ""))

    def trained_on_ref(self, digits: int = 64) -> str | None:
        """``DATASET@COMMIT`` the model learned from, pinned to the commit whatever the user
        typed (a bare ``NAME`` or a tag names another commit once the dataset moves on)."""
        if not self.trained_on:
            return None
        dataset = (self.trained_on_spec or "").partition("@")[0]
        commit = self.trained_on[:digits]
        return f"{dataset}@{commit}" if dataset else commit

    @property
    def lineage(self) -> dict[str, Any] | None:
        """The training record of a model assay trained, else None."""
        value = self.details.get("lineage")
        return value if isinstance(value, dict) else None

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
    task: str | None = None,
    classes: list[str] | None = None,
    marking: str | None = None,
    lineage: dict[str, Any] | None = None,
    base: str | None = None,
) -> ModelInfo:
    """Register a model file (ONNX or prediction file) or model directory under `name`.

    Args:
        ws: The workspace.
        name: Letters, digits, ``.``, ``_`` and ``-``.
        file: An ``.onnx`` model, a COCO results ``.json``, a ``.csv`` / ``.parquet``
            table of class probabilities, or a directory: a transformers model, a PEFT
            adapter or an embedding classifier head (`assay.models._directory`).
        trained_on: ``DATASET@REV`` it was trained on; stored as the commit id (lineage).
        task: Check the file is of this task (directories: say it when the config does not).
        classes: Class names in output order (ONNX models without a ``classes`` property).
        marking: The model's marking; default the highest marking of `trained_on`'s items
            (the lowest level without lineage). Never below the training data's.
        lineage: The training record (`assay train`), kept in the version's details.
        base: A PEFT adapter's base model: a transformers directory or a registered
            ``NAME[@VERSION]`` (default: what its ``adapter_config.json`` names, when that
            is a local directory or a registered model). Checked to fit the adapter; its
            sha256 is recorded and checked again when the adapter is loaded.

    Raises:
        InvalidInput: Bad name, unreadable file, not a model directory, a base that does
            not fit the adapter.
        NotFound: unknown dataset or revision.
    """
    if not _NAME.match(name):
        raise InvalidInput(
            f"model name {name!r}: use letters, digits, '.', '_' and '-' (no '@' or spaces)"
        )
    path = Path(file)
    manifest: list[dict[str, Any]] | None = None
    if path.is_dir():
        desc = describe_directory(path, task)
        manifest = manifest_of(path)
    elif path.is_file():
        if task not in (None, "classification", "detection"):
            raise InvalidInput(f"{path}: --task {task} is for model directories, not files")
        desc = _describe(path, task, classes)  # type: ignore[arg-type]
    else:
        raise InvalidInput(f"{path}: no such file or directory")
    if classes and manifest is not None:
        desc["classes"] = classes
    if base is not None and desc["kind"] != "peft-adapter":
        raise InvalidInput(f"{path}: --base is for a PEFT adapter; this is a {desc['kind']} model")
    if desc["kind"] == "peft-adapter" and (base is not None or not (lineage or {}).get("base")):
        from assay.models._adapter_base import base_record

        recorded = base_record(ws, path, base)
        if recorded is not None:
            desc["details"]["base"] = recorded
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
    if lineage is not None:
        desc["details"]["lineage"] = lineage
    if manifest is not None:
        data = manifest_bytes(manifest)
        desc["details"]["files"] = len(manifest)
        size = sum(int(f["size"]) for f in manifest)
    else:
        data = path.read_bytes()
        size = len(data)
    sha = hashlib.sha256(data).hexdigest()
    with ws.blob_writes():
        # The files first (a file already stored is not copied again), outside the transaction
        # that numbers the version: it holds the lock every writer of the workspace takes.
        if manifest is not None:
            _store_files(ws, path, manifest)
        ws.blobs.put_bytes(data)
        return _record_model(ws, name, path, desc, sha, size, commit_id, trained_on)


def _record_model(
    ws: Workspace,
    name: str,
    path: Path,
    desc: dict[str, Any],
    sha: str,
    size: int,
    commit_id: str | None,
    trained_on: str | None,
) -> ModelInfo:
    with ws.db.begin() as conn:
        # Two registrations of one name at once queue here (PostgreSQL's read committed let
        # both read the same latest version; SQLite's write lock orders them already).
        audit.lock_trail(conn)
        same = conn.execute(
            select(models_table).where(models_table.c.name == name, models_table.c.sha256 == sha)
        ).first()
        if same is not None:
            return _row_to_info(same)
        latest = conn.execute(
            select(func.max(models_table.c.version)).where(models_table.c.name == name)
        ).scalar()
        version = int(latest or 0) + 1
        row = {
            "id": hashlib.sha256(f"{name}@{version}:{sha}".encode()).hexdigest(),
            "name": name,
            "version": version,
            "kind": desc["kind"],
            "task": desc["task"],
            "format": desc["format"],
            "sha256": sha,
            "size": size,
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


def _store_files(ws: Workspace, root: Path, manifest: list[dict[str, Any]]) -> None:
    """Every file of a directory model into the blob store (large ones streamed), checked
    against the manifest while copying: a file changed since it was hashed is refused."""
    staged = []
    for f in manifest:
        src = root / f["path"]
        if ws.blobs.exists(f["sha256"]):
            continue
        if f["size"] <= _IN_MEMORY:
            data = src.read_bytes()
            if hashlib.sha256(data).hexdigest() != f["sha256"]:
                raise InvalidInput(f"{src}: changed while it was being registered")
            ws.blobs.put_bytes(data)
            continue
        if sha256_file(src) != f["sha256"]:
            raise InvalidInput(f"{src}: changed while it was being registered")
        staged.append(ws.blobs.stage_file(str(src), f["sha256"]))
    if staged:
        ws.blobs.make_durable(staged)
        ws.blobs.publish_many(staged)


def list_models(ws: Workspace, clearance: Marking | None = None) -> list[ModelInfo]:
    """Every registered version, by name then version (those `clearance` allows)."""
    with ws.db.read() as conn:
        rows = conn.execute(
            select(models_table).order_by(models_table.c.name, models_table.c.version)
        ).all()
    infos = [_row_to_info(r) for r in rows]
    return [i for i in infos if _cleared(ws, i, clearance)]


def _cleared(ws: Workspace, info: ModelInfo, clearance: Marking | None) -> bool:
    return clearance is None or ws.scheme.allows(clearance, ws.scheme.parse(info.marking))


def get_model(ws: Workspace, spec: str, clearance: Marking | None = None) -> ModelInfo:
    """`NAME` (latest version) or `NAME@VERSION`.

    With `clearance`, a version marked above it is NotFound with the same message as a
    missing one (need-to-know); `NAME` alone then means the latest version it allows.
    """
    name, _, ver = spec.partition("@")
    q = select(models_table).where(models_table.c.name == name)
    if ver:
        if not ver.isdigit():
            raise InvalidInput(f"model {spec!r}: the version after '@' is a number, e.g. {name}@2")
        q = q.where(models_table.c.version == int(ver))
    with ws.db.read() as conn:
        rows = conn.execute(q.order_by(models_table.c.version.desc())).all()
    for row in rows:
        info = _row_to_info(row)
        if _cleared(ws, info, clearance):
            return info
    raise _not_found(spec, clearance)


def _not_found(spec: str, clearance: Marking | None) -> NotFound:
    """Missing, or hidden by `clearance`: one message. The hint to register it is given only
    to a caller who sees every model; to a cleared view it would point the wrong way for a
    hidden model, and its absence must not tell the two apart (need-to-know)."""
    if clearance is not None:
        return NotFound(f"no model {spec!r}")
    name = spec.partition("@")[0]
    return NotFound(f"no model {spec!r}; register it with `assay model add {name} PATH`")


def model_file(ws: Workspace, info: ModelInfo) -> Path:
    """Where the registered file lives in the blob store (a directory model: its manifest)."""
    path = ws.blobs.path(info.sha256)
    if not path.is_file():
        raise NotFound(f"model {info.ref}: its file {info.sha256[:12]} is missing from the store")
    return path


def model_marking(ws: Workspace, info: ModelInfo) -> str:
    """The model's marking (kept in its details; versions registered before: the lowest)."""
    return ws.scheme.render(ws.scheme.parse(info.marking))


def model_manifest(ws: Workspace, info: ModelInfo) -> list[dict[str, Any]]:
    """A directory model's ``[{"path", "sha256", "size"}]``, checked against its sha256."""
    if not info.is_directory:
        raise InvalidInput(f"model {info.ref} is a single {info.format} file, not a directory")
    data = model_file(ws, info).read_bytes()
    if hashlib.sha256(data).hexdigest() != info.sha256:
        raise InvalidInput(f"model {info.ref}: its stored manifest does not match its sha256")
    manifest: list[dict[str, Any]] = json.loads(data)
    for f in manifest:
        _check_entry(info, f)
    return manifest


_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _check_entry(info: ModelInfo, f: Any) -> None:
    """One manifest entry names a file inside the model's folder, by sha256 and size: its
    path is written under the folder the model is materialised in, so a manifest that a
    database writer points the model at cannot write a file anywhere else."""
    path = f.get("path") if isinstance(f, dict) else None
    pure = PurePosixPath(path) if isinstance(path, str) else None
    parts = pure.parts if pure is not None else ()
    if (
        pure is None
        or not parts
        or path != pure.as_posix()
        or parts[0] == "/"
        or any(p in ("..", ".") or "\\" in p or "\0" in p for p in parts)
    ):
        raise InvalidInput(
            f"model {info.ref}: its manifest names {path!r}, which is not a path inside the "
            "model's folder"
        )
    sha, size = f.get("sha256"), f.get("size")
    if not (isinstance(sha, str) and _SHA256.match(sha)) or type(size) is not int or size < 0:
        raise InvalidInput(
            f"model {info.ref}: its manifest entry {path!r} has no valid sha256/size"
        )


def model_dir(ws: Workspace, model: str | ModelInfo, clearance: Marking | None = None) -> Path:
    """A local directory holding the model version's files, ready for ``from_pretrained``.

    Materialised once under the workspace's ``cache/models/`` (each file checked against its
    sha256 while it is written, then a marker beside the folder records each file's size,
    mtime, ctime and inode); later calls reuse the folder only while those are unchanged and
    it holds no file the manifest does not name, and copy it again from the store otherwise.
    A single-file model gives a directory with that one file. `clearance` below the model's
    marking: NotFound, as for a missing model.
    """
    info = get_model(ws, model, clearance) if isinstance(model, str) else model
    if not _cleared(ws, info, clearance):
        raise _not_found(info.ref, clearance)
    files: list[dict[str, Any]] = (
        model_manifest(ws, info)
        if info.is_directory
        else [{"path": info.file_name, "sha256": info.sha256, "size": info.size}]
    )
    for f in files:
        _check_entry(info, f)
    target = Path(ws.root) / "cache" / "models" / info.sha256
    marker = target.parent / f"{info.sha256}.verified"
    if target.is_dir() and _still_verified(target, marker, files):
        return target
    if target.exists() and marker.exists():
        log.warning(
            "model %s: its cached folder %s changed since it was checked; copying it again",
            info.ref,
            target,
        )
    marker.unlink(missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{info.sha256[:12]}-", dir=target.parent))
    try:
        for f in files:
            dest = tmp / f["path"]
            dest.parent.mkdir(parents=True, exist_ok=True)
            src = ws.blobs.path(f["sha256"])
            if not src.is_file():
                raise NotFound(
                    f"model {info.ref}: its file {f['path']} ({f['sha256'][:12]}) is missing "
                    "from the store"
                )
            shutil.copyfile(src, dest)
            if sha256_file(dest) != f["sha256"]:
                raise InvalidInput(
                    f"model {info.ref}: stored {f['path']} does not match its sha256 "
                    f"{f['sha256'][:12]} (run `assay model verify {info.ref}`)"
                )
        if target.exists():
            shutil.rmtree(target)
        tmp.replace(target)
        atomic_write_text(marker, json.dumps(_stamps(target, files)))
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return target


def _stamps(target: Path, files: list[dict[str, Any]]) -> dict[str, list[int]]:
    """Each file's size, mtime, ctime and inode: any write to a file changes its ctime, which
    no one can set back (`touch` sets mtime only), so an edit of the same size shows."""
    out = {}
    for f in files:
        st = (target / f["path"]).stat()
        out[f["path"]] = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
    return out


def _still_verified(target: Path, marker: Path, files: list[dict[str, Any]]) -> bool:
    """Whether the folder's files are as they were when checked against their sha256.

    Hashing them again on every load would cost a read of the whole model (seconds per GB);
    the marker, written once their hashes were checked, costs a stat per file."""
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))
        now = _stamps(target, files)
    except (OSError, ValueError):
        return False
    if _extra_files(target, {f["path"] for f in files}):
        return False
    return bool(recorded == now) and all(now[f["path"]][0] == f["size"] for f in files)


def _extra_files(target: Path, expected: set[str]) -> bool:
    """Whether the folder holds anything the manifest does not name (a file or link someone
    added there): ``from_pretrained`` would load an extra shard or tokenizer file with the
    registered ones."""
    for dirpath, dirnames, filenames in os.walk(target):
        here = Path(dirpath)
        if any((here / d).is_symlink() for d in dirnames):
            return True
        for name in filenames:
            if (here / name).relative_to(target).as_posix() not in expected:
                return True
    return False


def export_model(
    ws: Workspace,
    spec: str,
    out: str | Path,
    *,
    clearance: Marking | None = None,
    actor: str | None = None,
) -> list[Path]:
    """Copy a model version's files to `out` (a new or empty folder) with ``MARKING.txt``.

    Raises:
        NotFound: no such model, or one marked above `clearance` (the same message).
        InvalidInput: `out` is a file or a folder with files in it.
    """
    info = get_model(ws, spec, clearance)
    out_dir = Path(out)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise InvalidInput(f"{out_dir}: exists and is not an empty folder; nothing written")
    src = model_dir(ws, info, clearance)
    out_dir.resolve().parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=out_dir.resolve().parent))
    try:
        shutil.copytree(src, tmp, dirs_exist_ok=True)
        mark = model_marking(ws, info)
        (tmp / "MARKING.txt").write_text(
            f"{mark}\nmodel {info.ref} sha256 {info.sha256}\n", encoding="utf-8"
        )
        if out_dir.exists():
            out_dir.rmdir()
        tmp.replace(out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    with ws.db.begin() as conn:
        audit.append(
            conn,
            actor or ws.actor,
            "model.export",
            f"model:{info.ref}",
            {"sha256": info.sha256, "out": str(out_dir), "marking": model_marking(ws, info)},
        )
    return sorted(p for p in out_dir.rglob("*") if p.is_file())

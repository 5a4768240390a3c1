"""Lineage of trained models: what was recorded, and `verify_model` that recomputes it.

A model assay trains carries a lineage record, both as ``lineage.json`` among its files and
in its registry entry::

    {"model": {"kind", "method"}, "base": {"ref", "sha256", "path"} | null,
     "data": {"dataset", "commit", "spec", "format", "rows", "sha256", "marking", ...},
     "hyperparameters": {...}, "seed": N, "libraries": {...}, "hardware": {...},
     "metrics": {...}, "created": ISO time}

`verify_model` checks every stored file against the manifest, ``lineage.json`` against the
registered record, the base model's hash, and rebuilds the training rows from the data
commit to compare their content hash. Each mismatch is one line naming what differs.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import AssayError
from assay.models._directory import LINEAGE_FILE, manifest_bytes, manifest_of
from assay.models.registry import ModelInfo, get_model, model_manifest
from assay.store.blobs import sha256_file

if TYPE_CHECKING:
    from assay.domain.marking import Marking
    from assay.workspace import Workspace

CARD_FILE = "README.md"


def library_versions(names: tuple[str, ...]) -> dict[str, str]:
    """Installed versions of `names` (and Python's), for the lineage."""
    out = {"python": platform.python_version()}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            continue
    return out


def hardware() -> dict[str, Any]:
    """Where a model was trained: machine, CPU count and the accelerator torch used."""
    info: dict[str, Any] = {
        "machine": platform.machine(),
        "system": platform.system(),
        "cpus": os.cpu_count(),
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        cuda = bool(torch.cuda.is_available())
        info["device"] = "cuda" if cuda else "cpu"
        if cuda:
            info["gpu"] = torch.cuda.get_device_name(0)
        info["threads"] = torch.get_num_threads()
    return info


def directory_sha256(path: Path) -> str:
    """The sha256 a model directory registers under (of its manifest)."""
    return hashlib.sha256(manifest_bytes(manifest_of(path))).hexdigest()


@dataclass
class Verification:
    """What `verify_model` found: `problems` is empty when everything matches."""

    model: str
    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "ok": self.ok,
            "checked": self.checked,
            "problems": self.problems,
        }


def _check_files(
    ws: Workspace, info: ModelInfo, manifest: list[dict[str, Any]], v: Verification
) -> dict[str, bytes]:
    """Every stored file against its manifest entry; returns the small JSON/Markdown files."""
    small: dict[str, bytes] = {}
    for f in manifest:
        path = ws.blobs.path(f["sha256"])
        if not path.is_file():
            v.problems.append(f"{f['path']}: missing from the store ({f['sha256'][:12]})")
            continue
        got = sha256_file(path)
        if got != f["sha256"]:
            v.problems.append(
                f"{f['path']}: stored bytes hash to {got[:12]}, the manifest says "
                f"{f['sha256'][:12]}"
            )
            continue
        if f["path"] in (LINEAGE_FILE, CARD_FILE):
            small[f["path"]] = path.read_bytes()
    v.checked.append(f"{len(manifest)} files against the manifest")
    return small


def _check_dir(path: Path, manifest: list[dict[str, Any]], v: Verification) -> dict[str, bytes]:
    """A local copy (an export, a materialised directory) against the manifest."""
    want = {f["path"]: f for f in manifest}
    have = {f["path"]: f for f in manifest_of(path) if f["path"] != "MARKING.txt"}
    for p in sorted(set(want) | set(have)):
        if p not in have:
            v.problems.append(f"{path / p}: missing")
        elif p not in want:
            v.problems.append(f"{path / p}: not a file of the model")
        elif have[p]["sha256"] != want[p]["sha256"]:
            v.problems.append(
                f"{path / p}: hashes to {have[p]['sha256'][:12]}, the manifest says "
                f"{want[p]['sha256'][:12]}"
            )
    v.checked.append(f"{len(have)} files of {path} against the manifest")
    return {p: (path / p).read_bytes() for p in (LINEAGE_FILE, CARD_FILE) if p in have}


def _diff_keys(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _diff_keys(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [prefix.rstrip(".")]


def _check_lineage(
    ws: Workspace, info: ModelInfo, files: dict[str, bytes], v: Verification
) -> None:
    lineage = info.lineage
    if lineage is None:
        return
    raw = files.get(LINEAGE_FILE)
    if raw is None:
        v.problems.append(f"{LINEAGE_FILE}: not among the model's files")
    else:
        try:
            written = json.loads(raw)
        except json.JSONDecodeError as exc:
            written = None
            v.problems.append(f"{LINEAGE_FILE}: not JSON ({exc})")
        if written is not None and written != lineage:
            keys = ", ".join(_diff_keys(written, lineage)) or "its structure"
            v.problems.append(f"{LINEAGE_FILE}: differs from the registered lineage in {keys}")
        v.checked.append(f"{LINEAGE_FILE} against the registered lineage")
    data = lineage.get("data") or {}
    if data.get("commit") != info.trained_on:
        v.problems.append(
            f"data commit: lineage says {str(data.get('commit'))[:12]}, the registry "
            f"{str(info.trained_on)[:12]}"
        )
    card = files.get(CARD_FILE)
    if card is not None and f"{data.get('dataset')}@{data.get('commit')}" not in card.decode(
        "utf-8", "replace"
    ):
        v.problems.append(f"{CARD_FILE}: the model card's datasets do not name the data commit")
    _check_data(ws, data, v)
    _check_base(ws, lineage.get("base"), v)


def _check_data(ws: Workspace, data: dict[str, Any], v: Verification) -> None:
    from assay.models.training_data import rebuild

    try:
        rows = rebuild(ws, data)
    except AssayError as exc:
        v.problems.append(f"data {data.get('dataset')}@{str(data.get('commit'))[:12]}: {exc}")
        return
    if rows.commit != data.get("commit"):
        v.problems.append(f"data commit: {data.get('commit')} resolves to {rows.commit}")
    if rows.sha256 != data.get("sha256"):
        v.problems.append(
            f"data {rows.dataset}@{rows.commit[:12]}: its {rows.format} rows now hash to "
            f"{rows.sha256[:12]} ({len(rows.rows)} rows), the lineage says "
            f"{str(data.get('sha256'))[:12]} ({data.get('rows')} rows)"
        )
    v.checked.append(f"{len(rows.rows)} {rows.format} rows of commit {rows.commit[:12]}")


def _check_base(ws: Workspace, base: dict[str, Any] | None, v: Verification) -> None:
    if not base:
        return
    want = str(base.get("sha256", ""))
    if base.get("ref"):
        try:
            got = get_model(ws, str(base["ref"])).sha256
        except AssayError as exc:
            v.problems.append(f"base model {base['ref']}: {exc}")
            return
        where = f"base model {base['ref']}"
    elif base.get("path") and Path(str(base["path"])).is_dir():
        got = directory_sha256(Path(str(base["path"])))
        where = f"base model {base['path']}"
    else:
        v.checked.append(f"base model not present here (sha256 {want[:12]} recorded)")
        return
    if got != want:
        v.problems.append(f"{where}: hashes to {got[:12]}, recorded as {want[:12]}")
    v.checked.append(where)


def verify_model(
    ws: Workspace, spec: str, *, directory: Path | None = None, clearance: Marking | None = None
) -> Verification:
    """Recompute a model version's files, lineage file, base hash and training-data hash.

    With `directory`, a local copy of the model (an export) is checked instead of the store.
    """
    info = get_model(ws, spec, clearance)
    v = Verification(info.ref)
    if not info.is_directory:
        path = ws.blobs.path(info.sha256)
        if not path.is_file():
            v.problems.append(f"{info.file_name}: missing from the store")
        elif sha256_file(path) != info.sha256:
            v.problems.append(f"{info.file_name}: stored bytes do not match sha256 {info.sha256}")
        v.checked.append(info.file_name)
        return v
    try:
        manifest = model_manifest(ws, info)
    except AssayError as exc:
        v.problems.append(str(exc))
        return v
    files = (
        _check_dir(directory, manifest, v)
        if directory is not None
        else _check_files(ws, info, manifest, v)
    )
    _check_lineage(ws, info, files, v)
    if info.lineage is None:  # an adapter registered with `model add`: the base recorded then
        _check_base(ws, info.details.get("base"), v)
    return v

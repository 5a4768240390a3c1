"""`run_evaluation` and `rerun`: execute a run and keep it as a record."""

from __future__ import annotations

import hashlib
import math
import platform
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from assay.compute import runner
from assay.domain.labels import canonical_json
from assay.errors import InvalidInput
from assay.evaluation.runs import _predict
from assay.evaluation.runs._classify import run_classification
from assay.evaluation.runs._data import items_frame, load_dataset
from assay.evaluation.runs._detection_run import run_detection
from assay.evaluation.runs._settings import METRIC_VERSIONS, RunSettings
from assay.evaluation.runs._slices import SliceDef, load_slices, slice_masks
from assay.evaluation.runs._store import BOXES, ITEMS, SAMPLES, EvalRun, load_run, write_run
from assay.evaluation.runs._units import Predictor, Steps
from assay.models import ModelRef
from assay.timeutil import now_iso

if TYPE_CHECKING:
    from assay.labeling.users import User
    from assay.workspace import Workspace

RECORD_FORMAT = "assay.eval-run/1"


def _libraries() -> dict[str, str | None]:
    import assay

    out: dict[str, str | None] = {"assay": assay.__version__, "python": platform.python_version()}
    for name in ("numpy", "pandas", "pyarrow", "onnxruntime", "pillow"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def clean_json(obj: Any) -> Any:
    """NaN and infinities -> None, numpy scalars -> Python, tuples -> lists (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): clean_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean_json(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _slices(slices: str | Path | Sequence[SliceDef] | None) -> list[SliceDef]:
    if slices is None:
        return []
    if isinstance(slices, str | Path):
        return load_slices(slices)
    return list(slices)


def _source(ws: Workspace, predictions: str | Path | None, model: object | None) -> _predict.Source:
    if (predictions is None) == (model is None):
        raise InvalidInput("give exactly one of --predictions FILE and --model NAME")
    if predictions is not None:
        return _predict.from_predictions(ws, Path(predictions))
    if isinstance(model, _predict.Source):
        return model
    if isinstance(model, str):
        return _predict.from_registry(ws, model)
    return _predict.from_object(model)


@contextmanager
def _predictor(
    ws: Workspace, src: _predict.Source, cluster: str | None, steps: Steps
) -> Iterator[Predictor]:
    """A registered ONNX model runs in units on a local pool or a cluster; a Python model
    object or a prediction file in this process."""
    if src.kind != "onnx" or src.sha256 is None:
        yield Predictor(src, [], steps=steps)
        return
    model = ModelRef(ws.blobs.url, src.sha256, src.task, tuple(src.classes), src.ref or src.name)
    with runner(cluster, blob_url=ws.blobs.url) as run:
        yield Predictor(src, [], run, model, steps)


def run_evaluation(
    ws: Workspace,
    dataset: str,
    out: str | Path,
    *,
    predictions: str | Path | None = None,
    model: object | None = None,
    slices: str | Path | Sequence[SliceDef] | None = None,
    settings: RunSettings | None = None,
    baseline: str | Path | None = None,
    report: bool = True,
    rerun_of: str | None = None,
    cluster: str | None = None,
    user: User | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EvalRun:
    """Evaluate a model or a prediction file on a dataset commit and keep the run as a record.

    Args:
        ws: The workspace.
        dataset: ``NAME@REV`` (a bare NAME is its HEAD commit).
        out: The run folder to create (it must not exist or be empty).
        predictions: A COCO results JSON, or a CSV / Parquet of class probabilities.
        model: A registered model (``NAME`` or ``NAME@VERSION``) or a Python object such as
            `assay.models.CallableClassifier`.
        slices: A slices YAML file or `SliceDef` list.
        settings: Suites, seeds and budgets; defaults: the clean suite only.
        baseline: A run (folder or id) for mean corruption error.
        report: Write ``report.html`` into the run folder.
        rerun_of: Recorded when this run repeats another.
        cluster: A Dask scheduler's address (default ``ASSAY_CLUSTER``): a registered
            model's predictions, clean and corrupted, run on its workers; without one on a
            local process pool. The numbers are the same either way.
        user: Who runs it (the run's actor); they must be cleared for the registered
            model's marking (a model carries its training data's) and the commit's. None is
            the workspace owner.
        progress: Called with (done, total): images through the model over all of the
            run's passes (clean, each corruption and severity, each adversarial budget), a
            unit of whole batches at a time. A prediction file's run tells nothing.

    Returns:
        The stored run.

    Raises:
        InvalidInput: Bad input, named by file and field; nothing is written.
        PermissionDenied: `user` is not cleared for the model or the data (the refusal is
            audited as ``eval.denied``).
    """
    # A prediction file is stored as a blob first and named by the run only at the end.
    with ws.blob_writes():
        settings = settings or RunSettings()
        slice_defs = _slices(slices)
        if user is not None and isinstance(model, str):
            from assay.models.registry import get_model, model_marking

            info = get_model(ws, model)
            cleared(ws, user, f"model {info.ref}", model_marking(ws, info), dataset)
        data = load_dataset(ws, dataset)
        if user is not None:
            cleared(ws, user, f"dataset {dataset}", data.marking, dataset)
        src = _source(ws, predictions, model)
        if "corruptions" in settings.suites and not src.runs_images:
            raise InvalidInput(
                f"{src.file or src.name}: the corruptions suite runs a model on corrupted images; "
                "a prediction file holds fixed outputs (use --model)"
            )
        base = load_run(ws, baseline) if baseline is not None else None
        if base is not None and base.task != src.task:
            raise InvalidInput(
                f"baseline run {base.run_id} is a {base.task} run, this is {src.task}"
            )
        items_df = items_frame(ws, data)
        base_summary = {**base.summary, "run_id": base.run_id} if base is not None else None
        tables: dict[str, pd.DataFrame] = {}
        with _predictor(ws, src, cluster, Steps(progress)) as predictor:
            if src.task == "classification":
                summary, samples = run_classification(
                    data, items_df, src, slice_defs, settings, base_summary, predictor
                )
            else:
                summary, samples, boxes, items_df = run_detection(
                    data, items_df, src, slice_defs, settings, base_summary, predictor
                )
                tables[BOXES] = boxes
        tables[SAMPLES] = samples
        members = items_df.drop(columns=["metadata"]).copy()
        members["metadata"] = [canonical_json(m) for m in items_df["metadata"]]
        for name, mask in slice_masks(items_df, slice_defs, src.task).items():
            members[f"slice:{name}"] = mask
        tables[ITEMS] = members
        record: dict[str, Any] = {
            "format": RECORD_FORMAT,
            "created": now_iso(),
            "actor": user.actor if user is not None else ws.actor,
            "task": src.task,
            "dataset": {
                "name": data.dataset,
                "commit": data.commit_id,
                "spec": dataset,
                "marking": data.marking,
            },
            "model": src.record(),
            "slices": [s.to_dict() for s in slice_defs],
            "settings": settings.to_dict(),
            "transforms": [r["spec"] for r in summary.get("corruptions", {}).get("rows", [])],
            "seeds": {
                "corruptions": settings.seed,
                "bootstrap": settings.seed,
                "attack": settings.seed,
            },
            "metric_versions": METRIC_VERSIONS,
            "libraries": _libraries(),
            "baseline": base.run_id if base is not None else None,
            "rerun_of": rerun_of,
        }
        record = clean_json(record)
        record["run_id"] = hashlib.sha256(canonical_json(record).encode()).hexdigest()[:20]
        summary = clean_json({"run_id": record["run_id"], **summary})
        html = None
        if report:
            from assay.evaluation.runs._report import render_report

            html = render_report(record, summary)
        return write_run(ws, Path(out), record, summary, tables, html)


def cleared(ws: Workspace, user: User, what: str, marking: str, dataset: str) -> None:
    """Refuse (and audit the refusal) when `user`'s clearance is below `marking`."""
    from assay import audit
    from assay.errors import PermissionDenied
    from assay.labeling._db import write

    scheme = ws.scheme
    if scheme.allows(user.clearance, scheme.parse(marking)):
        return
    with write(ws.db) as conn:
        details = {"dataset": dataset, "marking": marking, "clearance": user.clearance_text}
        audit.append(conn, user.actor, "eval.denied", what.replace(" ", ":", 1), details)
    raise PermissionDenied(
        f"user {user.name!r} ({user.clearance_text}) is not cleared to evaluate {what} "
        f"(marked {marking}); refused, and the refusal is in the audit trail"
    )


def numbers(summary: dict[str, Any]) -> str:
    """The summary without its run id: what a rerun must reproduce exactly."""
    return canonical_json({k: v for k, v in summary.items() if k != "run_id"})


def rerun(
    ws: Workspace,
    run: str | Path,
    out: str | Path,
    *,
    model: object | None = None,
    cluster: str | None = None,
    user: User | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[EvalRun, bool]:
    """Run a recorded run again from its record; True when every number is the same.

    The record pins the dataset commit, the model file (by sha256), slices, settings and
    seeds. A Python-callable model is not stored: pass it again as `model`. `progress`: as
    for `run_evaluation`.
    """
    old = load_run(ws, run)
    rec = old.record
    m = rec["model"]
    kwargs: dict[str, Any] = {}
    if m["kind"] == "predictions" and m.get("model_id") is None:
        src = _predict.from_blob(ws, m["sha256"], m["file"])
        kwargs["model"] = src
    elif m["kind"] in ("onnx", "predictions"):
        from assay.models import get_model

        if get_model(ws, m["ref"]).sha256 != m["sha256"]:
            raise InvalidInput(
                f"run {old.run_id}: model {m['ref']} no longer has sha256 {m['sha256']}"
            )
        kwargs["model"] = m["ref"]
    elif model is None:
        raise InvalidInput(
            f"run {old.run_id} used the Python model {m['name']!r}, which is not stored; "
            "rerun it through the API with model=..."
        )
    else:
        kwargs["model"] = model
    new = run_evaluation(
        ws,
        f"{rec['dataset']['name']}@{rec['dataset']['commit']}",
        out,
        slices=[SliceDef(s["name"], s["where"]) for s in rec["slices"]],
        settings=RunSettings.from_dict(rec["settings"]),
        baseline=rec["baseline"],
        rerun_of=old.run_id,
        cluster=cluster,
        user=user,
        progress=progress,
        **kwargs,
    )
    return new, numbers(new.summary) == numbers(old.summary)

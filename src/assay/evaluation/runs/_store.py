"""Run folders and the `eval_runs` table: write atomically, find by folder or id."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import select

from assay import audit
from assay.domain.labels import canonical_json
from assay.errors import Conflict, InvalidInput, NotFound
from assay.store.schema import eval_runs

if TYPE_CHECKING:
    from assay.workspace import Workspace

RECORD = "run.json"
SUMMARY = "summary.json"
SAMPLES = "samples.parquet"
BOXES = "boxes.parquet"
ITEMS = "items.parquet"
REPORT = "report.html"


@dataclass
class EvalRun:
    """A stored run: its folder, its record (run.json) and its summary (summary.json)."""

    path: Path
    record: dict[str, Any]
    summary: dict[str, Any]

    @property
    def run_id(self) -> str:
        return str(self.record["run_id"])

    @property
    def task(self) -> str:
        return str(self.record["task"])

    @property
    def empty_slices(self) -> list[str]:
        """Slices that hold no item: a mistyped query, or a slice this commit has no item of."""
        return [name for name, entry in self.summary["slices"].items() if entry["n"] == 0]

    def samples(self) -> pd.DataFrame:
        """Per-sample results (one row per item and suite pass)."""
        return pd.read_parquet(self.path / SAMPLES)

    def items(self) -> pd.DataFrame:
        """Item attributes and slice membership columns ``slice:<name>``."""
        return pd.read_parquet(self.path / ITEMS)

    def boxes(self) -> pd.DataFrame:
        """Detection runs: ground-truth and detected boxes."""
        return pd.read_parquet(self.path / BOXES)


def _json(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, allow_nan=True) + "\n"


def write_run(
    ws: Workspace,
    out: Path,
    record: dict[str, Any],
    summary: dict[str, Any],
    tables: dict[str, pd.DataFrame],
    report_html: str | None,
) -> EvalRun:
    """Write the folder beside `out` under a temporary name, then rename it and insert the row
    and the audit event in one transaction: a failure leaves neither folder nor row."""
    out = out.resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise Conflict(f"{out}: already exists; give --out a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        (tmp / RECORD).write_text(_json(record))
        (tmp / SUMMARY).write_text(_json(summary))
        for name, frame in tables.items():
            frame.to_parquet(tmp / name, index=False)
        if report_html is not None:
            (tmp / REPORT).write_text(report_html, encoding="utf-8")
        with ws.db.begin() as conn:
            conn.execute(
                eval_runs.insert().values(
                    id=record["run_id"],
                    created=record["created"],
                    actor=record["actor"],
                    dataset=record["dataset"]["name"],
                    commit_id=record["dataset"]["commit"],
                    model_name=record["model"]["name"],
                    model_id=record["model"]["model_id"],
                    model_sha256=record["model"]["sha256"],
                    task=record["task"],
                    path=str(out),
                    record=canonical_json(record),
                    headline=canonical_json(summary["headline"]),
                )
            )
            audit.append(
                conn,
                str(record.get("actor") or ws.actor),
                "eval.run",
                f"dataset:{record['dataset']['name']}",
                {
                    "run": record["run_id"],
                    "commit": record["dataset"]["commit"],
                    "model": record["model"]["ref"] or record["model"]["name"],
                    "model_sha256": record["model"]["sha256"],
                    "suites": record["settings"]["suites"],
                    "out": str(out),
                },
            )
            if out.exists():
                out.rmdir()
            os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return EvalRun(out, record, summary)


def _read(path: Path) -> EvalRun:
    try:
        record = json.loads((path / RECORD).read_text(encoding="utf-8"))
        summary = json.loads((path / SUMMARY).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"{path}: not a readable run folder ({exc})") from None
    except RecursionError:
        raise InvalidInput(f"{path}: not a readable run folder (JSON nested too deep)") from None
    _check_record(path, record, summary)
    return EvalRun(path, record, summary)


def _check_record(path: Path, record: Any, summary: Any) -> None:
    """A run's id is the hash of its record: a record that does not hash to it was edited (or
    is no run of assay's), and nothing after this point would know what to make of it."""
    if not isinstance(record, dict) or not isinstance(record.get("run_id"), str):
        raise InvalidInput(f"{path / RECORD}: not an assay run record")
    body = {k: v for k, v in record.items() if k != "run_id"}
    if hashlib.sha256(canonical_json(body).encode()).hexdigest()[:20] != record["run_id"]:
        raise InvalidInput(
            f"{path / RECORD}: its content does not hash to its run_id {record['run_id']} "
            "(edited after the run?)"
        )
    if (
        not isinstance(summary, dict)
        or summary.get("run_id") != record["run_id"]
        or not isinstance(summary.get("headline"), dict)
        or not isinstance(summary.get("task"), str)
    ):
        raise InvalidInput(f"{path / SUMMARY}: not the summary of run {record['run_id']}")


def load_run(ws: Workspace | None, ref: str | Path) -> EvalRun:
    """A run by folder (holding run.json) or by run id / unique id prefix in the workspace."""
    p = Path(ref)
    if (p / RECORD).is_file():
        return _read(p)
    text = str(ref)
    if ws is None or not text or not all(c in "0123456789abcdef" for c in text):
        raise NotFound(f"{ref}: no run folder (with {RECORD}) and not a run id")
    with ws.db.read() as conn:
        rows = conn.execute(
            select(eval_runs.c.id, eval_runs.c.path).where(eval_runs.c.id.like(text + "%"))
        ).all()
    if not rows:
        raise NotFound(f"{ref}: no run folder and no run with that id in the workspace")
    if len(rows) > 1:
        raise InvalidInput(f"{ref}: matches {len(rows)} runs; give more digits")
    folder = Path(rows[0][1])
    if not (folder / RECORD).is_file():
        raise NotFound(f"run {rows[0][0]}: its folder {folder} is gone")
    return _read(folder)


def list_runs(
    ws: Workspace, *, model: str | None = None, dataset: str | None = None
) -> list[dict[str, Any]]:
    """Every run of the workspace, newest first: which model (`model_ref`, with its version)
    was evaluated on which dataset commit.

    `model` (NAME, any version, or NAME@VERSION) and `dataset` (NAME, or NAME@COMMIT with a
    commit prefix) keep only their runs.

    Raises:
        NotFound: `model` or `dataset` names no registered model or dataset and no run's (a
            known one without runs answers an empty list).
    """
    with ws.db.read() as conn:
        rows = conn.execute(select(eval_runs).order_by(eval_runs.c.created.desc())).all()
    out = []
    for r in rows:
        record = json.loads(r.record)
        out.append(
            {
                "run_id": r.id,
                "created": r.created,
                "dataset": r.dataset,
                "commit": r.commit_id,
                "marking": record["dataset"].get("marking"),
                "model": r.model_name,
                "model_ref": record["model"].get("ref") or r.model_name,
                "task": r.task,
                "path": r.path,
                "headline": json.loads(r.headline),
            }
        )
    ran_on = {r["dataset"] for r in out}
    if model is not None:
        if not any(model in (r["model_ref"], r["model"]) for r in out):
            from assay.models.registry import get_model

            get_model(ws, model)  # NotFound, naming it, for a model nobody registered
        out = [r for r in out if model in (r["model_ref"], r["model"])]
    if dataset is not None:
        name, _, commit = dataset.partition("@")
        if name not in ran_on | {d.name for d in ws.datasets()}:
            raise NotFound(f"no dataset named {name!r}; see `assay dataset list`")
        out = [r for r in out if r["dataset"] == name and r["commit"].startswith(commit)]
    return out

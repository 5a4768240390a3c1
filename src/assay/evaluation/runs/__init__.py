"""Evaluation runs as records: execute suites, slice, compare, gate and report.

A run evaluates one model (a registered ONNX model, a prediction file or a Python object)
on one dataset commit and is kept twice: as a folder (``run.json`` record, ``summary.json``,
per-sample Parquet, ``report.html``) and as a row of the workspace's ``eval_runs`` table,
with an audit event. `rerun` repeats a run from its record and checks the numbers match.
"""

from assay.evaluation.runs._compare import compare_runs
from assay.evaluation.runs._gate import (
    GateFailed,
    GateResult,
    GateRow,
    check_gate_bounds,
    gate,
)
from assay.evaluation.runs._report import render_report
from assay.evaluation.runs._robust import corruption_summary
from assay.evaluation.runs._run import rerun, run_evaluation
from assay.evaluation.runs._settings import METRIC_VERSIONS, SUITES, RunSettings
from assay.evaluation.runs._slices import FIELDS, SliceDef, load_slices, parse_slices, time_of_day
from assay.evaluation.runs._store import EvalRun, list_runs, load_run

__all__ = [
    "FIELDS",
    "METRIC_VERSIONS",
    "SUITES",
    "EvalRun",
    "GateFailed",
    "GateResult",
    "GateRow",
    "RunSettings",
    "SliceDef",
    "check_gate_bounds",
    "compare_runs",
    "corruption_summary",
    "gate",
    "list_runs",
    "load_run",
    "load_slices",
    "parse_slices",
    "render_report",
    "rerun",
    "run_evaluation",
    "time_of_day",
]

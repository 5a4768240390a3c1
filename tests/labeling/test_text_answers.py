"""Answers on text items: a span must lie within the item's text, as a box on its image."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from assay.domain.labels import Region
from assay.domain.schema import LabelSchema
from assay.errors import InvalidInput
from assay.labeling import Workflow, add_user, create_project, next_task, submit
from assay.labeling.history import amend
from assay.workspace import Workspace

SCHEMA = """
controls:
  - {name: place, type: spans, labels: [LOC]}
"""
REPORT = "Water rising near Elm Street bridge; two people on a roof.\n"  # 59 characters


def _span(start: int, end: int) -> Region:
    return Region(kind="span", control="place", label="LOC", span=(start, end))


def test_a_span_past_the_end_of_the_text_is_refused(ws: Workspace, tmp_path: Path) -> None:
    # A span [0, 500) on a 59-character report was stored, became a label of record and went
    # into exports no reader of spans could place.
    (tmp_path / "report.txt").write_text(REPORT, encoding="utf-8")
    ws.ingest([tmp_path / "report.txt"])
    ws.create_dataset("reports")
    ws.add_items("reports")
    schema = LabelSchema.from_yaml_text(SCHEMA, "triage.yaml")
    create_project(ws, "triage", schema, "reports", Workflow())
    ana = add_user(ws, "ana", "annotator", "UNCLASSIFIED", "pw-ana-123456")
    lease = next_task(ws, ana, "triage")
    assert lease is not None and lease.item["text"] == REPORT
    with pytest.raises(
        InvalidInput, match=r"regions\[1\] \(LOC\): span \[18, 500\) reaches past the end of "
        r"the 59-character text"
    ):  # fmt: skip
        submit(ws, ana, lease.task_id, str(uuid.uuid4()), [_span(0, 5), _span(18, 500)])
    submit(ws, ana, lease.task_id, str(uuid.uuid4()), [_span(18, 35), _span(0, 59)])
    with pytest.raises(InvalidInput, match=r"regions\[0\] \(LOC\): span \[50, 60\) reaches past"):
        amend(ws, ana, lease.task_id, str(uuid.uuid4()), [_span(50, 60)])

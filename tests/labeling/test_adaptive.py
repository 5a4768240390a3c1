"""Adaptive overlap in the queue: another label only while the answer is unsure."""

from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

from assay.errors import InvalidInput
from assay.labeling import Workflow, add_user, next_task, submit
from assay.labeling.adaptive import leading_posterior, skill
from assay.quality import one_coin_posterior
from assay.store.schema import tasks
from assay.workspace import Workspace
from labeling_world import PASSWORD, build_world, choice


def _answer(ws: Workspace, user: object, project: str, label: str) -> int:
    lease = next_task(ws, user, project)  # type: ignore[arg-type]
    assert lease is not None
    submit(ws, user, lease.task_id, uuid.uuid4().hex, [choice(label)], lead_time=2.0)  # type: ignore[arg-type]
    return lease.task_id


def _targets(ws: Workspace) -> dict[int, int | None]:
    with ws.db.read() as conn:
        return dict(conn.execute(select(tasks.c.id, tasks.c.target)).all())  # type: ignore[arg-type]


def test_agreeing_answers_stop_early_and_disagreement_asks_for_more(
    ws: Workspace, tmp_path: Path
) -> None:
    wf = Workflow(overlap=4, adaptive=0.9, adaptive_min=1)
    w = build_world(ws, tmp_path / "data", public=1, cui=0, secret=0, workflow=wf)
    users = [add_user(ws, f"a{i}", "annotator", "UNCLASSIFIED", PASSWORD) for i in range(5)]
    assert set(_targets(ws).values()) == {1}

    # One answer from a default-skill annotator (0.7, three labels) is not sure enough.
    task = _answer(ws, users[0], w.project, "minor")
    assert _targets(ws)[task] == 2
    # A second, agreeing answer: posterior 0.49 / (0.49 + 2 * 0.15**2) = 0.916 >= 0.9 -> stop.
    assert _answer(ws, users[1], w.project, "minor") == task
    assert _targets(ws)[task] == 2
    assert next_task(ws, users[2], w.project) is None


def test_disagreement_grows_the_target_up_to_the_overlap(ws: Workspace, tmp_path: Path) -> None:
    wf = Workflow(overlap=3, adaptive=0.95, adaptive_min=1)
    w = build_world(ws, tmp_path / "data", public=1, cui=0, secret=0, workflow=wf)
    users = [add_user(ws, f"b{i}", "annotator", "UNCLASSIFIED", PASSWORD) for i in range(4)]
    task = _answer(ws, users[0], w.project, "minor")
    _answer(ws, users[1], w.project, "destroyed")
    assert _targets(ws)[task] == 3
    _answer(ws, users[2], w.project, "none")
    # The overlap caps it: three labels and no more, however unsure.
    assert _targets(ws)[task] == 3
    assert next_task(ws, users[3], w.project) is None


def test_the_posterior_is_quality_s_one_coin_model() -> None:
    labels = ["none", "minor", "destroyed"]
    answers = ["minor", "minor", "none"]
    skills = [0.9, 0.6, 0.75]
    frame = pd.DataFrame({"task": ["t"] * 3, "worker": ["a", "b", "c"], "label": answers})
    expected = one_coin_posterior(
        frame, labels, skills=pd.Series(skills, index=["a", "b", "c"])
    ).max(axis=1)["t"]
    assert leading_posterior(answers, skills, labels) == pytest.approx(expected, abs=1e-12)


def test_gold_accuracy_is_smoothed_toward_the_default() -> None:
    assert skill(0, 0.0) == pytest.approx(0.7)
    assert skill(8, 8.0) == pytest.approx((8 + 1.4) / 10)
    assert skill(2, 0.0) == pytest.approx(1.4 / 4)


def test_adaptive_needs_a_choices_control(ws: Workspace, tmp_path: Path) -> None:
    from assay.domain.schema import LabelSchema
    from assay.labeling import create_project

    build_world(ws, tmp_path / "data", public=1, cui=0, secret=0)
    boxes_only = LabelSchema.from_yaml_text(
        "controls:\n  - {name: label, type: boxes, labels: [building]}\n", "s.yaml"
    )
    with pytest.raises(InvalidInput, match="choices control"):
        create_project(ws, "boxes", boxes_only, "flood", Workflow(overlap=3, adaptive=0.9))

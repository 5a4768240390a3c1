"""Pre-labeling: a model's answers stored for correction, least confident first, markings kept,
and the dashboard's accepted / edited / deleted figures per model version."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from assay.domain.labels import Region, payload_from_json, payload_to_json
from assay.errors import InvalidInput, NotFound, PermissionDenied
from assay.labeling import dashboard, next_task, submit
from assay.labeling.prelabel import prelabel
from assay.labeling.prelabel_stats import compare
from assay.models import CallableClassifier, add_model
from assay.store.schema import annotations_table as ann_t
from assay.workspace import Workspace
from blob_stacks import stacks
from evaluation.runs.runs_world import onnx_classifier, onnx_detector
from labeling_world import World, box, build_world

# Run on both blob stacks: local folder and S3 (SeaweedFS).
blob_stack = stacks()

DAMAGE = ["none", "minor", "destroyed"]


def _world(ws: Workspace, tmp_path: Path) -> World:
    return build_world(ws, tmp_path / "data")


def _by_pixel(x: np.ndarray) -> np.ndarray:
    """A classifier whose confidence grows with the red value of pixel (0, 0)."""
    red = x[:, 0, 0, 0].astype(np.float64)  # the world's scenes differ there (i % 256)
    top = 0.4 + 0.5 * (red / red.max() if red.max() > 0 else red)
    rest = (1 - top) / 2
    return np.stack([rest, top, rest], axis=1)


def _detector(tmp_path: Path, name: str = "det.onnx") -> Path:
    # Boxes in the 32x32 model input; the world's scenes are 48x32, so x and w scale by 1.5.
    return onnx_detector(
        tmp_path / name,
        [(2, 2, 10, 10), (20, 4, 8, 8), (1, 1, 3, 3)],
        [0.9, 0.6, 0.1],
        [0, 1, 0],
        ["building", "vehicle"],
    )


def test_a_classifier_prelabels_open_tasks_least_confident_first(
    ws: Workspace, tmp_path: Path
) -> None:
    w = _world(ws, tmp_path)
    clf = CallableClassifier(_by_pixel, DAMAGE, name="rule")
    seen: list[tuple[int, int]] = []
    report = prelabel(
        ws, "survey", model=clf, name="rule@1", batch_size=3,
        progress=lambda done, total: seen.append((done, total)),
    )  # fmt: skip
    assert seen == [(0, 8), (3, 8), (6, 8), (8, 8)]  # told a batch at a time
    assert report.labelled == report.open_tasks == 8 and report.control == "damage"
    assert report.batches == 3 and report.regions == 8
    with ws.db.read() as conn:
        rows = conn.execute(select(ann_t).where(ann_t.c.kind == "model")).all()
    assert {r.author for r in rows} == {"model:rule@1"} and len(rows) == 8
    # Encoded where the model ran, without a Region: the canonical text all the same.
    assert all(r.payload == payload_to_json(payload_from_json(r.payload)) for r in rows)
    # A second run of the same version stores nothing new (--redo labels again).
    again = prelabel(ws, "survey", model=clf, name="rule@1")
    assert again.labelled == 0 and again.already == 8
    ana = w.users["ana"]  # CUI/FLOOD: sees the public and cui items
    scores = []
    while (lease := next_task(ws, ana, "survey")) is not None:
        (pre,) = lease.prelabels
        assert pre["control"] == "damage" and pre["label"] == "minor"
        scores.append(pre["score"])
        submit(ws, ana, lease.task_id, str(uuid.uuid4()), [])
    assert len(scores) == 8 and scores == sorted(scores) and scores[0] < scores[-1]


def test_an_onnx_detector_stores_scaled_boxes_and_counts_what_it_leaves_out(
    ws: Workspace, tmp_path: Path
) -> None:
    _world(ws, tmp_path)
    add_model(ws, "det", _detector(tmp_path))
    seen: list[tuple[int, int]] = []
    report = prelabel(
        ws, "survey", "det", min_score=0.5, batch_size=2, workers=2,
        progress=lambda done, total: seen.append((done, total)),
    )  # fmt: skip
    # Told as each unit of work comes back from the pool: rising to every item.
    dones = [d for d, _ in seen]
    assert {t for _, t in seen} == {8} and dones == sorted(dones)
    assert dones[0] == 0 and dones[-1] == 8 and len(dones) > 2
    assert (report.model, report.task, report.control) == ("det@1", "detection", "label")
    assert report.labelled == 8 and report.regions == 16 and report.below_min_score == 8
    with ws.db.read() as conn:
        payload = conn.execute(select(ann_t.c.payload).where(ann_t.c.kind == "model")).scalar()
    assert payload == payload_to_json(payload_from_json(payload))
    boxes = json.loads(payload)
    assert [(b["label"], b["box"], b["score"]) for b in boxes] == [
        ("building", [3.0, 2.0, 15.0, 10.0], pytest.approx(0.9)),
        ("vehicle", [30.0, 4.0, 12.0, 8.0], pytest.approx(0.6)),
    ]


def test_a_model_failing_midway_writes_nothing(ws: Workspace, tmp_path: Path) -> None:
    _world(ws, tmp_path)
    calls: list[int] = []

    def fails_second(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        if len(calls) == 2:
            raise RuntimeError("the model's server went away")
        return _by_pixel(x)

    clf = CallableClassifier(fails_second, DAMAGE, name="flaky")
    with pytest.raises(RuntimeError, match="went away"):
        prelabel(ws, "survey", model=clf, name="flaky@1", batch_size=3)
    assert calls == [3, 3]  # the first batch was labelled, and is not stored
    with ws.db.read() as conn:
        assert conn.execute(select(ann_t.c.id).where(ann_t.c.kind == "model")).all() == []


def test_a_models_marking_is_enforced(ws: Workspace, tmp_path: Path) -> None:
    w = _world(ws, tmp_path)
    secret = add_model(ws, "det", _detector(tmp_path), marking="SECRET/SAR")
    assert secret.details["marking"] == "SECRET/SAR"
    with pytest.raises(PermissionDenied, match=r"'man' \(CUI/FLOOD\) is not cleared for model"):
        prelabel(ws, "survey", "det", user=w.users["man"])
    with pytest.raises(PermissionDenied, match="manager role"):
        prelabel(ws, "survey", "det", user=w.users["ana"])
    # The SECRET model never writes onto items marked below it; the SECRET project it may.
    r = prelabel(ws, "survey", "det", user=w.users["root"])
    assert (r.labelled, r.below_model_marking) == (0, 8)
    assert prelabel(ws, "sar-ops", "det", user=w.users["root"]).labelled == 1
    # An UNCLASSIFIED model run by a CUI/FLOOD manager: the SECRET project stays unknown.
    add_model(ws, "det-open", _detector(tmp_path, "det2.onnx"), classes=["building", "vehicle"])
    r2 = prelabel(ws, "survey", "det-open", user=w.users["man"])
    assert (r2.labelled, r2.not_visible, r2.model_marking) == (8, 0, "UNCLASSIFIED")
    with pytest.raises(NotFound, match="no project"):
        prelabel(ws, "sar-ops", "det-open", user=w.users["man"])
    with pytest.raises(InvalidInput, match="below its training data"):
        ws.create_dataset("secrets")
        ws.add_items("secrets", "marking=SECRET/SAR")
        ws.commit("secrets", "secret scenes")
        add_model(
            ws,
            "leaky",
            _detector(tmp_path, "det3.onnx"),
            trained_on="secrets",
            marking="UNCLASSIFIED",
        )


def test_a_model_sharing_no_label_with_the_schema_is_one_error(
    ws: Workspace, tmp_path: Path
) -> None:
    _world(ws, tmp_path)
    weights = np.zeros((3, 2), np.float32)
    add_model(ws, "wrong", onnx_classifier(tmp_path / "c.onnx", weights, ["cat", "dog"]))
    with pytest.raises(InvalidInput, match=r"share no label with control 'damage'"):
        prelabel(ws, "survey", "wrong")
    with ws.db.read() as conn:
        assert conn.execute(select(ann_t.c.id).where(ann_t.c.kind == "model")).first() is None


def test_compare_counts_accepted_edited_deleted_and_added() -> None:
    a = Region(id="p1", kind="box", control="label", label="building", box=(0, 0, 10, 10))
    b = Region(id="p2", kind="box", control="label", label="vehicle", box=(20, 0, 10, 10))
    c = Region(id="p3", kind="box", control="label", label="building", box=(40, 0, 10, 10))
    moved = b.model_copy(update={"box": (22, 0, 10, 10)})
    relabelled = Region(kind="box", control="label", label="vehicle", box=(1, 0, 10, 10))
    new = Region(kind="box", control="label", label="building", box=(80, 0, 5, 5))
    assert compare([a, b, c], [a, moved, new]) == {
        "accepted": 1,
        "edited": 1,
        "deleted": 1,
        "added": 1,
    }
    # Without the pre-label's id, an overlapping box of the same control is an edit.
    assert compare([a], [relabelled])["edited"] == 1


def test_the_dashboard_shows_what_annotators_did_with_each_model_version(
    ws: Workspace, tmp_path: Path
) -> None:
    w = _world(ws, tmp_path)
    add_model(ws, "det", _detector(tmp_path))
    prelabel(ws, "survey", "det")
    ana = w.users["ana"]
    outcomes = []
    for i in range(3):
        lease = next_task(ws, ana, "survey")
        assert lease is not None and len(lease.prelabels) == 2
        # What the UI sends back: the pre-labels without author and score, ids kept.
        shown = [
            Region.model_validate({k: v for k, v in r.items() if k not in ("author", "score")})
            for r in lease.prelabels
        ]
        if i == 0:
            answer = shown  # accepted unchanged
        elif i == 1:
            answer = [shown[0], shown[1].model_copy(update={"box": (31.0, 5.0, 12.0, 8.0)})]
        else:
            answer = []  # both deleted
        outcomes.append(submit(ws, ana, lease.task_id, str(uuid.uuid4()), answer))
    (row,) = dashboard(ws, w.users["man"], "survey")["prelabels"]
    assert row == {
        "model": "det@1",
        "prelabelled": row["prelabelled"],
        "tasks": 3,
        "unchanged": 1,
        "regions": 6,
        "accepted": 3,
        "edited": 1,
        "deleted": 2,
        "added": 0,
        "accepted_share": 0.5,
    }


def test_cli_prelabel_reports_json_and_one_error_line(
    ws: Workspace, tmp_path: Path, cli: object
) -> None:
    _world(ws, tmp_path)
    add_model(ws, "det", _detector(tmp_path), marking="SECRET/SAR")
    run = cli  # the in-process `assay` entry point
    out = run("-w", ws.root, "prelabel", "survey", "--model", "det@1", "--json")  # type: ignore[operator]
    doc = json.loads(out.stdout)
    assert doc["labelled"] == 0 and doc["below_model_marking"] == 8
    secret = run("-w", ws.root, "prelabel", "sar-ops", "--model", "det", "--json")  # type: ignore[operator]
    assert json.loads(secret.stdout)["labelled"] == 1
    text = run("-w", ws.root, "prelabel", "survey", "--model", "det", "--redo")  # type: ignore[operator]
    assert "not stored: 8 marked below the model (SECRET/SAR)" in text.stdout
    # Need-to-know: a user below the model's marking is told it does not exist, in the words
    # a model that does not exist gets for the same user.
    bad = run("-w", ws.root, "prelabel", "survey", "--model", "det", "--as", "man", code=1)  # type: ignore[operator]
    missing = run("-w", ws.root, "prelabel", "survey", "--model", "nope", "--as", "man", code=1)  # type: ignore[operator]
    assert "no model 'nope'" in missing.stderr
    assert bad.stderr == missing.stderr.replace("nope", "det")


def test_prelabel_names_an_unknown_project_before_the_model(
    ws: Workspace, tmp_path: Path, cli: Any
) -> None:
    """An unknown project was reported as the model's kind (a prediction file cannot
    pre-label), or as the model's missing --prompt: the project is checked first."""
    _world(ws, tmp_path)
    preds = tmp_path / "preds.json"
    preds.write_text("[]")
    add_model(ws, "preds", preds)
    for model in ("preds", "nope"):
        res = cli("-w", ws.root, "prelabel", "nosuch", "--model", model, code=1)
        assert "no project" in res.stderr and "nosuch" in res.stderr
    with pytest.raises(NotFound, match="no project"):
        prelabel(ws, "nosuch", "preds")


def test_project_status_prints_the_prelabel_table(
    ws: Workspace, tmp_path: Path, cli: object
) -> None:
    w = _world(ws, tmp_path)
    add_model(ws, "det", _detector(tmp_path))
    prelabel(ws, "survey", "det")
    lease = next_task(ws, w.users["ana"], "survey")
    assert lease is not None
    submit(ws, w.users["ana"], lease.task_id, str(uuid.uuid4()), [])
    out = cli("-w", ws.root, "project", "status", "survey")  # type: ignore[operator]
    assert "det@1" in out.stdout and "deleted" in out.stdout
    doc = json.loads(cli("-w", ws.root, "project", "status", "survey", "--json").stdout)  # type: ignore[operator]
    assert doc["prelabels"][0]["deleted"] == 2


def test_project_status_reports_prelabels_before_any_task_is_answered(
    ws: Workspace, tmp_path: Path, cli: Any
) -> None:
    """`assay project status` had no pre-label entry until an annotator answered a task that
    started from one: a freshly pre-labelled project looked as if no model had run on it."""
    _world(ws, tmp_path)
    add_model(ws, "det", _detector(tmp_path))
    report = prelabel(ws, "survey", "det")
    assert report.labelled > 0
    doc = cli("-w", ws.root, "project", "status", "survey", "--json").json()
    assert doc["prelabels"] == [
        {
            "model": "det@1",
            "prelabelled": report.labelled,
            "tasks": 0,
            "unchanged": 0,
            "regions": 0,
            "accepted": 0,
            "edited": 0,
            "deleted": 0,
            "added": 0,
            "accepted_share": None,
        }
    ]
    out = cli("-w", ws.root, "project", "status", "survey").stdout
    assert "det@1" in out and "pre-labelled" in out
    # A newer version re-labels the tasks: they now show its pre-labels, not the old ones'.
    newer = onnx_detector(
        tmp_path / "det2.onnx", [(2, 2, 10, 10)], [0.8], [1], ["building", "vehicle"]
    )
    assert add_model(ws, "det", newer).ref == "det@2"
    prelabel(ws, "survey", "det@2", redo=True)
    rows = cli("-w", ws.root, "project", "status", "survey", "--json").json()["prelabels"]
    assert [(r["model"], r["prelabelled"]) for r in rows] == [("det@2", report.labelled)]


def test_a_detectors_boxes_past_the_image_are_cut_to_it_and_submit_as_they_are(
    ws: Workspace, tmp_path: Path
) -> None:
    """Answers must lie on the image; a detector's box reaching past it is cut to it, so an
    annotator can submit the pre-label untouched; one wholly outside is an empty box."""
    w = _world(ws, tmp_path)
    det = onnx_detector(
        tmp_path / "wide.onnx",
        [(-4, 20, 10, 16), (28, -2, 8, 6), (40, 40, 4, 4)],  # 32x32 input; scenes are 48x32
        [0.9, 0.8, 0.7],
        [0, 1, 0],
        ["building", "vehicle"],
    )
    add_model(ws, "wide", det)
    report = prelabel(ws, "survey", "wide")
    assert report.labelled == 8 and report.regions == 16 and report.empty_boxes == 8
    root = w.users["root"]
    lease = next_task(ws, root, "survey")
    assert lease is not None
    assert [(p["label"], list(p["box"])) for p in lease.prelabels] == [
        ("building", [0.0, 20.0, 9.0, 12.0]),
        ("vehicle", [42.0, 0.0, 6.0, 4.0]),
    ]
    regions = [Region.model_validate(p) for p in lease.prelabels]
    off = box(40, 20, 20, 8)  # reaches x=60 on a 48-pixel-wide scene
    with pytest.raises(InvalidInput, match=r"regions\[2\] \(building\): \(60, 28\) lies outside "
                       r"the 48x32 image \(tolerance 1 px\)"):  # fmt: skip
        submit(ws, root, lease.task_id, str(uuid.uuid4()), [*regions, off])
    submit(ws, root, lease.task_id, str(uuid.uuid4()), regions)  # the pre-labels as they are


def test_a_second_project_over_the_same_items_gets_its_own_pre_labels(
    ws: Workspace, tmp_path: Path
) -> None:
    """Pre-labels are made for one project: another over the same items neither shows them
    nor is ordered by them, and the same model version pre-labels it anew."""
    from assay.domain.schema import LabelSchema
    from assay.labeling import create_project
    from assay.store.schema import projects, tasks
    from labeling_world import SCHEMA_YAML

    w = _world(ws, tmp_path)
    clf = CallableClassifier(_by_pixel, DAMAGE, name="rule")
    assert prelabel(ws, "survey", model=clf, name="rule@1").labelled == 8
    create_project(ws, "recheck", LabelSchema.from_yaml_text(SCHEMA_YAML), "flood")
    with ws.db.read() as conn:
        priorities = conn.execute(
            select(tasks.c.priority)
            .join(projects, projects.c.id == tasks.c.project_id)
            .where(projects.c.name == "recheck")
        ).scalars()
        assert set(priorities) == {1.0}  # survey's scores do not order recheck's queue
    lease = next_task(ws, w.users["ana"], "recheck")
    assert lease is not None and (lease.prelabels, lease.prelabel_source) == ([], None)
    report = prelabel(ws, "recheck", model=clf, name="rule@1")
    assert (report.labelled, report.already) == (8, 0)
    lease = next_task(ws, w.users["ana"], "recheck")  # the lease held, now pre-labelled
    assert lease is not None and [r["label"] for r in lease.prelabels] == ["minor"]
